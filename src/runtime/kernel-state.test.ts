import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CgroupLayout } from './cgroups.js';
import { kernelState, parseProcStat, procStat } from './kernel-state.js';

const dir = mkdtempSync(join(tmpdir(), 'pier-kstate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A state folder whose runtime's file names `pid` started at `start`, and a fake cgroup tree. */
function fixture(name: string, runtime: 'crun' | 'runc', pid: number, start: number | string, freezer?: string, mode: 'v1' | 'v2' = 'v1') {
  const stateDir = join(dir, name, 'state');
  mkdirSync(stateDir, { recursive: true });
  if (runtime === 'crun') writeFileSync(join(stateDir, 'status'), JSON.stringify({ pid, 'process-start-time': start }));
  else writeFileSync(join(stateDir, 'state.json'), JSON.stringify({ init_process_pid: pid, init_process_start: start }));
  const root = join(dir, name, 'cgroup');
  const cg = mode === 'v2' ? join(root, 'pier', 'c') : join(root, 'freezer', 'pier', 'c');
  mkdirSync(cg, { recursive: true });
  if (freezer !== undefined) writeFileSync(join(cg, mode === 'v2' ? 'cgroup.freeze' : 'freezer.state'), `${freezer}\n`);
  const layout: CgroupLayout = { mode, root, controllers: mode === 'v2' ? ['memory'] : ['freezer', 'memory'] };
  return { stateDir, layout };
}

const self = procStat(process.pid)!;

test('a live init that started when the state file says runs; frozen, it is paused', () => {
  for (const runtime of ['crun', 'runc'] as const) {
    const a = fixture(`live-${runtime}`, runtime, process.pid, self.startTime, 'THAWED');
    assert.deepEqual(kernelState(runtime, a.stateDir, a.layout, '/pier/c'), { status: 'running', pid: process.pid });
    const b = fixture(`frozen-${runtime}`, runtime, process.pid, self.startTime, 'FROZEN');
    assert.deepEqual(kernelState(runtime, b.stateDir, b.layout, '/pier/c'), { status: 'paused', pid: process.pid });
  }
  const v2 = fixture('v2', 'crun', process.pid, self.startTime, '1', 'v2');
  assert.deepEqual(kernelState('crun', v2.stateDir, v2.layout, '/pier/c'), { status: 'paused', pid: process.pid });
});

test('a reused pid (another start time) or a pid that is gone is a stopped container', () => {
  const reused = fixture('reused', 'runc', process.pid, self.startTime + 1, 'THAWED');
  assert.deepEqual(kernelState('runc', reused.stateDir, reused.layout, '/pier/c'), { status: 'stopped', pid: 0 });
  const gone = fixture('gone', 'crun', 2 ** 22 + 7, 1, 'THAWED');
  assert.deepEqual(kernelState('crun', gone.stateDir, gone.layout, '/pier/c'), { status: 'stopped', pid: 0 });
});

test('exec.fifo still there: created, not started', () => {
  const c = fixture('created', 'runc', process.pid, self.startTime, 'THAWED');
  writeFileSync(join(c.stateDir, 'exec.fifo'), '');
  assert.deepEqual(kernelState('runc', c.stateDir, c.layout, '/pier/c'), { status: 'created', pid: process.pid });
});

test('anything unexpected leaves the answer to the runtime', () => {
  const freezing = fixture('freezing', 'crun', process.pid, self.startTime, 'FREEZING');
  assert.equal(kernelState('crun', freezing.stateDir, freezing.layout, '/pier/c'), undefined);
  const noFreezer = fixture('nofreezer', 'crun', process.pid, self.startTime);
  assert.equal(kernelState('crun', noFreezer.stateDir, noFreezer.layout, '/pier/c'), undefined);
  const wrongFile = fixture('wrongfile', 'crun', process.pid, self.startTime, 'THAWED');
  assert.equal(kernelState('runc', wrongFile.stateDir, wrongFile.layout, '/pier/c'), undefined, 'runc has no state.json there');
  writeFileSync(join(wrongFile.stateDir, 'status'), '{"pid": "x"}');
  assert.equal(kernelState('crun', wrongFile.stateDir, wrongFile.layout, '/pier/c'), undefined);
  assert.equal(kernelState('youki', wrongFile.stateDir, wrongFile.layout, '/pier/c'), undefined);
});

test('/proc/<pid>/stat: a command name with spaces and parentheses', () => {
  assert.ok(self.startTime > 0);
  const line = `42 (a b) (c)) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 ${'0 '.repeat(30)}`;
  assert.deepEqual(parseProcStat(line), { state: 'S', startTime: 987654 });
  assert.equal(parseProcStat('garbage'), undefined);
});
