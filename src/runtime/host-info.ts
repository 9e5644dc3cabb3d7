import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { capabilitySets, type CapabilitySets } from './capabilities.js';
import type { CgroupLayout } from './cgroups.js';
import { seccompHost, type SeccompHost } from './seccomp.js';

/**
 * The host's facts a container's config depends on (Docker's sysinfo): the capabilities and
 * hard limits the daemon holds, the cgroup controllers and files there are, the CPUs, AppArmor,
 * the seccomp architecture. Read once, at the runtime's start; never written.
 */
/** What the host offers containers (Docker's sysinfo), read once by `readHostInfo`. */
export interface HostInfo {
  /** The capabilities the kernel knows and those the daemon holds. */
  caps: CapabilitySets;
  /** The daemon's own hard limits by Docker ulimit name (`nofile`...); Infinity: unlimited. */
  hardLimits: Record<string, number>;
  cgroupMode: CgroupLayout['mode'];
  /** memory.memsw.* (v1) / memory.swap.max (v2) exist: a swap limit can be set. */
  swapAccounting: boolean;
  /** blkio.weight (v1) / io.weight (v2) exists. */
  blkioWeight: boolean;
  /** blkio.throttle.* (v1) / io.max (v2) exist. */
  blkioThrottle: boolean;
  /** The CPUs the daemon may run on (Docker's NCPU for `--cpus`). */
  cpus: number;
  /** The CPUs and memory nodes containers' cpusets may take (`0-1`). */
  cpusetCpus: string;
  cpusetMems: string;
  /** AppArmor is enabled on the host. */
  apparmor: boolean;
  /** The architecture and kernel seccomp profiles are resolved for. */
  seccomp: SeccompHost;
  /** Masked on top of Docker's list: each CPU's thermal_throttle folder the host has (moby does so). */
  extraMaskedPaths: string[];
}

/** Read the host facts `buildOciConfig` and create-time checks need. */
export function readHostInfo(layout: CgroupLayout): HostInfo {
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  const caps = capabilitySets(lastCap, readFileSync('/proc/self/status', 'utf8'));
  const hardLimits = parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
  let swapAccounting: boolean;
  let blkioWeight: boolean;
  let blkioThrottle: boolean;
  let cpusetCpus: string | undefined;
  let cpusetMems: string | undefined;
  if (layout.mode === 'v2') {
    // The root has no memory.swap.max; a child does when the memory controller is enabled.
    swapAccounting = layout.controllers.includes('memory');
    blkioWeight = layout.controllers.includes('io');
    blkioThrottle = blkioWeight;
    cpusetCpus = readTrimmed(join(layout.root, 'cpuset.cpus.effective'));
    cpusetMems = readTrimmed(join(layout.root, 'cpuset.mems.effective'));
  } else {
    swapAccounting = existsSync(join(layout.root, 'memory', 'memory.memsw.limit_in_bytes'));
    blkioWeight = existsSync(join(layout.root, 'blkio', 'blkio.weight'));
    blkioThrottle = existsSync(join(layout.root, 'blkio', 'blkio.throttle.read_bps_device'));
    cpusetCpus = readTrimmed(join(layout.root, 'cpuset', 'cpuset.effective_cpus')) ?? readTrimmed(join(layout.root, 'cpuset', 'cpuset.cpus'));
    cpusetMems = readTrimmed(join(layout.root, 'cpuset', 'cpuset.effective_mems')) ?? readTrimmed(join(layout.root, 'cpuset', 'cpuset.mems'));
  }
  const cpus = availableParallelism();
  const online = readTrimmed('/sys/devices/system/cpu/online') ?? `0-${cpus - 1}`;
  const extraMaskedPaths: string[] = [];
  for (const n of cpuList(readTrimmed('/sys/devices/system/cpu/possible') ?? online)) {
    const path = `/sys/devices/system/cpu/cpu${n}/thermal_throttle`;
    if (existsSync(path)) extraMaskedPaths.push(path);
  }
  return {
    caps,
    hardLimits,
    cgroupMode: layout.mode,
    swapAccounting,
    blkioWeight,
    blkioThrottle,
    cpus,
    cpusetCpus: cpusetCpus || online,
    cpusetMems: cpusetMems || readTrimmed('/sys/devices/system/node/online') || '0',
    apparmor: readTrimmed('/sys/module/apparmor/parameters/enabled') === 'Y',
    seccomp: seccompHost(),
    extraMaskedPaths,
  };
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The numbers of a kernel CPU list (`0-3,8`); empty when it is no such list. */
export function cpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return [];
    const end = Number(m[2] ?? m[1]);
    for (let i = Number(m[1]); i <= end && out.length < 65536; i++) out.push(i);
  }
  return out;
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
