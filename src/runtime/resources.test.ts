import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { detectCgroupLayout, readCgroupStats } from './cgroups.js';
import { applyCgroupLimits, cgroupWrites, cpuWeightOfShares, ioWeightOfBlkio, resourceLimits, swapMaxOf } from './resources.js';

/** A fake cgroup tree: files with their current contents; pier writes into them as into cgroupfs. */
function tree(t: TestContext, files: Record<string, string>): string {
  const root = mkdtempSync('/tmp/prres-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const CG = '/pier/abc';
const V1 = { cgroupMode: 'v1' as const, swapAccounting: true, blkioWeight: true };
const V2 = { cgroupMode: 'v2' as const, swapAccounting: true, blkioWeight: true };

test("runc's v2 conversions: shares to cpu.weight, blkio weight to io.weight, memory+swap to swap only", () => {
  assert.equal(cpuWeightOfShares(2), 1);
  assert.equal(cpuWeightOfShares(1024), 39);
  assert.equal(cpuWeightOfShares(262144), 10000);
  assert.equal(ioWeightOfBlkio(10), 1);
  assert.equal(ioWeightOfBlkio(500), 4950);
  assert.equal(ioWeightOfBlkio(1000), 10000);
  assert.equal(swapMaxOf(128 << 20, 64 << 20), 64 << 20);
  assert.equal(swapMaxOf(-1, 64 << 20), 'max');
  assert.equal(swapMaxOf(undefined, -1), 'max');
  assert.equal(swapMaxOf(undefined, 64 << 20), undefined);
  assert.throws(() => swapMaxOf(32 << 20, 64 << 20), /memory\+swap limit should be >= memory limit/);
});

test('OCI limits: cpus as quota over a 100 ms period, cpuset mems, swappiness and OOM killer on v1 only, block device limits', () => {
  const warnings: string[] = [];
  const r = { memory: 64 << 20, memorySwap: 128 << 20, memorySwappiness: 10, oomKillDisable: true, nanoCpus: 5e8, cpusetCpus: '0', cpusetMems: '0', pidsLimit: 20 };
  const throttles = { readBps: [{ major: 254, minor: 0, rate: 1048576 }], writeBps: [], readIOps: [], writeIOps: [{ major: 254, minor: 0, rate: 100 }] };
  const v1 = resourceLimits(r, V1, warnings, throttles);
  assert.deepEqual(v1, {
    memory: { limit: 64 << 20, swap: 128 << 20, swappiness: 10, disableOOMKiller: true },
    cpu: { period: 100000, quota: 50000, cpus: '0', mems: '0' },
    pids: { limit: 20 },
    blockIO: { throttleReadBpsDevice: [{ major: 254, minor: 0, rate: 1048576 }], throttleWriteIOPSDevice: [{ major: 254, minor: 0, rate: 100 }] },
  });
  assert.deepEqual(warnings, []);
  const v2 = resourceLimits(r, V2, warnings);
  assert.deepEqual(v2.memory, { limit: 64 << 20, swap: 128 << 20 });
  assert.equal(warnings.length, 2);
  assert.deepEqual(resourceLimits({ pidsLimit: -1 }, V1, []).pids, { limit: -1 });
});

test('v1: the files of an update, memory and memsw in the order the kernel accepts', () => {
  const limits = resourceLimits({ memory: 256 << 20, memorySwap: 512 << 20, cpuShares: 512, cpuQuota: 20000, cpuPeriod: 50000, pidsLimit: -1, blkioWeight: 300 }, V1, []);
  const raising = cgroupWrites('v1', limits, 64 << 20);
  assert.deepEqual(raising.slice(0, 2).map((w) => w.file), ['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']);
  const lowering = cgroupWrites('v1', limits, 1 << 30);
  assert.deepEqual(lowering.slice(0, 2).map((w) => w.file), ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']);
  assert.deepEqual(raising.slice(2).map((w) => `${w.controller}/${w.file}=${w.value}`), [
    'cpu/cpu.shares=512', 'cpu/cpu.cfs_period_us=50000', 'cpu/cpu.cfs_quota_us=20000', 'pids/pids.max=max', 'blkio/blkio.weight=300',
  ]);
});

test('v2: an update written into a fake cgroup2 tree, and read back by stats', async (t) => {
  const files = ['memory.max', 'memory.swap.max', 'memory.low', 'cpu.weight', 'cpu.max', 'cpuset.cpus', 'pids.max', 'io.max', 'io.weight'];
  const root = tree(t, {
    'cgroup.controllers': 'cpuset cpu io memory pids\n',
    ...Object.fromEntries(files.map((f) => [`${CG}/${f}`, 'max\n'])),
    [`${CG}/memory.current`]: '4096\n',
    [`${CG}/pids.current`]: '3\n',
  });
  const layout = detectCgroupLayout(root);
  assert.equal(layout.mode, 'v2');
  const limits = resourceLimits(
    { memory: 64 << 20, memorySwap: 96 << 20, memoryReservation: 32 << 20, cpuShares: 1024, nanoCpus: 1.5e9, cpusetCpus: '0-1', pidsLimit: 20, blkioWeight: 500 },
    V2,
    [],
    { readBps: [{ major: 8, minor: 0, rate: 1000 }], writeBps: [{ major: 8, minor: 0, rate: 2000 }], readIOps: [], writeIOps: [] },
  );
  applyCgroupLimits(layout, CG, limits);
  const read = (f: string) => readFileSync(join(root, CG, f), 'utf8');
  assert.equal(read('memory.max'), String(64 << 20));
  assert.equal(read('memory.swap.max'), String(32 << 20), 'swap only: memory+swap less memory');
  assert.equal(read('memory.low'), String(32 << 20));
  assert.equal(read('cpu.weight'), '39');
  assert.equal(read('cpu.max'), '150000 100000');
  assert.equal(read('cpuset.cpus'), '0-1');
  assert.equal(read('pids.max'), '20');
  assert.equal(read('io.weight'), 'default 4950');
  assert.equal(read('io.max'), '8:0 rbps=1000 wbps=2000');
  const stats = await readCgroupStats(layout, CG);
  assert.equal(stats.memory.limit, 64 << 20);
  assert.deepEqual(stats.pids, { current: 3, limit: 20 });

  // Lifting limits: -1 is "max" in cgroup2.
  applyCgroupLimits(layout, CG, resourceLimits({ memory: 64 << 20, memorySwap: -1, pidsLimit: -1, cpuQuota: -1 }, V2, []));
  assert.equal(read('memory.swap.max'), 'max');
  assert.equal(read('pids.max'), 'max');
  assert.equal(read('cpu.max'), 'max');
  assert.equal((await readCgroupStats(layout, CG)).pids.limit, undefined);
});

test('v1: an update written into a fake tree, files the host lacks skipped', async (t) => {
  const root = tree(t, {
    [`memory${CG}/memory.limit_in_bytes`]: `${64 << 20}\n`,
    [`memory${CG}/memory.memsw.limit_in_bytes`]: `${128 << 20}\n`,
    [`cpu${CG}/cpu.cfs_quota_us`]: '-1\n',
    [`cpu${CG}/cpu.cfs_period_us`]: '100000\n',
    [`pids${CG}/pids.max`]: 'max\n',
  });
  const layout = detectCgroupLayout(root);
  applyCgroupLimits(layout, CG, resourceLimits({ memory: 256 << 20, memorySwap: 512 << 20, nanoCpus: 5e8, pidsLimit: 30, blkioWeight: 100 }, V1, []));
  const read = (f: string) => readFileSync(join(root, f), 'utf8');
  assert.equal(read(`memory${CG}/memory.limit_in_bytes`), String(256 << 20));
  assert.equal(read(`memory${CG}/memory.memsw.limit_in_bytes`), String(512 << 20));
  assert.equal(read(`cpu${CG}/cpu.cfs_quota_us`), '50000');
  assert.equal(read(`pids${CG}/pids.max`), '30');
  const stats = await readCgroupStats(layout, CG);
  assert.equal(stats.memory.limit, 256 << 20);
  assert.equal(stats.pids.limit, 30);
});
