import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { EngineError } from '../errors.js';
import { encodeHeader, END_OF_ARCHIVE } from '../util/tar-format.js';
import { sha256, tarOf } from '../snapshots/test-helpers.js';
import { planUnpack, stopIdleUnpackWorkers, unpackWorkerCount, warmUnpackWorkers, whenUnpackWorkersGone } from './unpack-pool.js';
import type { BlobFetch } from './unpack-protocol.js';
import { workerLayer } from './unpack-worker.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp('/tmp/puw-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A stream of `b` in chunks of `size` bytes. */
function chunks(b: Buffer, size = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let off = 0; off < b.length; off += size) parts.push(b.subarray(off, off + size));
  return Readable.from(parts);
}

const kind = (k: string, re: RegExp) => (err: unknown): boolean => err instanceof EngineError && err.kind === k && re.test(err.message);

void test('workerLayer: gzip and plain layers unpack on at most two workers, with their DiffIDs; the lowers may come later', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  const lower = `${dir}/lower`;
  await mkdir(`${lower}/etc`, { recursive: true });
  await writeFile(`${lower}/etc/base`, 'from the lower layer');
  const big = randomBytes(3 * 1024 * 1024);
  const tars = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      tarOf([
        { name: 'etc/', type: 'directory', mode: 0o750, uid: 3 },
        { name: `etc/f${i}`, data: `file ${i}`, mode: 0o640, uid: 5, gid: 6 },
        { name: `big${i}`, data: big },
        { name: 'link', type: 'link', linkname: 'etc/base' }, // a file only the lower layer has
      ]),
    ),
  );
  let giveLowers!: (l: readonly string[]) => void;
  const lowers = new Promise<readonly string[]>((resolve) => (giveLowers = resolve));
  const dests = await Promise.all(tars.map(async (_, i) => mkdir(`${dir}/d${i}`).then(() => `${dir}/d${i}`)));
  const results = Promise.all(tars.map((tar, i) => workerLayer(chunks(i % 2 === 0 ? gzipSync(tar) : tar), `layer ${i}`).unpack(dests[i]!, lowers)));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(unpackWorkerCount(), 2);
  giveLowers([lower]);
  const got = await results;
  for (const [i, tar] of tars.entries()) {
    assert.deepEqual(got[i], { diffId: sha256(tar), size: tar.length });
    const d = dests[i]!;
    assert.equal(await readFile(`${d}/etc/f${i}`, 'utf8'), `file ${i}`);
    assert.ok(big.equals(await readFile(`${d}/big${i}`)));
    assert.equal(await readFile(`${d}/link`, 'utf8'), 'from the lower layer');
    const st = await stat(`${d}/etc/f${i}`);
    assert.deepEqual({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid }, { mode: 0o640, uid: 5, gid: 6 });
  }
  // Only hashing: the DiffID, nothing written.
  const tar = tars[0]!;
  assert.deepEqual(await workerLayer(chunks(gzipSync(tar)), 'again').unpack(null, Promise.resolve([])), { diffId: sha256(tar), size: tar.length });
});

void test('whenUnpackWorkersGone is told once the last worker has stopped, not before', async (t) => {
  let gone = 0;
  whenUnpackWorkersGone(() => gone++);
  t.after(() => whenUnpackWorkersGone(() => undefined));
  const tar = await tarOf([{ name: 'f', data: 'x' }]);
  assert.deepEqual(await workerLayer(chunks(tar), 'one').unpack(null, Promise.resolve([])), { diffId: sha256(tar), size: tar.length });
  assert.equal(unpackWorkerCount(), 1);
  assert.equal(gone, 0, 'the worker stays a while');
  await stopIdleUnpackWorkers();
  assert.equal(unpackWorkerCount(), 0);
  assert.equal(gone, 1);
  await stopIdleUnpackWorkers();
  assert.equal(gone, 1, 'no worker stopped: nothing to tell');
});

void test('workerLayer: a corrupt gzip stream and a tar that climbs out fail with invalid, and nothing is written outside', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  await mkdir(`${dir}/a`);
  const good = gzipSync(await tarOf([{ name: 'f', data: 'x'.repeat(100_000) }]));
  const corrupt = Buffer.concat([good.subarray(0, 30), Buffer.alloc(200, 7), good.subarray(230)]);
  await assert.rejects(workerLayer(chunks(corrupt, 1000), 'layer sha256:bad').unpack(`${dir}/a`, Promise.resolve([])), kind('invalid', /layer sha256:bad: corrupt gzip stream/));
  await mkdir(`${dir}/cut`);
  const cut = good.subarray(0, good.length - 5);
  await assert.rejects(workerLayer(chunks(cut, 1000), 'layer sha256:cut').unpack(`${dir}/cut`, Promise.resolve([])), kind('invalid', /layer sha256:cut: corrupt gzip stream: unexpected end of data/));
  await mkdir(`${dir}/b/inside`, { recursive: true });
  const hostile = await tarOf([{ name: 'ok', data: 'fine' }, { name: '../escaped', data: 'no' }]);
  await assert.rejects(workerLayer(chunks(gzipSync(hostile)), 'hostile').unpack(`${dir}/b/inside`, Promise.resolve([])), kind('invalid', /outside the layer/));
  assert.deepEqual(await readdir(`${dir}/b`), ['inside']);
});

void test('workerLayer: an error of the blob stream, destroy() and a failed parent stop the unpacking with their own reason', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  const tar = await tarOf([{ name: 'big', data: randomBytes(2 * 1024 * 1024) }]);

  // The download breaks halfway.
  const broken = new Error('connection reset');
  const source = new Readable({ read() {} });
  source.push(tar.subarray(0, 100_000));
  setTimeout(() => source.destroy(broken), 50);
  await mkdir(`${dir}/1`);
  await assert.rejects(workerLayer(source, 'l1').unpack(`${dir}/1`, Promise.resolve([])), (err) => err === broken);

  // It broke before the unpacking even started.
  const early = new Readable({ read() {} });
  const earlyLayer = workerLayer(early, 'l2');
  const earlyErr = new Error('gone early');
  early.destroy(earlyErr);
  await new Promise((r) => setImmediate(r));
  await mkdir(`${dir}/2`);
  await assert.rejects(earlyLayer.unpack(`${dir}/2`, Promise.resolve([])), (err) => err === earlyErr);

  // Cancelled while it runs: the source stalls, then the layer is given up.
  const stalled = new Readable({ read() {} });
  stalled.push(tar.subarray(0, 50_000));
  const layer = workerLayer(stalled, 'l3');
  await mkdir(`${dir}/3`);
  const running = layer.unpack(`${dir}/3`, Promise.resolve([]));
  const cancel = new Error('pull cancelled');
  setTimeout(() => layer.destroy(cancel), 50);
  await assert.rejects(running, (err) => err === cancel);

  // The parent layer failed.
  const parentFailed = new Error('parent layer: digest mismatch');
  await mkdir(`${dir}/4`);
  await assert.rejects(workerLayer(chunks(tar), 'l4').unpack(`${dir}/4`, Promise.reject(parentFailed)), (err) => err === parentFailed);

  // Destroyed before unpack(): the blob is released, unpack() fails with the reason.
  const unused = chunks(tar);
  const dropped = workerLayer(unused, 'l5');
  const why = new Error('not needed');
  dropped.destroy(why);
  assert.equal(unused.destroyed, true);
  await assert.rejects(dropped.unpack(`${dir}/4`, Promise.resolve([])), (err) => err === why);
});

void test('workerLayer: the blob is read only a few MiB ahead of a worker that waits', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  await mkdir(`${dir}/lower`);
  await writeFile(`${dir}/lower/base`, 'lower');
  // A hard link to a lower file first: the worker waits for the lowers, 64 MiB of data behind it.
  const header = encodeHeader({ name: 'link', type: 'link', linkname: 'base', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 });
  const dataHeader = encodeHeader({ name: 'data', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 64 * 1024 * 1024, mtime: 0 });
  let produced = 0;
  const total = 64 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let sent = 0;
  const source = new Readable({
    read() {
      if (sent === 0) this.push(Buffer.concat([header, dataHeader]));
      if (sent < total) {
        sent += chunk.length;
        produced += chunk.length;
        this.push(chunk);
      } else if (sent === total) {
        sent++;
        this.push(END_OF_ARCHIVE);
        this.push(null);
      }
    },
  });
  let giveLowers!: (l: readonly string[]) => void;
  const lowers = new Promise<readonly string[]>((resolve) => (giveLowers = resolve));
  await mkdir(`${dir}/d`);
  const running = workerLayer(source, 'waits').unpack(`${dir}/d`, lowers);
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(produced <= 12 * 1024 * 1024, `read ${produced} bytes ahead`);
  giveLowers([`${dir}/lower`]);
  const r = await running;
  assert.equal(r.size, 2 * 512 + total + 1024);
  assert.equal((await stat(`${dir}/d/data`)).size, total);
  assert.equal(await readFile(`${dir}/d/link`, 'utf8'), 'lower');
});

void test('workerLayer: with transfer, chunks that own their memory are handed to the worker, others copied', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  const tar = await tarOf([{ name: 'f', data: randomBytes(300_000) }]);
  const owned: Buffer[] = [];
  const cuts = [0, 100_000, 200_000, tar.length - 1024];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const b = Buffer.allocUnsafe(cuts[i + 1]! - cuts[i]!); // large: an ArrayBuffer of its own
    tar.copy(b, 0, cuts[i], cuts[i + 1]);
    owned.push(b);
  }
  const pooled = Buffer.from(tar.subarray(tar.length - 1024)); // a slice of node's shared pool
  assert.notEqual(pooled.byteLength, pooled.buffer.byteLength);
  await mkdir(`${dir}/d`);
  const r = await workerLayer(Readable.from([...owned, pooled]), 'moved', { transfer: true }).unpack(`${dir}/d`, Promise.resolve([]));
  assert.deepEqual(r, { diffId: sha256(tar), size: tar.length });
  assert.ok(owned.every((b) => b.length === 0), 'handed over');
  assert.equal(pooled.length, 1024, 'copied');
  assert.ok((await readFile(`${dir}/d/f`)).equals(tar.subarray(512, 512 + 300_000)));
});

void test('workerLayer with store: the worker writes the blob as it comes, and tells its digest before the layer is done', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  const tar = await tarOf([{ name: 'f', data: randomBytes(2 * 1024 * 1024) }]);
  const blob = gzipSync(tar);
  await mkdir(`${dir}/d`);
  const source = workerLayer(chunks(blob), 'stored layer', { store: { path: `${dir}/blob`, durable: true } });
  let storedFirst = false;
  const stored = source.stored!.then((info) => {
    storedFirst = true;
    return info;
  });
  const result = await source.unpack(`${dir}/d`, Promise.resolve([]));
  assert.ok(storedFirst, 'stored settles before the unpacking');
  assert.deepEqual(result, { diffId: sha256(tar), size: tar.length });
  assert.deepEqual(await stored, { digest: sha256(blob), size: blob.length });
  assert.ok(blob.equals(await readFile(`${dir}/blob`)));
  assert.equal((await stat(`${dir}/blob`)).mode & 0o777, 0o444);
});

void test('workerLayer with store: a broken layer still stores its blob to the end (its digest names a wrong blob); a stop rejects both', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  // Valid gzip of a cut tar, followed by more of the blob: the tar fails long before the blob ends.
  const tar = await tarOf([{ name: 'f', data: randomBytes(4 * 1024 * 1024) }]);
  const blob = gzipSync(tar.subarray(0, 1024 * 1024));
  const source = workerLayer(chunks(blob, 16 * 1024), 'broken layer', { store: { path: `${dir}/blob`, durable: false } });
  await mkdir(`${dir}/d`);
  const unpacked = source.unpack(`${dir}/d`, Promise.resolve([]));
  assert.deepEqual(await source.stored, { digest: sha256(blob), size: blob.length });
  await assert.rejects(unpacked, kind('invalid', /unexpected end of data/));
  assert.ok(blob.equals(await readFile(`${dir}/blob`)));

  // Stopped mid-way: neither settles with success, and the file is closed (removable).
  const slow = new Readable({ read() {} });
  slow.push(gzipSync(tar).subarray(0, 100_000));
  const stopped = workerLayer(slow, 'stopped layer', { store: { path: `${dir}/blob2`, durable: true } });
  await mkdir(`${dir}/d2`);
  const unpacking = stopped.unpack(`${dir}/d2`, Promise.resolve([]));
  await new Promise((r) => setTimeout(r, 100));
  stopped.destroy(new Error('stop now'));
  await assert.rejects(unpacking, /stop now/);
  await assert.rejects(stopped.stored!, /stop now/);
  const open = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  assert.ok(!open.includes(`${dir}/blob2`), 'the blob file is closed');
  await rm(`${dir}/blob2`);
  // A layer source destroyed before it started rejects its stored blob too.
  const never = workerLayer(chunks(blob), 'never started', { store: { path: `${dir}/blob3`, durable: true } });
  never.destroy(new Error('not wanted'));
  await assert.rejects(never.stored!, /not wanted/);
});

void test('workerLayer GETs a blob itself: follows a redirect without the credentials once it leaves the registry, stores and unpacks it; errors keep their status or code', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  const dir = await tempDir(t);
  const tar = await tarOf([{ name: 'f', data: randomBytes(3 * 1024 * 1024) }]);
  const blob = gzipSync(tar);
  const seen: Array<{ server: string; url: string; auth: string | undefined }> = [];
  const listen = async (name: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> => {
    const server = createServer((req, res) => {
      seen.push({ server: name, url: req.url ?? '', auth: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const cdn = await listen('cdn', (_req, res) => {
    res.writeHead(200, { 'content-length': blob.length });
    res.end(blob);
  });
  const registry = await listen('registry', (req, res) => {
    if (req.headers.authorization !== 'Bearer secret') {
      res.writeHead(401).end();
    } else if (req.url === '/blob') {
      res.writeHead(307, { location: `${cdn}/signed?x=1` }).end();
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 100_000), () => res.socket?.destroy());
    } else {
      res.writeHead(404).end();
    }
  });
  const fetchOf = (path: string, size = blob.length): BlobFetch => ({ url: `${registry}${path}`, headers: { authorization: 'Bearer secret' }, origin: registry, size });

  await mkdir(`${dir}/d`);
  let progressed = 0;
  const got = workerLayer(fetchOf('/blob'), 'fetched layer', { store: { path: `${dir}/blob`, durable: true }, onProgress: (n) => (progressed += n) });
  assert.deepEqual(await got.unpack(`${dir}/d`, Promise.resolve([])), { diffId: sha256(tar), size: tar.length });
  assert.deepEqual(await got.stored, { digest: sha256(blob), size: blob.length });
  assert.ok(blob.equals(await readFile(`${dir}/blob`)));
  assert.equal(progressed, blob.length);
  assert.deepEqual(
    seen.map((s) => [s.server, s.url, s.auth]),
    [['registry', '/blob', 'Bearer secret'], ['cdn', '/signed?x=1', undefined]],
  );

  const failing = async (path: string, size: number, check: (err: unknown) => boolean): Promise<void> => {
    const name = path.slice(1) + String(size);
    await mkdir(`${dir}/${name}`);
    const source = workerLayer(fetchOf(path, size), `layer ${name}`, { store: { path: `${dir}/${name}.blob`, durable: true } });
    await assert.rejects(source.unpack(`${dir}/${name}`, Promise.resolve([])), check);
    await assert.rejects(source.stored!, check);
  };
  await failing('/missing', blob.length, (err) => (err as { status?: number }).status === 404);
  await failing('/cut', blob.length, (err) => (err as { code?: string }).code === 'ECONNRESET');
  await failing('/blob', blob.length - 10, kind('invalid', /size mismatch: more than the expected/));
  await failing('/blob', blob.length + 10, kind('invalid', /size mismatch: expected \d+ bytes, got \d+/));
});

void test('warmUnpackWorkers starts the workers a pull will need, at most the pool, and idle ones stop as usual', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  await stopIdleUnpackWorkers();
  warmUnpackWorkers(0);
  assert.equal(unpackWorkerCount(), 0);
  warmUnpackWorkers(1);
  assert.equal(unpackWorkerCount(), 1);
  warmUnpackWorkers(5);
  assert.equal(unpackWorkerCount(), 2);
  // A warmed worker takes the next layer.
  const tar = await tarOf([{ name: 'f', data: 'x' }]);
  assert.deepEqual(await workerLayer(chunks(tar), 'one').unpack(null, Promise.resolve([])), { diffId: sha256(tar), size: tar.length });
  assert.equal(unpackWorkerCount(), 2);
  await stopIdleUnpackWorkers();
  assert.equal(unpackWorkerCount(), 0);
});

void test('planUnpack spreads the largest layers first over the workers, and counts the bytes a worker has still to get', async (t) => {
  t.after(() => stopIdleUnpackWorkers());
  await stopIdleUnpackWorkers();
  // A large base layer among smaller ones gets a worker of its own (given one by one to the
  // worker with the fewest layers, it would share one with three of them).
  const plan = planUnpack([211, 49, 24, 64, 0, 6, 20, 3]);
  assert.equal(unpackWorkerCount(), 2);
  assert.equal(plan[4], undefined, 'a layer that is not unpacked has no worker');
  const base = plan[0]!.threadId;
  const others = plan.flatMap((p, i) => (i === 0 || p === undefined ? [] : [p.threadId]));
  assert.equal(others.length, 6);
  assert.ok(others.every((id) => id !== base && id === others[0]), JSON.stringify({ base, others }));
  // The largest first: the last layer, as large as the two before it together, goes alone.
  const last = planUnpack([1, 1, 2]).map((p) => p!.threadId);
  assert.ok(last[0] === last[1] && last[2] !== last[0], JSON.stringify(last));
  // Four equal layers and a small one: two each, the small one beside two.
  const even = planUnpack([1, 37, 37, 37, 37]).map((p) => p!.threadId);
  assert.deepEqual([...new Set(even)].map((id) => even.filter((x) => x === id).length).sort(), [2, 3]);

  // A layer still coming counts for its worker: the next plan puts a layer on the other one.
  const tar = await tarOf([{ name: 'f', data: randomBytes(200_000) }]);
  const held = new PassThrough();
  held.write(tar.subarray(0, 10_000));
  const running = workerLayer(held, 'held', { placement: plan[0], size: tar.length }).unpack(null, Promise.resolve([]));
  const next = planUnpack([5]);
  assert.notEqual(next[0]!.threadId, base);
  held.end(tar.subarray(10_000));
  assert.deepEqual(await running, { diffId: sha256(tar), size: tar.length });
  // Once it is in, both workers are free again; a placed layer unpacks as any other.
  const small = await tarOf([{ name: 'g', data: 'y' }]);
  assert.deepEqual(await workerLayer(chunks(small), 'placed', { placement: next[0] }).unpack(null, Promise.resolve([])), { diffId: sha256(small), size: small.length });
  assert.equal(planUnpack([7, 7]).filter((p) => p!.threadId === base).length, 1);
});
