import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { canUseCrun, controllerPath, detectCgroupLayout, detectCgroups, readCgroupStats, readOomKills } from './cgroups.js';

/** Fake cgroup trees in a temp folder: this machine has one layout, pier must handle three. */

function tree(t: TestContext, files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = mkdtempSync('/tmp/prcg-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const [path, target] of Object.entries(links)) symlinkSync(target, join(root, path));
  return root;
}

const CG = '/pier/abc';

/** A v1 container cgroup with `cpu,cpuacct` co-mounted as on many distributions. */
function v1Files(prefix = ''): Record<string, string> {
  const mem = `${prefix}memory${CG}`;
  const acct = `${prefix}cpu,cpuacct${CG}`;
  return {
    [`${prefix}memory/cgroup.procs`]: '',
    [`${mem}/memory.usage_in_bytes`]: '1048576\n',
    [`${mem}/memory.max_usage_in_bytes`]: '2097152\n',
    [`${mem}/memory.limit_in_bytes`]: '67108864\n',
    [`${mem}/memory.failcnt`]: '3\n',
    [`${mem}/memory.stat`]: 'cache 4096\nrss 8192\ntotal_inactive_file 4096\n',
    [`${mem}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    [`${prefix}pids${CG}/pids.current`]: '4\n',
    [`${prefix}pids${CG}/pids.max`]: '50\n',
    [`${acct}/cpuacct.usage`]: '123456789\n',
    [`${acct}/cpuacct.stat`]: 'user 7\nsystem 3\n',
    [`${acct}/cpuacct.usage_percpu`]: '100000000 23456789 \n',
    [`${acct}/cpu.stat`]: 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n',
  };
}

test('v1: controllers, co-mounted cpu,cpuacct, stats, OOM kills', async (t) => {
  const root = tree(t, v1Files(), { cpu: 'cpu,cpuacct', cpuacct: 'cpu,cpuacct' });
  const layout = detectCgroupLayout(root);
  assert.equal(layout.mode, 'v1');
  assert.deepEqual([...layout.controllers].sort(), ['cpu', 'cpuacct', 'memory', 'pids']);
  assert.deepEqual(canUseCrun(layout), { ok: true, reason: 'cgroup v1' });
  assert.equal((await detectCgroups(root)).version, '1');
  assert.equal(controllerPath(layout, 'memory', CG), join(root, 'memory/pier/abc'));

  const s = await readCgroupStats(layout, CG);
  assert.equal(s.memory.usage, 1048576);
  assert.equal(s.memory.maxUsage, 2097152);
  assert.equal(s.memory.limit, 67108864);
  assert.equal(s.memory.failcnt, 3);
  assert.equal(s.memory.stat.total_inactive_file, 4096);
  assert.deepEqual(s.pids, { current: 4, limit: 50 });
  assert.equal(s.cpu.usageNs, 123456789);
  assert.equal(s.cpu.userNs, 70_000_000);
  assert.equal(s.cpu.systemNs, 30_000_000);
  assert.deepEqual(s.cpu.perCpuNs, [100000000, 23456789]);
  assert.deepEqual(s.cpu.throttling, { periods: 10, throttledPeriods: 2, throttledTimeNs: 5000 });
  assert.deepEqual(s.oom, { kills: 2 });
  assert.equal(await readOomKills(layout, CG), 2);
});

test('v1: no limit and a missing cgroup read as undefined', async (t) => {
  const files = v1Files();
  files[`memory${CG}/memory.limit_in_bytes`] = '9223372036854771712\n';
  files[`pids${CG}/pids.max`] = 'max\n';
  const root = tree(t, files, { cpu: 'cpu,cpuacct', cpuacct: 'cpu,cpuacct' });
  const layout = detectCgroupLayout(root);
  const s = await readCgroupStats(layout, CG);
  assert.equal(s.memory.limit, undefined);
  assert.equal(s.pids.limit, undefined);
  const gone = await readCgroupStats(layout, '/pier/gone');
  assert.equal(gone.memory.usage, undefined);
  assert.equal(gone.pids.current, undefined);
  assert.equal(await readOomKills(layout, '/pier/gone'), undefined);
});

test('hybrid with hugetlb in cgroup2: crun runs without the cgroup2 mount, and says so', async (t) => {
  const root = tree(t, { ...v1Files(), 'unified/cgroup.controllers': 'hugetlb\n', 'unified/cgroup.procs': '' }, { cpu: 'cpu,cpuacct', cpuacct: 'cpu,cpuacct' });
  const layout = detectCgroupLayout(root);
  assert.equal(layout.mode, 'hybrid');
  assert.ok(layout.mode === 'hybrid' && layout.unifiedControllers.includes('hugetlb'));
  const verdict = canUseCrun(layout);
  assert.equal(verdict.ok, true);
  assert.match(verdict.reason, /hybrid.*hugetlb.*mount namespace without the cgroup2 mount/);
  assert.equal(verdict.withoutUnified, join(root, 'unified'));
  assert.equal((await detectCgroups(root)).version, '1');
  // Counters come from the v1 hierarchies.
  assert.equal((await readCgroupStats(layout, CG)).memory.usage, 1048576);
});

test('hybrid with an empty cgroup2: crun can run', (t) => {
  const root = tree(t, { ...v1Files(), 'unified/cgroup.controllers': '' });
  const layout = detectCgroupLayout(root);
  assert.equal(layout.mode, 'hybrid');
  assert.equal(canUseCrun(layout).ok, true);
});

test('v2: stats from the unified files', async (t) => {
  const root = tree(t, {
    'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
    [`${CG}/memory.current`]: '3145728\n',
    [`${CG}/memory.max`]: '33554432\n',
    [`${CG}/memory.stat`]: 'anon 2097152\nfile 1048576\ninactive_file 4096\n',
    [`${CG}/memory.events`]: 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n',
    [`${CG}/pids.current`]: '2\n',
    [`${CG}/pids.max`]: 'max\n',
    [`${CG}/cpu.stat`]: 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
  });
  const layout = detectCgroupLayout(root);
  assert.equal(layout.mode, 'v2');
  assert.ok(layout.controllers.includes('memory'));
  assert.equal(canUseCrun(layout).ok, true);
  assert.equal((await detectCgroups(root)).version, '2');
  assert.equal(controllerPath(layout, 'memory', CG), join(root, CG));

  const s = await readCgroupStats(layout, CG);
  assert.equal(s.memory.usage, 3145728);
  assert.equal(s.memory.limit, 33554432);
  assert.equal(s.memory.stat.inactive_file, 4096);
  assert.deepEqual(s.pids, { current: 2, limit: undefined });
  assert.equal(s.cpu.usageNs, 1_500_000);
  assert.equal(s.cpu.userNs, 1_000_000);
  assert.equal(s.cpu.systemNs, 500_000);
  assert.deepEqual(s.oom, { events: 1, kills: 1 });
  assert.equal(await readOomKills(layout, CG), 1);
});

test('a folder with no cgroup hierarchy is refused', (t) => {
  const root = tree(t, { 'README': 'nothing here' });
  assert.throws(() => detectCgroupLayout(root), /no cgroup v1 controller or cgroup2/);
  assert.throws(() => detectCgroupLayout(join(root, 'missing')), /ENOENT/);
});
