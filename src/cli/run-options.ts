import type { ContainerCreateBody, HostConfigBody, PortBinding } from '../client/types.js';
import { expandEnv, parseEnvFile } from './env-file.js';
import { ParseError, parseInteger, parseNanoCpus, ramInBytes } from './human.js';
import { parseMountFlag } from './mount-flag.js';
import { limitHostConfig, type LimitFlags } from './run-limits.js';

/**
 * `docker run` / `docker create` flags → the body of `POST /containers/create`, as Docker's
 * CLI builds it (docker/cli `cli/command/container/opts.go`). Pure: the environment, files
 * and working directory come in through RunContext. The body carries only what the flags
 * set, plus the fields whose absence would mean something else (attach flags, TTY, stdin,
 * network mode, restart policy, auto-remove); the daemon fills in Docker's zero values.
 */

/** The flags as commander parses them (camel-cased long names). Repeatable flags are arrays. */
export interface RunFlags extends LimitFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  label?: string[];
  labelFile?: string[];
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  shmSize?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  network?: string[];
  networkAlias?: string[];
  ip?: string;
  ip6?: string;
  macAddress?: string;
  restart?: string;
  init?: boolean;
  hostname?: string;
  domainname?: string;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  readOnly?: boolean;
  stopSignal?: string;
  stopTimeout?: string;
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  volume?: string[];
  mount?: string[];
  volumesFrom?: string[];
  volumeDriver?: string;
  tmpfs?: string[];
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  securityOpt?: string[];
  groupAdd?: string[];
  logDriver?: string;
  logOpt?: string[];
  attach?: string[];
  sigProxy?: boolean;
  healthcheck?: boolean;
  platform?: string;
  pull?: string;
  detachKeys?: string;
}

export interface RunContext {
  /** The caller's environment, for `-e KEY` and bare `KEY` lines of env files. */
  lookupEnv: (key: string) => string | undefined;
  /** Read an env or label file as text. */
  readFile: (path: string) => string;
  /** Relative bind-mount sources (`./data:/data`) resolve against it. */
  cwd: string;
  /** The terminal's `[rows, columns]`, sent as ConsoleSize with `-t`. */
  consoleSize?: [number, number];
}

const STREAMS = ['stdin', 'stdout', 'stderr'];

/** Which streams `run`/`create` attach: `-a` as given, else stdout and stderr; `-i` adds stdin; `-d` none. */
export function attachedStreams(flags: RunFlags): { stdin: boolean; stdout: boolean; stderr: boolean } {
  const attach = (flags.attach ?? []).map((s) => s.toLowerCase());
  for (const s of attach) {
    if (!STREAMS.includes(s)) throw new ParseError(`invalid argument "${s}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  }
  if (flags.detach) return { stdin: false, stdout: false, stderr: false };
  const none = attach.length === 0;
  return { stdin: attach.includes('stdin') || !!flags.interactive, stdout: none || attach.includes('stdout'), stderr: none || attach.includes('stderr') };
}

/** Docker's restart policy flag: `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestartPolicy(policy: string): { Name: string; MaximumRetryCount: number } {
  if (policy === '') return { Name: 'no', MaximumRetryCount: 0 };
  const colon = policy.indexOf(':');
  const name = colon >= 0 ? policy.slice(0, colon) : policy;
  const count = colon >= 0 ? policy.slice(colon + 1) : '';
  if (colon >= 0 && name === '') throw new ParseError('invalid restart policy format: no policy provided before colon');
  // pier names a bad policy before anything is created; Docker leaves that to the daemon.
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) {
    throw new ParseError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  let max = 0;
  if (count !== '') {
    if (!/^-?\d+$/.test(count)) throw new ParseError('invalid restart policy format: maximum retry count must be an integer');
    max = Number(count);
    if (name !== 'on-failure') throw new ParseError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
    if (max < 0) throw new ParseError('invalid restart policy: maximum retry count cannot be negative');
  }
  return { Name: name, MaximumRetryCount: max };
}

function parsePortNumber(text: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new ParseError(`invalid ${what}: ${text}`);
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start < 0 || end > 65535 || end < start || (what === 'containerPort' && start === 0)) throw new ParseError(`invalid ${what}: ${text}`);
  return [start, end];
}

/**
 * `-p [ip:][hostPort:]containerPort[/proto]` with port ranges and `[v6]` addresses →
 * ExposedPorts keys and PortBindings, as Docker's nat.ParsePortSpec.
 */
export function parsePublish(spec: string): { port: string; binding: PortBinding }[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new ParseError(`invalid proto: ${proto}`);
  }
  let ip = '';
  let hostPort = '';
  let containerPort: string;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1]!;
    const parts = v6[2]!.split(':');
    if (parts.length !== 2) throw new ParseError(`invalid port format: ${spec}`);
    [hostPort, containerPort] = parts as [string, string];
  } else {
    const parts = rest.split(':');
    if (parts.length === 1) containerPort = parts[0]!;
    else if (parts.length === 2) [hostPort, containerPort] = parts as [string, string];
    else if (parts.length === 3) [ip, hostPort, containerPort] = parts as [string, string, string];
    else {
      // an IPv6 address without brackets: everything before the last two parts
      containerPort = parts.pop()!;
      hostPort = parts.pop()!;
      ip = parts.join(':');
    }
  }
  const [cStart, cEnd] = parsePortNumber(containerPort, 'containerPort');
  let hStart = 0;
  let hEnd = 0;
  if (hostPort !== '') [hStart, hEnd] = parsePortNumber(hostPort, 'hostPort');
  const count = cEnd - cStart + 1;
  if (hostPort !== '' && hEnd - hStart + 1 !== count && count !== 1) {
    throw new ParseError(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
  }
  const out: { port: string; binding: PortBinding }[] = [];
  for (let i = 0; i < count; i++) {
    let hp = '';
    if (hostPort !== '') hp = count === 1 ? (hStart === hEnd ? String(hStart) : `${hStart}-${hEnd}`) : String(hStart + i);
    out.push({ port: `${cStart + i}/${proto}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

function normalizeCaps(caps: string[]): string[] {
  return caps.map((c) => {
    const up = c.toUpperCase();
    return up === 'ALL' || up.startsWith('CAP_') ? up : `CAP_${up}`;
  });
}

function flagValue<T>(value: string | undefined, flag: string, parse: (s: string) => T): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (err) {
    throw new ParseError(`invalid argument "${value}" for "${flag}" flag: ${(err as Error).message}`);
  }
}

function keyValueMap(entries: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq >= 0) map[e.slice(0, eq)] = e.slice(eq + 1);
    else map[e] = '';
  }
  return map;
}

/** Build the create body for `run`/`create IMAGE [COMMAND] [ARG...]`; invalid flags throw ParseError. */
export function runOptionsToCreateBody(image: string, args: string[], flags: RunFlags, ctx: RunContext): ContainerCreateBody {
  const restart = parseRestartPolicy(flags.restart ?? 'no');
  if (flags.rm && restart.Name !== 'no') throw new ParseError('conflicting options: cannot specify both --restart and --rm');
  if (flags.detach && (flags.attach ?? []).length > 0) throw new ParseError('conflicting options: cannot specify both --attach and --detach');
  const streams = attachedStreams(flags);

  const env = [
    ...(flags.envFile ?? []).flatMap((f) => {
      try {
        return parseEnvFile(ctx.readFile(f), f, ctx.lookupEnv);
      } catch (err) {
        throw new ParseError(`invalid env file (${f}): ${(err as Error).message}`);
      }
    }),
    ...(flags.env ?? []).map((e) => expandEnv(e, ctx.lookupEnv)),
  ];
  const labelEntries = [
    ...(flags.labelFile ?? []).flatMap((f) => {
      try {
        return parseEnvFile(ctx.readFile(f), f, () => undefined);
      } catch (err) {
        throw new ParseError(`invalid label file (${f}): ${(err as Error).message}`);
      }
    }),
    ...(flags.label ?? []),
  ];

  const body: ContainerCreateBody = {
    AttachStdin: streams.stdin,
    AttachStdout: streams.stdout,
    AttachStderr: streams.stderr,
    Tty: !!flags.tty,
    OpenStdin: !!flags.interactive,
    StdinOnce: streams.stdin && !!flags.interactive,
    Image: image,
  };
  if (args.length > 0) body.Cmd = args;
  if (env.length > 0) body.Env = env;
  if (flags.hostname) body.Hostname = flags.hostname;
  if (flags.domainname) body.Domainname = flags.domainname;
  if (flags.user) body.User = flags.user;
  if (flags.workdir) body.WorkingDir = flags.workdir;
  if (flags.entrypoint !== undefined) body.Entrypoint = [flags.entrypoint];
  if (labelEntries.length > 0) body.Labels = keyValueMap(labelEntries);
  if (flags.stopSignal) body.StopSignal = flags.stopSignal;
  const stopTimeout = flagValue(flags.stopTimeout, '--stop-timeout', (s) => parseInteger(s, '--stop-timeout'));
  if (stopTimeout !== undefined) body.StopTimeout = stopTimeout;
  if (flags.healthcheck === false) body.Healthcheck = { Test: ['NONE'] };

  const host: HostConfigBody = {
    NetworkMode: flags.network?.[0] ?? 'default',
    RestartPolicy: restart,
    AutoRemove: !!flags.rm,
  };

  // ports
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const spec of flags.publish ?? []) {
    for (const { port, binding } of flagValue(spec, '-p, --publish', parsePublish)!) {
      exposed[port] = {};
      (bindings[port] ??= []).push(binding);
    }
  }
  for (const spec of flags.expose ?? []) {
    const [p, proto = 'tcp'] = spec.split('/') as [string, string?];
    const [start, end] = flagValue(p, '--expose', (s) => parsePortNumber(s, 'containerPort'))!;
    for (let port = start; port <= end; port++) exposed[`${port}/${proto}`] = {};
  }
  if (Object.keys(exposed).length > 0) body.ExposedPorts = exposed;
  if (Object.keys(bindings).length > 0) host.PortBindings = bindings;
  if (flags.publishAll) host.PublishAllPorts = true;

  // volumes: `-v /data` is an anonymous volume; `src:dst[:mode]` a bind or named volume
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const spec of flags.volume ?? []) {
    const colon = spec.indexOf(':');
    if (colon < 0) {
      volumes[spec] = {};
      continue;
    }
    let src = spec.slice(0, colon);
    if (src.startsWith('.')) src = ctx.cwd.replace(/\/+$/, '') + '/' + src;
    binds.push(`${normalizePath(src)}${spec.slice(colon)}`);
  }
  if (binds.length > 0) host.Binds = binds;
  if (Object.keys(volumes).length > 0) body.Volumes = volumes;
  if (flags.mount?.length) host.Mounts = flags.mount.map((m) => flagValue(m, '--mount', parseMountFlag)!);
  if (flags.volumesFrom?.length) host.VolumesFrom = flags.volumesFrom;
  if (flags.volumeDriver) host.VolumeDriver = flags.volumeDriver;
  if (flags.tmpfs?.length) {
    host.Tmpfs = Object.fromEntries(
      flags.tmpfs.map((t) => {
        const colon = t.indexOf(':');
        return colon >= 0 ? [t.slice(0, colon), t.slice(colon + 1)] : [t, ''];
      }),
    );
  }

  // resources
  const memory = flagValue(flags.memory, '-m, --memory', ramInBytes);
  if (memory !== undefined) host.Memory = memory;
  const reservation = flagValue(flags.memoryReservation, '--memory-reservation', ramInBytes);
  if (reservation !== undefined) host.MemoryReservation = reservation;
  if (flags.memorySwap !== undefined) host.MemorySwap = flags.memorySwap === '-1' ? -1 : flagValue(flags.memorySwap, '--memory-swap', ramInBytes)!;
  const shm = flagValue(flags.shmSize, '--shm-size', ramInBytes);
  if (shm !== undefined) host.ShmSize = shm;
  const nano = flagValue(flags.cpus, '--cpus', parseNanoCpus);
  if (nano !== undefined) host.NanoCpus = nano;
  const shares = flagValue(flags.cpuShares, '-c, --cpu-shares', (s) => parseInteger(s, '-c, --cpu-shares'));
  if (shares !== undefined) host.CpuShares = shares;
  const pids = flagValue(flags.pidsLimit, '--pids-limit', (s) => parseInteger(s, '--pids-limit'));
  if (pids !== undefined) host.PidsLimit = pids;

  // security and process
  if (flags.privileged) host.Privileged = true;
  if (flags.readOnly) host.ReadonlyRootfs = true;
  if (flags.capAdd?.length) host.CapAdd = normalizeCaps(flags.capAdd);
  if (flags.capDrop?.length) host.CapDrop = normalizeCaps(flags.capDrop);
  Object.assign(host, limitHostConfig(flags, ctx.readFile));
  if (flags.groupAdd?.length) host.GroupAdd = flags.groupAdd;
  if (flags.init !== undefined) host.Init = flags.init;
  if (flags.tty && ctx.consoleSize) host.ConsoleSize = ctx.consoleSize;

  // name resolution and logging
  if (flags.addHost?.length) host.ExtraHosts = flags.addHost.map((h) => (h.includes('=') && !h.includes(':') ? h.replace('=', ':') : h.replace(/^([^=:]+)=/, '$1:')));
  if (flags.dns?.length) host.Dns = flags.dns;
  if (flags.dnsSearch?.length) host.DnsSearch = flags.dnsSearch;
  if (flags.dnsOption?.length) host.DnsOptions = flags.dnsOption;
  if (flags.logDriver || flags.logOpt?.length) host.LogConfig = { Type: flags.logDriver ?? '', Config: keyValueMap(flags.logOpt ?? []) };

  body.HostConfig = host;

  // networks: the first network's endpoint takes the aliases, --ip, --ip6 and --mac-address;
  // a network with none of them needs no endpoint, unless it is not the first
  const endpoints: Record<string, { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string }; MacAddress?: string }> = {};
  const networks = flags.network?.length ? flags.network : ['default'];
  networks.forEach((n, i) => {
    const builtin = ['default', 'bridge', 'host', 'none'].includes(n) || n.startsWith('container:');
    const ep: (typeof endpoints)[string] = {};
    if (i === 0 && flags.networkAlias?.length) {
      if (builtin) throw new ParseError('network-scoped aliases are only supported for user-defined networks');
      ep.Aliases = flags.networkAlias;
    }
    if (i === 0 && (flags.ip || flags.ip6)) {
      ep.IPAMConfig = {};
      if (flags.ip) ep.IPAMConfig.IPv4Address = flags.ip;
      if (flags.ip6) ep.IPAMConfig.IPv6Address = flags.ip6;
    }
    if (i === 0 && flags.macAddress) ep.MacAddress = flags.macAddress;
    if (Object.keys(ep).length > 0 || i > 0) endpoints[n] = ep;
  });
  if (Object.keys(endpoints).length > 0) body.NetworkingConfig = { EndpointsConfig: endpoints };
  return body;
}

/** Clean `a/./b/../c` as Go's filepath.Clean does for absolute paths. */
function normalizePath(p: string): string {
  if (!p.startsWith('/')) return p;
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}
