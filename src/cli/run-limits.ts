import type { HostConfigBody } from '../client/types.js';
import { ParseError, parseInteger, ramInBytes } from './human.js';

/**
 * The limit and security flags of `run`/`create` (docker/cli `opts.go`: parseDevice,
 * ValidateSysctl, ParseUlimit, ValidateThrottleBpsDevice, parseSecurityOpts) → HostConfig
 * fields, with the docker CLI's messages. Pure: a seccomp profile file is read through
 * `readFile`.
 */

export interface LimitFlags {
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  blkioWeight?: string;
  deviceReadBps?: string[];
  deviceWriteBps?: string[];
  deviceReadIops?: string[];
  deviceWriteIops?: string[];
  kernelMemory?: string;
  memorySwappiness?: string;
  oomKillDisable?: boolean;
  oomScoreAdj?: string;
  ulimit?: string[];
  sysctl?: string[];
  device?: string[];
  deviceCgroupRule?: string[];
  securityOpt?: string[];
}

const flagError = (value: string, flag: string, why: string) => new ParseError(`invalid argument "${value}" for "${flag}" flag: ${why}`);

const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** `nofile=1024[:2048]` (go-units ParseUlimit). */
export function parseUlimit(spec: string): { Name: string; Soft: number; Hard: number } {
  const eq = spec.indexOf('=');
  if (eq < 0) throw flagError(spec, '--ulimit', `invalid ulimit argument: ${spec}`);
  const name = spec.slice(0, eq);
  if (!ULIMITS.includes(name)) throw flagError(spec, '--ulimit', `invalid ulimit type: ${name}`);
  const [soft, hard, extra] = spec.slice(eq + 1).split(':');
  const num = (s: string | undefined) => {
    if (s === undefined || !/^-?\d+$/.test(s)) throw flagError(spec, '--ulimit', `invalid ulimit argument: ${spec}`);
    return Number(s);
  };
  if (extra !== undefined) throw flagError(spec, '--ulimit', `too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const s = num(soft);
  const h = hard === undefined ? s : num(hard);
  if (s > h && h !== -1) throw flagError(spec, '--ulimit', `ulimit soft limit must be less than or equal to hard limit: ${s} > ${h}`);
  return { Name: name, Soft: s, Hard: h };
}

/** `/dev/x[:/dev/y][:rwm]`, as the docker CLI's parseLinuxDevice and validateDevice. */
export function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = spec.split(':');
  const mode = (s: string) => /^[rwm]{1,3}$/.test(s) && new Set(s).size === s.length;
  if (parts.length > 3) throw flagError(spec, '--device', `invalid device specification: ${spec}`);
  const src = parts[0]!;
  let dst = '';
  let permissions = 'rwm';
  if (parts.length >= 2) {
    if (parts.length === 2 && mode(parts[1]!)) permissions = parts[1]!;
    else dst = parts[1]!;
  }
  if (parts.length === 3) permissions = parts[2]!;
  if (!mode(permissions)) throw flagError(spec, '--device', `bad mode specified: ${permissions}`);
  for (const p of [src, dst]) if (p !== '' && !p.startsWith('/')) throw flagError(spec, '--device', `bad format for path: ${p}`);
  if (dst === '') dst = src;
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: permissions };
}

/** `--device-read-bps /dev/sda:1mb` (sizes) and `--device-read-iops /dev/sda:100` (counts). */
export function parseThrottle(spec: string, flag: string, unit: 'bytes' | 'count'): { Path: string; Rate: number } {
  const colon = spec.lastIndexOf(':');
  if (colon < 0) throw flagError(spec, flag, `bad format: ${spec}`);
  const path = spec.slice(0, colon);
  if (!path.startsWith('/')) throw flagError(spec, flag, `bad format for device path: ${spec}`);
  const text = spec.slice(colon + 1);
  let rate: number;
  try {
    rate = unit === 'bytes' ? ramInBytes(text) : /^\d+$/.test(text) ? Number(text) : NaN;
  } catch {
    rate = NaN;
  }
  if (!Number.isFinite(rate) || rate < 0) {
    const format = unit === 'bytes' ? '<device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb' : '<device-path>:<number>. Number must be a positive integer';
    throw flagError(spec, flag, `invalid rate for device: ${spec}. The correct format is ${format}`);
  }
  return { Path: path, Rate: rate };
}

const SYSCTLS = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];

/** The docker CLI's ValidateSysctl: the namespaced sysctls only. */
export function parseSysctl(spec: string): [string, string] {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? spec : spec.slice(0, eq);
  if (eq < 0 || !(SYSCTLS.includes(name) || name.startsWith('net.') || name.startsWith('fs.mqueue.'))) {
    throw flagError(spec, '--sysctl', `sysctl '${spec}' is not allowed`);
  }
  return [name, spec.slice(eq + 1)];
}

/**
 * `--security-opt` as the docker CLI sends it: a seccomp profile file is read and sent as its
 * compacted JSON; `systempaths=unconfined` becomes empty MaskedPaths and ReadonlyPaths.
 */
export function securityOpts(opts: string[], readFile: (path: string) => string): { SecurityOpt: string[]; MaskedPaths?: string[]; ReadonlyPaths?: string[] } {
  const out: string[] = [];
  let unconfinedPaths = false;
  for (const opt of opts) {
    if (opt === 'systempaths=unconfined') {
      unconfinedPaths = true;
      continue;
    }
    let [key, value] = splitOnce(opt, '=');
    if (value === undefined && key !== 'no-new-privileges') [key, value] = splitOnce(opt, ':');
    if ((value === undefined || value === '') && key !== 'no-new-privileges') throw new ParseError(`invalid --security-opt: ${JSON.stringify(opt)}`);
    if (key === 'seccomp' && value !== 'unconfined' && value !== 'builtin') {
      let text: string;
      try {
        text = readFile(value!);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new ParseError(`opening seccomp profile (${value!}) failed: open ${value!}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new ParseError(`compacting json for seccomp profile (${value!}) failed: ${(err as Error).message}`);
      }
      out.push(`seccomp=${JSON.stringify(parsed)}`);
      continue;
    }
    out.push(opt);
  }
  return unconfinedPaths ? { SecurityOpt: out, MaskedPaths: [], ReadonlyPaths: [] } : { SecurityOpt: out };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** The HostConfig fields of the limit and security flags that are set. */
export function limitHostConfig(flags: LimitFlags, readFile: (path: string) => string): HostConfigBody {
  const host: HostConfigBody = {};
  const int = (v: string | undefined, flag: string) => (v === undefined ? undefined : parseInteger(v, flag));
  const size = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    try {
      return ramInBytes(v);
    } catch (err) {
      throw flagError(v, flag, (err as Error).message);
    }
  };
  const set = <K extends keyof HostConfigBody>(key: K, v: HostConfigBody[K] | undefined) => {
    if (v !== undefined) host[key] = v;
  };
  set('CpuPeriod', int(flags.cpuPeriod, '--cpu-period'));
  set('CpuQuota', int(flags.cpuQuota, '--cpu-quota'));
  set('CpusetCpus', flags.cpusetCpus);
  set('CpusetMems', flags.cpusetMems);
  set('BlkioWeight', int(flags.blkioWeight, '--blkio-weight'));
  set('KernelMemory', size(flags.kernelMemory, '--kernel-memory'));
  set('MemorySwappiness', int(flags.memorySwappiness, '--memory-swappiness'));
  if (flags.oomKillDisable) host.OomKillDisable = true;
  set('OomScoreAdj', int(flags.oomScoreAdj, '--oom-score-adj'));
  const throttles = [
    ['BlkioDeviceReadBps', flags.deviceReadBps, '--device-read-bps', 'bytes'],
    ['BlkioDeviceWriteBps', flags.deviceWriteBps, '--device-write-bps', 'bytes'],
    ['BlkioDeviceReadIOps', flags.deviceReadIops, '--device-read-iops', 'count'],
    ['BlkioDeviceWriteIOps', flags.deviceWriteIops, '--device-write-iops', 'count'],
  ] as const;
  for (const [key, list, flag, unit] of throttles) if (list?.length) host[key] = list.map((s) => parseThrottle(s, flag, unit));
  if (flags.ulimit?.length) host.Ulimits = flags.ulimit.map(parseUlimit);
  if (flags.sysctl?.length) host.Sysctls = Object.fromEntries(flags.sysctl.map(parseSysctl));
  if (flags.device?.length) host.Devices = flags.device.map(parseDevice);
  if (flags.deviceCgroupRule?.length) host.DeviceCgroupRules = flags.deviceCgroupRule;
  if (flags.securityOpt?.length) Object.assign(host, securityOpts(flags.securityOpt, readFile));
  return host;
}
