import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { capabilitySets } from '../runtime/capabilities.js';
import { checkResources, parseCpuset, type HostFacts } from './limits.js';
import type { HostConfig } from './types.js';

const HOST: HostFacts = {
  caps: capabilitySets(40, 'CapEff:\t000001fffeffffff\n'),
  cgroupMode: 'hybrid',
  swapAccounting: true,
  blkioWeight: false,
  blkioThrottle: true,
  cpus: 2,
  cpusetCpus: '0-1',
  cpusetMems: '0',
  apparmor: false,
};
const MB = 1024 * 1024;

function refused(hc: HostConfig, message: string, host: HostFacts | undefined = HOST, update = false): void {
  assert.throws(() => checkResources(hc, host, update), (e: Error) => isKind(e, 'invalid') && e.message === message, message);
}

test("memory limits with Docker's messages; memory+swap defaults to twice the memory", () => {
  refused({ Memory: 4 * MB }, 'Minimum memory limit allowed is 6MB');
  refused({ Memory: 64 * MB, MemorySwap: 32 * MB }, 'Minimum memoryswap limit should be larger than memory limit, see usage');
  refused({ MemorySwap: 64 * MB }, 'You should always set the Memory limit when using Memoryswap limit, see usage');
  refused({ MemoryReservation: MB }, 'Minimum memory reservation allowed is 6MB');
  refused({ Memory: 64 * MB, MemoryReservation: 128 * MB }, 'Minimum memory limit can not be less than memory reservation limit, see usage');
  refused({ MemorySwappiness: 101 }, 'Invalid value: 101, valid memory swappiness range is 0-100');
  refused({ KernelMemory: 64 * MB }, 'Kernel memory limit is not supported: kernel memory limits are not supported on cgroup v2, and deprecated on cgroup v1 since kernel 5.4');
  assert.equal(checkResources({ Memory: 64 * MB }, HOST).hostConfig.MemorySwap, 128 * MB);
  assert.equal(checkResources({ Memory: 64 * MB, MemorySwap: -1 }, HOST).hostConfig.MemorySwap, -1);
  // No swap accounting: unlimited swap, with Docker's warning.
  const noSwap = checkResources({ Memory: 64 * MB }, { ...HOST, swapAccounting: false });
  assert.equal(noSwap.hostConfig.MemorySwap, -1);
  assert.deepEqual(noSwap.warnings, ['Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.']);
  // An update may set swap alone (the memory is the container's).
  assert.doesNotThrow(() => checkResources({ MemorySwap: 64 * MB }, HOST, true));
});

test('CPU limits against the host', () => {
  refused({ NanoCpus: 3e9 }, 'range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
  refused({ NanoCpus: 5e8, CpuPeriod: 100000 }, 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  refused({ NanoCpus: 5e8, CpuQuota: 50000 }, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  refused({ CpuPeriod: 500 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused({ CpuQuota: 500 }, 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  refused({ CpuShares: 1 }, 'the minimum allowed cpu-shares is 2');
  refused({ CpuShares: 262145 }, 'the maximum allowed cpu-shares is 262144');
  refused({ CpusetCpus: '0-9' }, 'Requested CPUs are not available - requested 0-9, available: 0-1');
  refused({ CpusetCpus: '1-0' }, 'Invalid value 1-0 for cpuset cpus: invalid format: 1-0');
  refused({ CpusetCpus: 'a' }, 'Invalid value a for cpuset cpus: invalid format: a');
  refused({ CpusetCpus: '0-9223372036854775807' }, 'Invalid value 0-9223372036854775807 for cpuset cpus: value of out range, maximum is 8192');
  refused({ CpusetMems: '1' }, 'Requested memory nodes are not available - requested 1, available: 0');
  assert.doesNotThrow(() => checkResources({ NanoCpus: 2e9, CpusetCpus: '0,1', CpusetMems: '0' }, HOST));
  assert.doesNotThrow(() => checkResources({ CpuQuota: 50000, CpuPeriod: 100000 }, HOST));
  // Without the host's facts, what needs them is not checked.
  assert.doesNotThrow(() => checkResources({ NanoCpus: 64e9, CpusetCpus: '0-63' }, undefined));
});

test('block I/O, OOM and shm', () => {
  const w = checkResources({ BlkioWeight: 300 }, HOST);
  assert.equal(w.hostConfig.BlkioWeight, 0);
  assert.deepEqual(w.warnings, ['Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.']);
  refused({ BlkioWeight: 5 }, 'Range of blkio weight is from 10 to 1000', { ...HOST, blkioWeight: true });
  const t = checkResources({ BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: 1 }] }, { ...HOST, blkioThrottle: false });
  assert.deepEqual(t.hostConfig.BlkioDeviceReadBps, []);
  assert.match(t.warnings[0]!, /BPS Block I\/O read limit/);
  refused({ BlkioDeviceWriteIOps: [{ Path: 'vda', Rate: 1 }] }, 'invalid device path: "vda": it must be absolute');
  refused({ OomScoreAdj: 1001 }, 'Invalid value 1001, range for oom score adj is [-1000, 1000]');
  assert.match(checkResources({ OomKillDisable: true }, HOST).warnings[0]!, /OOM killer is disabled for the container, but no memory limit is set/);
  assert.deepEqual(checkResources({ OomKillDisable: true, Memory: 64 * MB }, HOST).warnings, []);
  const v2 = checkResources({ OomKillDisable: true, Memory: 64 * MB }, { ...HOST, cgroupMode: 'v2' });
  assert.equal(v2.hostConfig.OomKillDisable, false);
  assert.deepEqual(v2.warnings, ['Your kernel does not support OomKillDisable. OomKillDisable discarded.']);
});

test('cgroup lists as moby parses them', () => {
  assert.deepEqual([...parseCpuset('0,3-4,7', 0)!], [0, 3, 4, 7]);
  assert.deepEqual([...parseCpuset('', 0)!], []);
  assert.equal(parseCpuset('1,,2', 0), undefined);
  assert.throws(() => parseCpuset('0-9000', 8192), /maximum is 8192/);
});
