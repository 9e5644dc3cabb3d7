import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { FolderWatcher } from '../util/inotify.js';
import { LogRotation } from './log-rotation.js';
import { readLog } from './logs.js';

/**
 * conmon's k8s-file writer with `--log-size-max`, as src/ctr_logging.c does it: before a line
 * would take the bytes written since the last rotation past the size, close the file, open
 * `<path>.tmp` with O_TRUNC|O_CREAT and rename it over `<path>`.
 */
class FakeConmon {
  private fd: number;
  private written = 0;
  rotations = 0;

  constructor(
    private readonly path: string,
    private readonly max: number,
  ) {
    this.fd = openSync(path, 'a');
  }

  line(text: string, stream = 'stdout'): void {
    const line = Buffer.from(`2026-11-27T10:00:00.${String(this.rotations % 1e9).padStart(9, '0')}+00:00 ${stream} F ${text}\n`);
    if (this.written + line.length > this.max) {
      closeSync(this.fd);
      this.fd = openSync(`${this.path}.tmp`, 'w');
      renameSync(`${this.path}.tmp`, this.path);
      this.written = 0;
      this.rotations++;
    }
    writeSync(this.fd, line);
    this.written += line.length;
  }

  close(): void {
    closeSync(this.fd);
  }
}

async function setUp(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'plr-'));
  const watcher = new FolderWatcher();
  t.after(async () => {
    watcher.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, path: join(dir, 'ctr.log'), watcher };
}

function names(dir: string): string[] {
  return readdirSync(dir).sort();
}

async function settle(r: LogRotation): Promise<void> {
  await sleep(20);
  await r.tidy();
}

test('rotation names every file conmon writes, keeps the next one ready, removes the oldest beyond max-file', async (t) => {
  const { dir, path, watcher } = await setUp(t);
  const r = new LogRotation(path, { readable: true, maxSize: 120, maxFile: 3, compress: false }, watcher);
  r.prepare();
  // Before conmon: ctr.log is generation 1, and the next file is ready as ctr.log.tmp.
  assert.deepEqual(names(dir), ['ctr.log', 'ctr.log.1', 'ctr.log.ready', 'ctr.log.tmp']);
  assert.equal(statSync(path).ino, statSync(`${path}.1`).ino);
  assert.equal(statSync(`${path}.tmp`).ino, statSync(`${path}.ready`).ino);
  r.watch();
  const conmon = new FakeConmon(path, 120);
  for (let i = 0; i < 20; i++) {
    conmon.line(`line ${i}`); // 52 or 53 bytes: two a file
    await sleep(5);
  }
  conmon.close();
  await settle(r);
  r.unwatch();
  // 10 files were written; the last 3 are kept (ctr.log is the 10th), the next is ready.
  assert.deepEqual(names(dir), ['ctr.log', 'ctr.log.10', 'ctr.log.8', 'ctr.log.9', 'ctr.log.ready', 'ctr.log.tmp']);
  assert.equal(statSync(path).ino, statSync(`${path}.10`).ino);
  assert.equal(statSync(`${path}.ready`).size, 0);
  const all: string[] = [];
  for await (const e of readLog(path, { follow: false, isRunning: () => false })) all.push(e.data.toString().trim());
  assert.deepEqual(all, ['line 14', 'line 15', 'line 16', 'line 17', 'line 18', 'line 19']);
});

test('a file conmon made itself (the next one was not ready) is named; rotated files are compressed; the byte limit holds', async (t) => {
  const { dir, path, watcher } = await setUp(t);
  const r = new LogRotation(path, { readable: true, maxSize: 120, maxFile: 3, compress: true }, watcher);
  r.prepare();
  const conmon = new FakeConmon(path, 120);
  // Two rotations while nothing watches: the first goes to the ready file, the second to one of conmon's own.
  for (let i = 0; i < 5; i++) conmon.line(`line ${i}`);
  assert.equal(statSync(path).nlink, 1);
  r.watch();
  await settle(r);
  assert.equal(statSync(path).nlink, 2, 'conmon\'s own file got a name');
  for (let i = 5; i < 7; i++) {
    conmon.line(`line ${i}`);
    await sleep(5);
  }
  conmon.close();
  await settle(r);
  r.unwatch();
  // Files 2, 3 and 4 are kept (4 is ctr.log), 2 and 3 compressed.
  assert.deepEqual(names(dir), ['ctr.log', 'ctr.log.2.gz', 'ctr.log.3.gz', 'ctr.log.4', 'ctr.log.ready', 'ctr.log.tmp']);
  assert.match(gunzipSync(readFileSync(`${path}.2.gz`)).toString(), /F line 2\n.*F line 3\n$/s);
  const all: string[] = [];
  for await (const e of readLog(path, { follow: false, isRunning: () => false })) all.push(e.data.toString().trim());
  assert.deepEqual(all, ['line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
  // A run that starts with a full file starts a new one (conmon counts from zero at start).
  const before = statSync(path).ino;
  new FakeConmon(path, 1000).line('x'.repeat(60));
  r.prepare();
  assert.notEqual(statSync(path).ino, before);
  assert.equal(statSync(path).size, 0);
});

test('a follower sees every line once and in order through many rotations', async (t) => {
  const { path, watcher } = await setUp(t);
  // A follower sees every line unless it falls more than max-file files behind: 40 files of
  // three lines leave it a pause of a hundred writes (a loaded machine stalls it for tens of
  // ms), while the 200 rotations still remove files it holds and compress them under it.
  const r = new LogRotation(path, { readable: true, maxSize: 200, maxFile: 40, compress: true }, watcher);
  r.prepare();
  r.watch();
  const conmon = new FakeConmon(path, 200);
  let running = true;
  const seen: string[] = [];
  const following = (async () => {
    for await (const e of readLog(path, { follow: true, isRunning: () => running })) seen.push(e.data.toString().trim());
  })();
  const N = 600;
  for (let i = 0; i < N; i++) {
    conmon.line(`line ${i}`);
    await sleep(1);
  }
  conmon.close();
  running = false;
  await following;
  r.unwatch();
  await r.tidy();
  assert.ok(conmon.rotations > 150, `${conmon.rotations} rotations`);
  assert.equal(seen.length, N, `saw ${seen.length} lines`);
  assert.deepEqual(seen, Array.from({ length: N }, (_, i) => `line ${i}`));
});

test('rotated past max-size (conmon rotates at its floor size): trimmed to the limits; at the end of a run the limits hold for the last file too', async (t) => {
  const { dir, path, watcher } = await setUp(t);
  const r = new LogRotation(path, { readable: true, maxSize: 120, maxFile: 2, compress: false }, watcher);
  r.prepare();
  r.watch();
  const conmon = new FakeConmon(path, 500); // 9 lines a file
  for (let i = 0; i < 20; i++) {
    conmon.line(`line ${String(i).padStart(2, '0')}`);
    await sleep(3);
  }
  await settle(r);
  // Files 1 and 2 hold 9 lines each, ctr.log (3) 2: 2 is trimmed to what the 240 bytes leave.
  assert.deepEqual(names(dir), ['ctr.log', 'ctr.log.2', 'ctr.log.3', 'ctr.log.ready', 'ctr.log.tmp']);
  const sizes = () => readdirSync(dir).filter((n) => n !== 'ctr.log' && n !== 'ctr.log.tmp' && n !== 'ctr.log.ready').reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
  assert.ok(sizes() <= 240, `${sizes()} bytes`);
  const lines = async () => {
    const out: string[] = [];
    for await (const e of readLog(path, { follow: false, isRunning: () => false })) out.push(e.data.toString().trim());
    return out;
  };
  assert.deepEqual(await lines(), ['line 16', 'line 17', 'line 18', 'line 19']);
  for (let i = 20; i < 26; i++) conmon.line(`line ${i}`);
  conmon.close();
  // The run ends with 8 lines (424 bytes) in ctr.log: it is rotated and trimmed too.
  r.finish();
  await r.tidy();
  assert.ok(sizes() <= 240, `${sizes()} bytes`);
  assert.equal(statSync(path).size, 0);
  assert.deepEqual(await lines(), ['line 22', 'line 23', 'line 24', 'line 25']);
});
