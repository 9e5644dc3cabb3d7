import { invalid } from '../errors.js';
import type { HostInfo } from '../runtime/host-info.js';
import type { HostConfig } from './types.js';

/**
 * Checks of a container's resource limits against what the host offers, with Docker's
 * messages (moby's verifyPlatformContainerResources): refusals throw `invalid` (400), what the
 * host cannot limit is dropped from the HostConfig with Docker's warning. Pure: the host's
 * facts come in as `HostFacts`, read once by the runtime.
 */

/** What the host offers containers, as the create-time checks need it: the runtime's HostInfo, the fields they read. */
export type HostFacts = Pick<HostInfo, 'caps' | 'cgroupMode' | 'swapAccounting' | 'blkioWeight' | 'blkioThrottle' | 'cpus' | 'cpusetCpus' | 'cpusetMems' | 'apparmor'>;

/** Why a kernel memory limit is refused (Docker ignores the field since API 1.42; pier says so). */
export const KERNEL_MEMORY_UNSUPPORTED =
  'Kernel memory limit is not supported: kernel memory limits are not supported on cgroup v2, and deprecated on cgroup v1 since kernel 5.4';

/** Docker's minimum memory limit (linuxMinMemory). */
export const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * Check the limits of `hc` (a create, or the merged result of an update: `update` true) and
 * complete them as Docker does at create: a memory limit without a swap limit gets twice its
 * size in memory+swap. Returns the HostConfig to keep and the warnings to show.
 */
export function checkResources(hc: HostConfig, host: HostFacts | undefined, update = false): { hostConfig: HostConfig; warnings: string[] } {
  const out: HostConfig = { ...hc };
  const warnings: string[] = [];
  const memory = out.Memory ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (!update && memory > 0 && (out.MemorySwap ?? 0) === 0) out.MemorySwap = memory * 2;
  if (memory > 0 && out.MemorySwap !== -1 && host && !host.swapAccounting) {
    warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    out.MemorySwap = -1;
  }
  const swap = out.MemorySwap ?? 0;
  if (memory > 0 && swap > 0 && swap < memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0 && !update) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  const swappiness = out.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== -1) {
    if (host?.cgroupMode === 'v2') {
      warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
      out.MemorySwappiness = undefined;
    } else if (swappiness < 0 || swappiness > 100) {
      throw invalid(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
    }
  }
  const reservation = out.MemoryReservation ?? 0;
  if (reservation > 0 && reservation < MIN_MEMORY) throw invalid('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
  if ((out.KernelMemory ?? 0) > 0) {
    throw invalid(KERNEL_MEMORY_UNSUPPORTED);
  }
  if (out.OomKillDisable && host?.cgroupMode === 'v2') {
    warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    out.OomKillDisable = false;
  }
  if (out.OomKillDisable && memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }

  const nano = out.NanoCpus ?? 0;
  if (nano > 0 && (out.CpuPeriod ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && (out.CpuQuota ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano !== 0 && host && (nano < 0 || nano > host.cpus * 1e9)) {
    throw invalid(`range of CPUs is from 0.01 to ${host.cpus}.00, as there are only ${host.cpus} CPUs available`);
  }
  const period = out.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1000000)) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  const quota = out.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  const rtPeriod = out.CpuRealtimePeriod ?? 0;
  const rtRuntime = out.CpuRealtimeRuntime ?? 0;
  if (rtPeriod > 0 && rtRuntime > rtPeriod) throw invalid('cpu real-time runtime cannot be higher than cpu real-time period');
  // Shares out of the kernel's range (2..262144): runc's refusal, which Docker reports (at start).
  const shares = out.CpuShares ?? 0;
  if (shares < 0) throw invalid('shares: invalid argument');
  if (shares > 0 && shares < 2) throw invalid('the minimum allowed cpu-shares is 2');
  if (shares > 262144) throw invalid('the maximum allowed cpu-shares is 262144');
  if (host) {
    checkCpuset(out.CpusetCpus, host.cpusetCpus, 'cpus', 'CPUs');
    checkCpuset(out.CpusetMems, host.cpusetMems, 'mems', 'memory nodes');
  }

  const weight = out.BlkioWeight ?? 0;
  if (weight > 0 && host && !host.blkioWeight) {
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    out.BlkioWeight = 0;
  } else if (weight > 0 && (weight < 10 || weight > 1000)) throw invalid('Range of blkio weight is from 10 to 1000');
  if ((out.BlkioWeightDevice?.length ?? 0) > 0 && host && !host.blkioWeight) {
    warnings.push('Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
    out.BlkioWeightDevice = [];
  }
  const throttles = [
    ['BlkioDeviceReadBps', 'BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.'],
    ['BlkioDeviceWriteBps', 'BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.'],
    ['BlkioDeviceReadIOps', 'IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.'],
    ['BlkioDeviceWriteIOps', 'IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.'],
  ] as const;
  for (const [field, text] of throttles) {
    const list = out[field];
    if (!list || list.length === 0) continue;
    if (host && !host.blkioThrottle) {
      warnings.push(`Your kernel does not support ${text}`);
      out[field] = [];
      continue;
    }
    for (const d of list) if (!d.Path.startsWith('/')) throw invalid(`invalid device path: ${JSON.stringify(d.Path)}: it must be absolute`);
  }

  const adj = out.OomScoreAdj ?? 0;
  if (adj < -1000 || adj > 1000) throw invalid(`Invalid value ${adj}, range for oom score adj is [-1000, 1000]`);
  if ((out.ShmSize ?? 0) < 0) throw invalid('SHM size can not be less than 0');
  return { hostConfig: out, warnings };
}

/**
 * A cpuset list (`0-2,4`) checked against what the host offers, as moby's
 * isCpusetListAvailable: a malformed list or one naming what the host lacks is refused.
 */
function checkCpuset(requested: string | undefined, available: string, what: 'cpus' | 'mems', noun: string): void {
  if (!requested) return;
  const have = parseCpuset(available, 0) ?? new Set<number>();
  const maximum = Math.max(8192, ...have);
  let want: Set<number> | undefined;
  try {
    want = parseCpuset(requested, maximum);
  } catch (err) {
    throw invalid(`Invalid value ${requested} for cpuset ${what}: ${(err as Error).message}`, err);
  }
  if (!want) throw invalid(`Invalid value ${requested} for cpuset ${what}: invalid format: ${requested}`);
  for (const n of want) {
    if (!have.has(n)) throw invalid(`Requested ${noun} are not available - requested ${requested}, available: ${available}`);
  }
}

/**
 * Parse a cgroup list (`7`, `1-6`, `0,3-4,7`) as moby's parseUintList; undefined for a malformed
 * one; throws past `maximum` (0: none), so that `0-9223372036854775807` cannot exhaust memory.
 */
export function parseCpuset(list: string, maximum: number): Set<number> | undefined {
  const out = new Set<number>();
  if (list === '') return out;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (hi < lo) return undefined;
    if (maximum !== 0 && hi > maximum) throw new Error(`value of out range, maximum is ${maximum}`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}
