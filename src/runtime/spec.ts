import { randomBytes } from 'node:crypto';
import { invalid } from '../errors.js';
import { resolveCapabilities, type CapabilitySets } from './capabilities.js';
import type { OciDevice, OciDeviceRule } from './devices.js';
import { resourceLimits, type OciResources, type Throttles } from './resources.js';
import type { HostInfo } from './host-info.js';
import type { ContainerSpec, Mount } from './runtime.js';
import { convertDockerProfile, defaultSeccompProfile, resolveSeccomp, type SeccompProfile } from './seccomp.js';
import type { ExecUser } from './user.js';

export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from './capabilities.js';
export { resourceLimits, type OciResources } from './resources.js';

/**
 * Generation of the OCI runtime `config.json` from a `ContainerSpec`, following what Docker
 * (moby's `oci.DefaultSpec` + `daemon/oci_linux.go`) puts there. `buildOciConfig` is pure: the
 * facts it needs about the host (its own rlimits and capabilities, the cgroup mode) come in as
 * `HostInfo`, read once by `readHostInfo`; the host devices a container gets come resolved by
 * the caller (devices.ts).
 */

// ---- OCI runtime spec types (the subset pier writes) ----

export interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: Mount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

export interface OciProcess {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
  rlimits?: OciRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
}

/** `hard`/`soft` are numbers or RLIM_INFINITY (serialized as the uint64 max by `serializeOciConfig`). */
export interface OciRlimit {
  type: string;
  hard: number | typeof RLIM_INFINITY;
  soft: number | typeof RLIM_INFINITY;
}

export const RLIM_INFINITY = 'RLIM_INFINITY';

export interface OciLinux {
  namespaces: Array<{ type: string; path?: string }>;
  maskedPaths: string[];
  readonlyPaths: string[];
  devices: OciDevice[];
  resources: OciResources;
  cgroupsPath: string;
  sysctl?: Record<string, string>;
  seccomp?: SeccompProfile;
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

// ---- defaults (moby oci/defaults.go) ----

export const DEFAULT_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * Set in a container's own network namespace, as Docker does: ICMP echo sockets and ports
 * below 1024 without CAP_NET_RAW / CAP_NET_BIND_SERVICE (the default set grants both anyway).
 */
const NETWORK_SYSCTLS: Record<string, string> = {
  'net.ipv4.ping_group_range': '0 2147483647',
  'net.ipv4.ip_unprivileged_port_start': '0',
};

/**
 * The network sysctls of a container with a network namespace of its own. In a user
 * namespace, ping_group_range names groups the namespace does not map (the kernel refuses
 * the write): Docker leaves it out there, and so does pier. (A namespace joined by path is
 * written by the caller: see `netSysctls` of buildOciConfig.)
 */
function networkSysctls(spec: ContainerSpec): Record<string, string> {
  if (!spec.userns) return NETWORK_SYSCTLS;
  const { 'net.ipv4.ping_group_range': _ping, ...rest } = NETWORK_SYSCTLS;
  return rest;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Where the init binary appears inside the container, as Docker's `--init`. */
export const INIT_DESTINATION = '/sbin/docker-init';

/** Device nodes every container gets (created by the runtime in the /dev tmpfs). */
const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['/dev/null', 1, 3],
  ['/dev/zero', 1, 5],
  ['/dev/full', 1, 7],
  ['/dev/random', 1, 8],
  ['/dev/urandom', 1, 9],
  ['/dev/tty', 5, 0],
];

/**
 * Device cgroup rules: deny everything, then allow mknod of any device and use of the standard
 * ones (runc's default list). An absent major or minor is a wildcard.
 */
const DEFAULT_DEVICE_RULES: OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

export interface BuildOptions {
  user: ExecUser;
  host: HostInfo;
  /** The container's cgroup, `/pier/<id>` style (cgroupfs driver). */
  cgroupsPath: string;
  /** Host path of the static init bound at /sbin/docker-init when `spec.init`. */
  initPath: string;
  /** Apply a seccomp profile (off: every container runs unconfined). */
  seccomp: boolean;
  /**
   * The host devices the container gets, resolved by the caller (devices.ts): its `--device`
   * nodes with their cgroup rules, and its `--device-cgroup-rule`s; for a privileged container,
   * every device of the host's /dev.
   */
  devices?: { devices: OciDevice[]; rules: OciDeviceRule[] };
  /** Block device limits by device numbers, resolved by the caller. */
  throttles?: Throttles;
}

/**
 * Build `config.json` for `spec`. Throws `invalid` for what Docker also refuses here (unknown
 * capability or ulimit name, a seccomp profile that is none). `warnings` lists what was dropped
 * because the host lacks it (swap limit, blkio weight), as Docker warns.
 */
export function buildOciConfig(spec: ContainerSpec, opts: BuildOptions): { config: OciConfig; warnings: string[]; netSysctls?: Record<string, string> } {
  const warnings: string[] = [];
  const { user, host } = opts;
  const privileged = spec.privileged;

  const caps = resolveCapabilities(spec, host.caps);
  const args = spec.init ? [INIT_DESTINATION, '--', ...spec.args] : [...spec.args];
  const devices = DEFAULT_DEVICES.map(([path, major, minor]): OciDevice => ({ path, type: 'c', major, minor, fileMode: 0o666, uid: 0, gid: 0 }));
  for (const d of opts.devices?.devices ?? []) {
    const i = devices.findIndex((x) => x.path === d.path);
    if (i >= 0) devices[i] = d;
    else devices.push(d);
  }

  const config: OciConfig = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: spec.tty,
      ...(spec.tty && spec.consoleSize ? { consoleSize: spec.consoleSize } : {}),
      user: user.additionalGids.length > 0 ? { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } : { uid: user.uid, gid: user.gid },
      args,
      env: environment(spec, user),
      cwd: spec.cwd === '' ? '/' : spec.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(spec.ulimits, host.hardLimits),
      noNewPrivileges: spec.noNewPrivileges,
    },
    root: { path: spec.rootfs, readonly: spec.readonlyRootfs },
    hostname: spec.hostname,
    mounts: mounts(spec, opts.initPath),
    linux: {
      namespaces: namespaces(spec, host),
      maskedPaths: privileged ? [] : (spec.maskedPaths ?? [...DEFAULT_MASKED_PATHS, ...host.extraMaskedPaths]),
      readonlyPaths: privileged ? [] : (spec.readonlyPaths ?? [...DEFAULT_READONLY_PATHS]),
      devices,
      resources: {
        devices: privileged ? [{ allow: true, access: 'rwm' }] : [...DEFAULT_DEVICE_RULES.map((d) => ({ ...d })), ...(opts.devices?.rules ?? [])],
        ...resourceLimits(spec.resources, host, warnings, opts.throttles),
      },
      cgroupsPath: opts.cgroupsPath,
    },
  };
  if (spec.oomScoreAdj !== undefined && spec.oomScoreAdj !== 0) config.process.oomScoreAdj = spec.oomScoreAdj;
  if (spec.apparmorProfile && !privileged && host.apparmor) config.process.apparmorProfile = spec.apparmorProfile;
  if (spec.domainname) config.domainname = spec.domainname;
  if (spec.annotations && Object.keys(spec.annotations).length > 0) config.annotations = { ...spec.annotations };
  if (spec.userns) {
    config.linux.uidMappings = [{ containerID: 0, hostID: spec.userns.uid, size: spec.userns.size }];
    config.linux.gidMappings = [{ containerID: 0, hostID: spec.userns.gid, size: spec.userns.size }];
  }
  const sysctl = { ...(spec.network.netns.kind === 'host' ? {} : networkSysctls(spec)), ...spec.sysctls };
  // A container in a user namespace cannot change a network namespace it joins by path (made
  // in the host's user namespace): its net.* sysctls are the caller's to write.
  let netSysctls: Record<string, string> | undefined;
  let own = sysctl;
  if (spec.userns && spec.network.netns.kind === 'path') {
    const entries = Object.entries(sysctl);
    netSysctls = { ...NETWORK_SYSCTLS, ...Object.fromEntries(entries.filter(([name]) => name.startsWith('net.'))) };
    own = Object.fromEntries(entries.filter(([name]) => !name.startsWith('net.')));
  }
  if (Object.keys(own).length > 0) config.linux.sysctl = own;
  const seccomp = opts.seccomp ? seccompOf(spec, caps, host) : undefined;
  if (seccomp) config.linux.seccomp = seccomp;
  return { config, warnings, netSysctls };
}

/**
 * The container's seccomp profile, as moby's WithSeccomp: none when unconfined; a profile the
 * client sent applies even to a privileged container; the default applies to the others,
 * resolved against the container's capabilities.
 */
function seccompOf(spec: ContainerSpec, caps: string[], host: HostInfo): SeccompProfile | undefined {
  if (spec.seccomp === 'unconfined') return undefined;
  if (typeof spec.seccomp === 'object') return resolveSeccomp(convertDockerProfile(spec.seccomp.profile), caps, host.seccomp);
  if (spec.privileged) return undefined;
  return defaultSeccompProfile(caps, host.seccomp);
}

/**
 * The process of an exec in a container configured by `config`: the container's capabilities
 * (all the daemon holds when privileged), rlimits, no-new-privileges and AppArmor profile, the
 * exec's user, env (PATH and HOME defaulted as for the container) and cwd (empty: the
 * container's).
 */
export function buildExecProcess(
  config: OciConfig,
  proc: { args: string[]; env: string[]; cwd: string; tty: boolean; privileged?: boolean },
  user: ExecUser,
  caps: CapabilitySets,
): OciProcess {
  const set = proc.privileged ? caps.known.filter((c) => caps.held.includes(c)) : config.process.capabilities.bounding;
  const env = [...proc.env];
  const has = (name: string) => env.some((e) => e === name || e.startsWith(`${name}=`));
  if (!has('PATH')) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (proc.tty && !has('TERM')) env.push('TERM=xterm');
  if (!has('HOME')) env.push(`HOME=${user.home}`);
  const out: OciProcess = {
    terminal: proc.tty,
    user: user.additionalGids.length > 0 ? { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } : { uid: user.uid, gid: user.gid },
    args: [...proc.args],
    env,
    cwd: proc.cwd === '' ? config.process.cwd : proc.cwd,
    capabilities: { bounding: [...set], effective: [...set], permitted: [...set] },
    noNewPrivileges: config.process.noNewPrivileges,
  };
  if (config.process.apparmorProfile) out.apparmorProfile = config.process.apparmorProfile;
  if (config.process.rlimits) out.rlimits = config.process.rlimits.map((r) => ({ ...r }));
  return out;
}

/** JSON text of `config` (or of a process), with RLIM_INFINITY written as the uint64 the runtime expects. */
export function serializeOciConfig(config: OciConfig | OciProcess): string {
  // A token no string in the config can hold by chance marks the places of the bare number.
  const token = `pier-rlim-infinity-${randomBytes(8).toString('hex')}`;
  const text = JSON.stringify(config, (key, value: unknown) =>
    (key === 'hard' || key === 'soft') && value === RLIM_INFINITY ? token : value,
  );
  return text.replaceAll(`"${token}"`, '18446744073709551615');
}

/** Parse a `config.json` written by `serializeOciConfig` (uint64-max rlimits become RLIM_INFINITY). */
export function parseOciConfig(text: string): OciConfig {
  return JSON.parse(text, (key, value: unknown) =>
    (key === 'hard' || key === 'soft') && typeof value === 'number' && value >= 2 ** 63 ? RLIM_INFINITY : value,
  ) as OciConfig;
}

function environment(spec: ContainerSpec, user: ExecUser): string[] {
  const env = [...spec.env];
  const has = (name: string) => env.some((e) => e === name || e.startsWith(`${name}=`));
  const defaults: string[] = [];
  if (!has('PATH')) defaults.push(`PATH=${DEFAULT_PATH}`);
  if (!has('HOSTNAME') && spec.hostname) defaults.push(`HOSTNAME=${spec.hostname}`);
  if (spec.tty && !has('TERM')) defaults.push('TERM=xterm');
  if (!has('HOME')) env.push(`HOME=${user.home}`);
  return [...defaults, ...env];
}

const ULIMIT_NAMES = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as'];

/**
 * The requested ulimits, each clamped to the daemon's own hard limit (raising a hard limit
 * needs CAP_SYS_RESOURCE, which the daemon may lack). Nothing requested: RLIMIT_NOFILE at
 * min(1048576, own hard), what a container gets under Docker.
 */
function rlimits(ulimits: ContainerSpec['ulimits'], hard: Record<string, number>): OciRlimit[] {
  const value = (n: number): number | typeof RLIM_INFINITY => (n === Infinity ? RLIM_INFINITY : n);
  if (ulimits.length === 0) {
    const n = Math.min(1048576, hard.nofile ?? 1048576);
    return [{ type: 'RLIMIT_NOFILE', hard: n, soft: n }];
  }
  const out: OciRlimit[] = [];
  for (const u of ulimits) {
    const name = u.Name.toLowerCase();
    if (!ULIMIT_NAMES.includes(name)) throw invalid(`invalid ulimit type: ${u.Name}`);
    const own = hard[name] ?? Infinity;
    const req = (n: number) => (n < 0 ? Infinity : n);
    const h = Math.min(req(u.Hard), own);
    const s = Math.min(req(u.Soft), h);
    const type = `RLIMIT_${name.toUpperCase()}`;
    const entry = { type, hard: value(h), soft: value(s) };
    const i = out.findIndex((r) => r.type === type);
    if (i >= 0) out[i] = entry;
    else out.push(entry);
  }
  return out;
}

function namespaces(spec: ContainerSpec, host: HostInfo): OciLinux['namespaces'] {
  const ns: OciLinux['namespaces'] = [{ type: 'mount' }];
  if (spec.pidMode !== 'host') ns.push({ type: 'pid' });
  if (spec.ipcMode !== 'host') ns.push({ type: 'ipc' });
  ns.push({ type: 'uts' });
  const net = spec.network.netns;
  if (net.kind === 'new') ns.push({ type: 'network' });
  else if (net.kind === 'path') ns.push({ type: 'network', path: net.path });
  // Docker's default cgroupns mode: private on cgroup v2, host on v1.
  if (host.cgroupMode === 'v2') ns.push({ type: 'cgroup' });
  if (spec.userns) ns.push({ type: 'user' });
  return ns;
}

/**
 * /sys. A sysfs mount needs privilege over the container's network namespace: a container in
 * a user namespace of its own that joins a namespace made in the host's (pier's bridge
 * networks) gets the host's /sys bound read-only instead, as rootless runtimes give it (crun
 * falls back to that itself, runc fails). Its files are the host root's, nobody's inside.
 */
function sysfsMount(spec: ContainerSpec, ro: string[]): Mount {
  if (spec.userns && spec.network.netns.kind === 'path') {
    return { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
  }
  return { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] };
}

function mounts(spec: ContainerSpec, initPath: string): Mount[] {
  const ro = spec.privileged ? [] : ['ro'];
  const shm: Mount =
    spec.ipcMode === 'host'
      ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] }
      : {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${spec.shmSize > 0 ? spec.shmSize : DEFAULT_SHM_SIZE}`],
        };
  const defaults: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    sysfsMount(spec, ro),
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...ro, 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    shm,
  ];
  const net = spec.network;
  const files: Array<[string | undefined, string]> = [
    [net.resolvConfPath, '/etc/resolv.conf'],
    [net.hostnamePath, '/etc/hostname'],
    [net.hostsPath, '/etc/hosts'],
  ];
  for (const [source, destination] of files) {
    if (source) defaults.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  }
  if (spec.init) defaults.push({ destination: INIT_DESTINATION, type: 'bind', source: initPath, options: ['bind', 'ro'] });

  // A user mount at a default destination replaces it (as Docker's -v /x:/dev/shm); user
  // mounts go parents first.
  const clean = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  const userDest = new Set(spec.mounts.map((m) => clean(m.destination)));
  const depth = (p: string) => clean(p).split('/').length;
  const user = spec.mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map(({ m }) => ({ ...m, options: m.options ? [...m.options] : [] }));
  return [...defaults.filter((m) => !userDest.has(m.destination)), ...user];
}
