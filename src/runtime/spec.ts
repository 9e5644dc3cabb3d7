import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalid } from '../errors.js';
import type { CgroupLayout } from './cgroups.js';
import type { Resources, ContainerSpec, Mount } from './runtime.js';
import { seccompProfile, type SeccompProfile } from './seccomp.js';
import type { ExecUser } from './user.js';

/**
 * Generation of the OCI runtime `config.json` from a `ContainerSpec`, following what Docker
 * (moby's `oci.DefaultSpec` + `daemon/oci_linux.go`) puts there. `buildOciConfig` is pure: the
 * facts it needs about the host (its own rlimits, the capabilities the kernel knows, the cgroup
 * mode) come in as `HostInfo`, read once by `readHostInfo`.
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
  devices: Array<{ path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number }>;
  resources: OciResources;
  cgroupsPath: string;
  sysctl?: Record<string, string>;
  seccomp?: SeccompProfile;
}

export interface OciResources {
  devices: Array<{ allow: boolean; type?: 'a' | 'c' | 'b'; major?: number; minor?: number; access?: string }>;
  memory?: { limit?: number; reservation?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string };
  pids?: { limit: number };
  blockIO?: { weight: number };
}

// ---- host facts ----

export interface HostInfo {
  /** Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  lastCap: number;
  /** The daemon's own hard limits by Docker ulimit name (`nofile`...); Infinity: unlimited. */
  hardLimits: Record<string, number>;
  cgroupMode: CgroupLayout['mode'];
  /** memory.memsw.* (v1) / memory.swap.max (v2) exist: a swap limit can be set. */
  swapAccounting: boolean;
  /** blkio.weight (v1) / io.weight (v2) exists. */
  blkioWeight: boolean;
}

/** Read the host facts `buildOciConfig` needs. */
export function readHostInfo(layout: CgroupLayout): HostInfo {
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  const hardLimits = parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
  let swapAccounting: boolean;
  let blkioWeight: boolean;
  if (layout.mode === 'v2') {
    // The root has no memory.swap.max; a child does when the memory controller is enabled.
    swapAccounting = layout.controllers.includes('memory');
    blkioWeight = layout.controllers.includes('io');
  } else {
    swapAccounting = existsFile(join(layout.root, 'memory', 'memory.memsw.limit_in_bytes'));
    blkioWeight = existsFile(join(layout.root, 'blkio', 'blkio.weight'));
  }
  return { lastCap, hardLimits, cgroupMode: layout.mode, swapAccounting, blkioWeight };
}

function existsFile(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'cpu',
  'Max file size': 'fsize',
  'Max data size': 'data',
  'Max stack size': 'stack',
  'Max core file size': 'core',
  'Max resident set': 'rss',
  'Max processes': 'nproc',
  'Max open files': 'nofile',
  'Max locked memory': 'memlock',
  'Max address space': 'as',
  'Max file locks': 'locks',
  'Max pending signals': 'sigpending',
  'Max msgqueue size': 'msgqueue',
  'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio',
  'Max realtime timeout': 'rttime',
};

/** Hard limits from the text of /proc/<pid>/limits, by Docker ulimit name. */
export function parseProcLimits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = LIMIT_NAMES[m[1]!];
    if (name === undefined) continue;
    out[name] = m[3] === 'unlimited' ? Infinity : Number(m[3]);
  }
  return out;
}

// ---- defaults (moby oci/defaults.go, oci/caps) ----

/** Capability names by number (linux/capability.h). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capability set, in Docker's order. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

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
const DEFAULT_DEVICE_RULES: OciResources['devices'] = [
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
  /** Apply pier's default seccomp profile (seccomp.ts) when the spec asks for `default`. */
  seccomp: boolean;
}

/**
 * Build `config.json` for `spec`. Throws `invalid` for what Docker also refuses here (unknown
 * capability or ulimit name). `warnings` lists what was dropped because the host lacks it
 * (swap limit, blkio weight), as Docker warns.
 */
export function buildOciConfig(spec: ContainerSpec, opts: BuildOptions): { config: OciConfig; warnings: string[] } {
  const warnings: string[] = [];
  const { user, host } = opts;
  const privileged = spec.privileged;

  const caps = capabilities(spec, host.lastCap);
  const args = spec.init ? [INIT_DESTINATION, '--', ...spec.args] : [...spec.args];

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
      maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
      devices: DEFAULT_DEVICES.map(([path, major, minor]) => ({ path, type: 'c' as const, major, minor, fileMode: 0o666, uid: 0, gid: 0 })),
      resources: resources(spec, host, warnings),
      cgroupsPath: opts.cgroupsPath,
    },
  };
  if (spec.domainname) config.domainname = spec.domainname;
  if (spec.annotations && Object.keys(spec.annotations).length > 0) config.annotations = { ...spec.annotations };
  if (Object.keys(spec.sysctls).length > 0) config.linux.sysctl = { ...spec.sysctls };
  if (!privileged && spec.seccomp === 'default' && opts.seccomp) config.linux.seccomp = seccompProfile(caps);
  return { config, warnings };
}

/**
 * The process of an exec in a container configured by `config`: the container's capabilities
 * (all the kernel knows when privileged), rlimits and no-new-privileges, the exec's user, env
 * (PATH and HOME defaulted as for the container) and cwd (empty: the container's).
 */
export function buildExecProcess(
  config: OciConfig,
  proc: { args: string[]; env: string[]; cwd: string; tty: boolean; privileged?: boolean },
  user: ExecUser,
  lastCap: number,
): OciProcess {
  const caps = proc.privileged ? ALL_CAPABILITIES.slice(0, lastCap + 1) : config.process.capabilities.bounding;
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
    capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    noNewPrivileges: config.process.noNewPrivileges,
  };
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

/** Normalize `net_admin` / `CAP_NET_ADMIN` / `all`; throws `invalid` for unknown names. */
function normalizeCaps(names: string[]): { caps: string[]; all: boolean } {
  const caps: string[] = [];
  let all = false;
  for (const raw of names) {
    const up = raw.trim().toUpperCase();
    if (up === 'ALL' || up === 'CAP_ALL') {
      all = true;
      continue;
    }
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!ALL_CAPABILITIES.includes(name)) throw invalid(`unknown capability: "${name}"`);
    if (!caps.includes(name)) caps.push(name);
  }
  return { caps, all };
}

/** Docker's TweakCapabilities: privileged → all; ALL in add → all but drops; ALL in drop → only adds. */
function capabilities(spec: ContainerSpec, lastCap: number): string[] {
  const known = ALL_CAPABILITIES.slice(0, lastCap + 1);
  if (spec.privileged) return known;
  const add = normalizeCaps(spec.capAdd);
  const drop = normalizeCaps(spec.capDrop);
  let caps: string[];
  if (add.all) caps = known.filter((c) => !drop.caps.includes(c));
  else if (drop.all) caps = add.caps;
  else {
    caps = DEFAULT_CAPABILITIES.filter((c) => !drop.caps.includes(c));
    for (const c of add.caps) if (!caps.includes(c)) caps.push(c);
  }
  return caps.filter((c) => known.includes(c));
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
  return ns;
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
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
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

function resources(spec: ContainerSpec, host: HostInfo, warnings: string[]): OciResources {
  return {
    devices: spec.privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((d) => ({ ...d })),
    ...resourceLimits(spec.resources, host, warnings),
  };
}

/** The OCI limits (memory, cpu, pids, block I/O) for `r`, as `config.json` and `<runtime> update` take them. */
export function resourceLimits(r: Resources, host: HostInfo, warnings: string[]): Omit<OciResources, 'devices'> {
  const out: Omit<OciResources, 'devices'> = {};
  const memory: NonNullable<OciResources['memory']> = {};
  if (r.memory !== undefined && r.memory > 0) memory.limit = r.memory;
  if (r.memoryReservation !== undefined && r.memoryReservation > 0) memory.reservation = r.memoryReservation;
  if (r.memorySwap !== undefined && r.memorySwap !== 0) {
    if (host.swapAccounting) memory.swap = r.memorySwap;
    else warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
  }
  if (Object.keys(memory).length > 0) out.memory = memory;

  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.nanoCpus !== undefined && r.nanoCpus > 0) {
    cpu.period = 100000;
    cpu.quota = Math.round((r.nanoCpus * 100000) / 1e9);
  } else {
    if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
    if (r.cpuQuota !== undefined && r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  }
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  if (r.blkioWeight !== undefined && r.blkioWeight > 0) {
    if (host.blkioWeight) out.blockIO = { weight: r.blkioWeight };
    else warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
  }
  return out;
}
