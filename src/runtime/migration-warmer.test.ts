import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { MigrationWarmer, ownProcsPath } from './migration-warmer.js';

const V1_SELF = ['12:name=systemd:/', '8:pids:/user.slice', '4:memory:/process_api/6e4f', '2:cpu,cpuacct:/', '0::/', ''].join('\n');

test('ownProcsPath: the first v1 hierarchy with a known controller, at the cgroup this process is in', () => {
  const layout = { mode: 'hybrid' as const, root: '/sys/fs/cgroup', controllers: ['cpu', 'cpuacct', 'memory', 'pids'], unifiedControllers: ['hugetlb'] };
  assert.equal(ownProcsPath(layout, V1_SELF), '/sys/fs/cgroup/pids/user.slice/cgroup.procs');
  assert.equal(ownProcsPath({ ...layout, controllers: ['memory'] }, V1_SELF), '/sys/fs/cgroup/memory/process_api/6e4f/cgroup.procs');
  assert.equal(ownProcsPath({ ...layout, controllers: ['cpuacct'] }, V1_SELF), '/sys/fs/cgroup/cpuacct/cgroup.procs');
  assert.equal(ownProcsPath({ ...layout, controllers: ['blkio'] }, V1_SELF), undefined);
});

test('ownProcsPath: on cgroup v2, the unified line', () => {
  const layout = { mode: 'v2' as const, root: '/sys/fs/cgroup', controllers: ['memory', 'pids'] };
  assert.equal(ownProcsPath(layout, '0::/system.slice/pierd.service\n'), '/sys/fs/cgroup/system.slice/pierd.service/cgroup.procs');
  assert.equal(ownProcsPath(layout, 'garbage\n'), undefined);
});

test('MigrationWarmer writes its PID over and over while held, and stops when the last holder lets go', async (t) => {
  const dir = mkdtempSync('/tmp/pmw-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const procs = join(dir, 'cgroup.procs');
  writeFileSync(procs, '');
  const warmer = new MigrationWarmer(procs, 2);
  const releaseA = warmer.hold();
  const releaseB = warmer.hold();
  await sleep(40);
  releaseA();
  await sleep(20);
  const whileHeld = statSync(procs).size;
  releaseB();
  releaseB(); // a second call is a no-op
  await sleep(20);
  const afterRelease = statSync(procs).size;
  await sleep(40);
  const pid = String(process.pid);
  assert.ok(whileHeld >= 3 * pid.length, `several writes while held (${whileHeld} bytes)`);
  assert.equal(readFileSync(procs, 'utf8').replaceAll(pid, ''), '', 'nothing but the PID is written');
  assert.equal(statSync(procs).size, afterRelease, 'no write once released');
  assert.equal(warmer.enabled, true);
});

test('MigrationWarmer turns itself off when it cannot write, and holding it stays harmless', async (t) => {
  const dir = mkdtempSync('/tmp/pmw-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const warmer = new MigrationWarmer(join(dir, 'missing', 'cgroup.procs'), 2);
  const release = warmer.hold();
  await sleep(10);
  release();
  assert.equal(warmer.enabled, false);
  warmer.hold()();
  assert.equal(new MigrationWarmer(undefined).enabled, false);
});
