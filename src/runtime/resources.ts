import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, invalid } from '../errors.js';
import { controllerPath, type CgroupLayout } from './cgroups.js';
import type { OciDeviceRule, OciThrottleDevice } from './devices.js';
import type { Resources } from './runtime.js';

/**
 * A container's cgroup limits: the OCI `linux.resources` a spec asks for (what runc applies at
 * create), and the same limits written to the cgroup files of a running container by pier
 * itself (`docker update`), on cgroup v1 and v2 with runc's conversions (memory+swap becomes
 * v2's swap-only `memory.swap.max`, CPU shares become `cpu.weight`, blkio weight `io.weight`).
 */

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    throttleReadBpsDevice?: OciThrottleDevice[];
    throttleWriteBpsDevice?: OciThrottleDevice[];
    throttleReadIOPSDevice?: OciThrottleDevice[];
    throttleWriteIOPSDevice?: OciThrottleDevice[];
  };
}

export type OciLimits = Omit<OciResources, 'devices'>;

/** What the host's cgroups can limit (Docker's sysinfo), as far as the OCI limits are concerned. */
export interface LimitSupport {
  cgroupMode: CgroupLayout['mode'];
  /** memory.memsw.* (v1) / memory.swap.max (v2) exist: a swap limit can be set. */
  swapAccounting: boolean;
  /** blkio.weight (v1) / io.weight (v2) exists. */
  blkioWeight: boolean;
}

/** Block device limits, by device numbers (the caller resolved the paths). */
export interface Throttles {
  readBps: OciThrottleDevice[];
  writeBps: OciThrottleDevice[];
  readIOps: OciThrottleDevice[];
  writeIOps: OciThrottleDevice[];
}

/**
 * The OCI limits for `r`, as `config.json` takes them. What the host cannot limit is dropped
 * with Docker's warning in `warnings` (swap, blkio weight, swappiness and the OOM killer off on
 * cgroup v2).
 */
export function resourceLimits(r: Resources, host: LimitSupport, warnings: string[], throttles?: Throttles): OciLimits {
  const out: OciLimits = {};
  const memory: NonNullable<OciResources['memory']> = {};
  if (r.memory !== undefined && r.memory > 0) memory.limit = r.memory;
  if (r.memoryReservation !== undefined && r.memoryReservation > 0) memory.reservation = r.memoryReservation;
  if (r.memorySwap !== undefined && r.memorySwap !== 0) {
    if (host.swapAccounting) memory.swap = r.memorySwap;
    else if (r.memorySwap > 0) warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
  }
  const v2 = host.cgroupMode === 'v2';
  if (r.memorySwappiness !== undefined && r.memorySwappiness >= 0) {
    if (v2) warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
    else memory.swappiness = r.memorySwappiness;
  }
  if (r.oomKillDisable) {
    if (v2) warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    else memory.disableOOMKiller = true;
  }
  if (Object.keys(memory).length > 0) out.memory = memory;

  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== undefined && r.cpuShares > 0) cpu.shares = r.cpuShares;
  if (r.nanoCpus !== undefined && r.nanoCpus > 0) {
    cpu.period = 100000;
    cpu.quota = Math.floor((r.nanoCpus * 100000) / 1e9);
  }
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) cpu.period = r.cpuPeriod;
  if (r.cpuQuota !== undefined && r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.pidsLimit !== undefined && r.pidsLimit !== 0) out.pids = { limit: r.pidsLimit > 0 ? r.pidsLimit : -1 };

  const io: NonNullable<OciResources['blockIO']> = {};
  if (r.blkioWeight !== undefined && r.blkioWeight > 0) {
    if (host.blkioWeight) io.weight = r.blkioWeight;
    else warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
  }
  if (throttles) {
    if (throttles.readBps.length > 0) io.throttleReadBpsDevice = throttles.readBps;
    if (throttles.writeBps.length > 0) io.throttleWriteBpsDevice = throttles.writeBps;
    if (throttles.readIOps.length > 0) io.throttleReadIOPSDevice = throttles.readIOps;
    if (throttles.writeIOps.length > 0) io.throttleWriteIOPSDevice = throttles.writeIOps;
  }
  if (Object.keys(io).length > 0) out.blockIO = io;
  return out;
}

// ---- writing a running container's cgroup (docker update) ----

/** runc's conversion of CPU shares (2..262144) to cgroup v2's cpu.weight (1..10000). */
export function cpuWeightOfShares(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** runc's conversion of a blkio weight (10..1000) to cgroup v2's io.weight (1..10000). */
export function ioWeightOfBlkio(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** runc's conversion of memory+swap to cgroup v2's swap-only memory.swap.max (undefined: leave it). */
export function swapMaxOf(memorySwap: number | undefined, memory: number | undefined): number | 'max' | undefined {
  if (memorySwap === undefined || memorySwap === 0) return memory === -1 ? 'max' : undefined;
  if (memorySwap < 0) return 'max';
  if (memory === undefined || memory <= 0) throw invalid('unable to set swap limit without memory limit');
  if (memorySwap < memory) throw invalid('memory+swap limit should be >= memory limit');
  return memorySwap - memory;
}

/** One write of a cgroup file: the controller (v1; ignored on v2), the file, the value. */
export interface CgroupWrite {
  controller: string;
  file: string;
  value: string;
}

/**
 * The cgroup files that set `limits`, in the order they must be written. On v1 the memory and
 * memory+swap limits are ordered as runc orders them (the kernel refuses a memory limit above
 * memsw, or memsw below memory), from the current memory limit `currentMemory`.
 */
export function cgroupWrites(mode: CgroupLayout['mode'], limits: OciLimits, currentMemory?: number): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const add = (controller: string, file: string, value: number | string) => w.push({ controller, file, value: String(value) });
  const m = limits.memory;
  const c = limits.cpu;
  const io = limits.blockIO;
  if (mode === 'v2') {
    const max = (n: number) => (n < 0 ? 'max' : n);
    if (m?.limit !== undefined) add('memory', 'memory.max', max(m.limit));
    const swap = swapMaxOf(m?.swap, m?.limit);
    if (swap !== undefined) add('memory', 'memory.swap.max', swap);
    if (m?.reservation !== undefined) add('memory', 'memory.low', m.reservation);
    if (c?.shares !== undefined) add('cpu', 'cpu.weight', cpuWeightOfShares(c.shares));
    if (c?.quota !== undefined || c?.period !== undefined) {
      const quota = c.quota !== undefined && c.quota > 0 ? String(c.quota) : 'max';
      add('cpu', 'cpu.max', c.period !== undefined ? `${quota} ${c.period}` : quota);
    }
    if (c?.cpus) add('cpuset', 'cpuset.cpus', c.cpus);
    if (c?.mems) add('cpuset', 'cpuset.mems', c.mems);
    if (limits.pids) add('pids', 'pids.max', limits.pids.limit > 0 ? limits.pids.limit : 'max');
    if (io?.weight !== undefined) add('io', 'io.weight', `default ${ioWeightOfBlkio(io.weight)}`);
    const devs = new Map<string, string[]>();
    const put = (list: OciThrottleDevice[] | undefined, key: string) => {
      for (const d of list ?? []) {
        const k = `${d.major}:${d.minor}`;
        devs.set(k, [...(devs.get(k) ?? []), `${key}=${d.rate}`]);
      }
    };
    put(io?.throttleReadBpsDevice, 'rbps');
    put(io?.throttleWriteBpsDevice, 'wbps');
    put(io?.throttleReadIOPSDevice, 'riops');
    put(io?.throttleWriteIOPSDevice, 'wiops');
    for (const [dev, settings] of devs) add('io', 'io.max', `${dev} ${settings.join(' ')}`);
    return w;
  }
  const limit = m?.limit;
  const swap = m?.swap;
  const memFirst = !(limit !== undefined && swap !== undefined && (swap === -1 || (currentMemory ?? 0) < swap));
  if (memFirst && limit !== undefined) add('memory', 'memory.limit_in_bytes', limit);
  if (swap !== undefined) add('memory', 'memory.memsw.limit_in_bytes', swap);
  if (!memFirst && limit !== undefined) add('memory', 'memory.limit_in_bytes', limit);
  if (m?.reservation !== undefined) add('memory', 'memory.soft_limit_in_bytes', m.reservation);
  if (m?.swappiness !== undefined) add('memory', 'memory.swappiness', m.swappiness);
  if (m?.disableOOMKiller !== undefined) add('memory', 'memory.oom_control', m.disableOOMKiller ? 1 : 0);
  if (c?.shares !== undefined) add('cpu', 'cpu.shares', c.shares);
  if (c?.period !== undefined) add('cpu', 'cpu.cfs_period_us', c.period);
  if (c?.quota !== undefined) add('cpu', 'cpu.cfs_quota_us', c.quota);
  if (c?.cpus) add('cpuset', 'cpuset.cpus', c.cpus);
  if (c?.mems) add('cpuset', 'cpuset.mems', c.mems);
  if (limits.pids) add('pids', 'pids.max', limits.pids.limit > 0 ? limits.pids.limit : 'max');
  if (io?.weight !== undefined) add('blkio', 'blkio.weight', io.weight);
  const throttle = (list: OciThrottleDevice[] | undefined, file: string) => {
    for (const d of list ?? []) add('blkio', file, `${d.major}:${d.minor} ${d.rate}`);
  };
  throttle(io?.throttleReadBpsDevice, 'blkio.throttle.read_bps_device');
  throttle(io?.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device');
  throttle(io?.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device');
  throttle(io?.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device');
  return w;
}

/**
 * Write `limits` into the cgroup `cgroupsPath` (`/pier/<id>`) of a running container. Throws
 * `invalid` with the kernel's refusal (a limit below the current usage, a cpuset the parent
 * lacks) naming the file; a file the host lacks (a controller not mounted, no swap accounting)
 * is skipped, as runc skips it.
 */
export function applyCgroupLimits(layout: CgroupLayout, cgroupsPath: string, limits: OciLimits): void {
  const memDir = controllerPath(layout, 'memory', cgroupsPath);
  let current: number | undefined;
  if (layout.mode !== 'v2') {
    try {
      current = Number(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8').trim());
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  for (const write of cgroupWrites(layout.mode, limits, current)) {
    const path = join(controllerPath(layout, write.controller, cgroupsPath), write.file);
    if (!existsSync(path)) continue;
    try {
      writeFileSync(path, write.value);
    } catch (err) {
      throw invalid(`cannot set ${write.file} to ${write.value}: ${errnoCode(err) ?? (err as Error).message}`, err);
    }
  }
}
