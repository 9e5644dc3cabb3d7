import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test, type TestContext } from 'node:test';
import { EngineError } from '../errors.js';
import { LocalContentStore } from './local.js';

const sha = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function store(t: TestContext): Promise<{ root: string; cs: LocalContentStore }> {
  const root = await mkdtemp(join(tmpdir(), 'pcs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return { root, cs: new LocalContentStore(root) };
}

function kindOf(kind: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    if (message) assert.match(err.message, message);
    return true;
  };
}

void test('put stores a blob under its digest and reads it back', async (t) => {
  const { root, cs } = await store(t);
  const info = await cs.put('hello');
  assert.deepEqual(info, { digest: sha('hello'), size: 5 });
  const hex = info.digest.slice(7);
  assert.equal(await readFile(join(root, 'content/blobs/sha256', hex), 'utf8'), 'hello');
  assert.equal(await cs.has(info.digest), true);
  assert.deepEqual(await cs.info(info.digest), info);
  assert.equal((await cs.read(info.digest)).toString(), 'hello');
  assert.equal(await cs.path(info.digest), join(root, 'content/blobs/sha256', hex));
  assert.equal(await text(await cs.createReadStream(info.digest)), 'hello');
  assert.deepEqual(await cs.list(), [info]);
});

void test('ingest hashes a multi-chunk stream and checks the expected digest and size', async (t) => {
  const { cs } = await store(t);
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
  const whole = Buffer.concat(chunks);
  const info = await cs.ingest(Readable.from(chunks), { expectedDigest: sha(whole), expectedSize: whole.length });
  assert.deepEqual(info, { digest: sha(whole), size: whole.length });
  assert.deepEqual(await cs.read(info.digest), whole);
  // Storing it again is fine and changes nothing.
  assert.deepEqual(await cs.ingest(Readable.from(chunks)), info);
  assert.equal((await cs.list()).length, 1);
});

void test('a digest mismatch is invalid and leaves nothing behind', async (t) => {
  const { root, cs } = await store(t);
  const wrong = sha('something else');
  await assert.rejects(cs.put('hello', { expectedDigest: wrong }), kindOf('invalid', /digest mismatch/));
  assert.equal(await cs.has(sha('hello')), false);
  assert.equal(await cs.has(wrong), false);
  assert.deepEqual(await readdir(join(root, 'content/ingest')), []);
  assert.deepEqual(await cs.list(), []);
});

void test('a size mismatch is invalid, too short or too long', async (t) => {
  const { root, cs } = await store(t);
  await assert.rejects(cs.put('hello', { expectedSize: 4 }), kindOf('invalid', /size mismatch/));
  await assert.rejects(cs.put('hello', { expectedSize: 6 }), kindOf('invalid', /size mismatch: expected 6 bytes, got 5/));
  assert.deepEqual(await readdir(join(root, 'content/ingest')), []);
  assert.deepEqual(await cs.list(), []);
});

void test('a failing source fails the ingest with its error and removes the temp file', async (t) => {
  const { root, cs } = await store(t);
  let sent = false;
  const broken = new Readable({
    read() {
      if (!sent) this.push(Buffer.from('partial data'));
      else this.destroy(new Error('connection reset'));
      sent = true;
    },
  });
  await assert.rejects(cs.ingest(broken), /connection reset/);
  assert.deepEqual(await readdir(join(root, 'content/ingest')), []);
  assert.deepEqual(await cs.list(), []);
});

void test('missing blobs are notFound, malformed digests invalid', async (t) => {
  const { cs } = await store(t);
  const missing = sha('nope');
  const nf = kindOf('notFound', new RegExp(`^blob ${missing} not found$`));
  await assert.rejects(cs.read(missing), nf);
  await assert.rejects(cs.info(missing), nf);
  await assert.rejects(cs.path(missing), nf);
  await assert.rejects(cs.createReadStream(missing), nf);
  await assert.rejects(cs.delete(missing), nf);
  assert.equal(await cs.has(missing), false);
  for (const bad of ['sha256:abc', 'md5:' + 'a'.repeat(64), 'sha256:' + 'A'.repeat(64), `sha256:${'a'.repeat(63)}/`, '../../etc/passwd']) {
    await assert.rejects(cs.has(bad), kindOf('invalid', /invalid digest/), bad);
    await assert.rejects(cs.read(bad), kindOf('invalid'), bad);
  }
  await assert.rejects(cs.put('x', { expectedDigest: 'sha256:zz' }), kindOf('invalid'));
});

void test('delete removes a blob', async (t) => {
  const { cs } = await store(t);
  const a = await cs.put('a');
  const b = await cs.put('b');
  await cs.delete(a.digest);
  assert.equal(await cs.has(a.digest), false);
  assert.deepEqual(await cs.list(), [b]);
});

void test('prepareIngest: a blob written elsewhere is committed when its digest and size are the expected ones, else removed', async (t) => {
  const { root, cs } = await store(t);
  const data = Buffer.from('written by a worker');
  const ok = await cs.prepareIngest({ expectedDigest: sha(data), expectedSize: data.length });
  await writeFile(ok.path, data, { flag: 'wx', mode: 0o444 });
  assert.deepEqual(await ok.commit({ digest: sha(data), size: data.length }), { digest: sha(data), size: data.length });
  assert.equal(await cs.read(sha(data)).then((b) => b.toString()), 'written by a worker');
  await assert.rejects(ok.discard(), kindOf('internal', /twice/));

  const wrong = await cs.prepareIngest({ expectedDigest: sha('other'), expectedSize: data.length });
  await writeFile(wrong.path, data);
  await assert.rejects(wrong.commit({ digest: sha(data), size: data.length }), kindOf('invalid', /digest mismatch/));
  const short = await cs.prepareIngest({ expectedSize: 100 });
  await writeFile(short.path, data);
  await assert.rejects(short.commit({ digest: sha(data), size: data.length }), kindOf('invalid', /size mismatch/));
  const dropped = await cs.prepareIngest();
  await writeFile(dropped.path, data);
  await dropped.discard();
  assert.deepEqual(await readdir(join(root, 'content', 'ingest')), []);
});
