import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EngineError } from '../errors.js';
import { defaultGunzipEngine, defaultGzipEngine, gunzip, gzip, type GunzipEngine } from './gzip.js';

/**
 * The same cases run against every engine; ISA-L's (the library in-process for gunzip, the
 * igzip program) only where it is installed (scripts/setup.sh installs it). The in-process
 * engine only decodes: its cases compress with igzip.
 */

/** Compressible bytes: base64 of random data, as layers of text compress. */
function sample(size: number): Buffer {
  return Buffer.from(randomBytes(Math.ceil((size * 3) / 4)).toString('base64')).subarray(0, size);
}

/** A source that yields `buf` in chunks of `chunk` bytes and counts what was pulled. */
function source(buf: Buffer, chunk = 64 * 1024): Readable & { pulled: number } {
  let offset = 0;
  const r = new Readable({
    read() {
      if (offset >= buf.length) {
        this.push(null);
        return;
      }
      const part = buf.subarray(offset, offset + chunk);
      offset += part.length;
      r.pulled = offset;
      this.push(part);
    },
  }) as Readable & { pulled: number };
  r.pulled = 0;
  return r;
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The igzip processes this process started that still exist (zombies included: not reaped). */
function igzipChildren(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    let children = '';
    try {
      children = readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.split(' ').filter((s) => s !== '')) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'igzip') pids.push(Number(pid));
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return pids;
}

/** How many file descriptors this process has open. */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Wait until the open file descriptors are back to `n` (pipes close a tick after a process exits), at most 2 s. */
async function fdsBackTo(n: number): Promise<number> {
  for (let i = 0; i < 40 && openFds() > n; i++) await sleep(50);
  return openFds();
}

function whenClosed(r: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (r.closed) resolve();
    else r.once('close', () => resolve());
  });
}

const engines: GunzipEngine[] = defaultGzipEngine() === 'igzip' ? ['isal', 'igzip', 'zlib'] : ['zlib'];

test('igzip and ISA-L\'s library are found on this machine (deps/debian/distribution.txt installs isal)', () => {
  assert.equal(defaultGzipEngine(), 'igzip');
  assert.equal(defaultGunzipEngine(), 'isal');
});

for (const engine of engines) {
  const compressor = engine === 'isal' ? 'igzip' : engine;
  test(`${engine}: a few MB round trip, and node's zlib reads what gzip wrote`, async () => {
    const data = sample(5 * 1024 * 1024 + 123);
    const compressed = await collect(gzip(source(data), { engine: compressor }));
    assert.ok(compressed.length < data.length * 0.8, `compressed to ${compressed.length} of ${data.length}`);
    assert.ok(gunzipSync(compressed).equals(data));
    const back = await collect(gunzip(source(compressed, 10_000), { engine }));
    assert.ok(back.equals(data));
    assert.deepEqual(igzipChildren(), []);
  });

  test(`${engine}: gzip writes the same bytes for the same input, with no time in the header`, async () => {
    const data = sample(300_000);
    const a = await collect(gzip(source(data, 1000), { engine: compressor }));
    const b = await collect(gzip(source(data, 70_000), { engine: compressor }));
    assert.ok(a.equals(b));
    assert.equal(a.readUInt32LE(4), 0);
  });

  test(`${engine}: empty input round trip`, async () => {
    const compressed = await collect(gzip(Readable.from([]), { engine: compressor }));
    assert.equal(gunzipSync(compressed).length, 0);
    assert.equal((await collect(gunzip(source(compressed), { engine }))).length, 0);
  });

  test(`${engine}: gunzip reads concatenated members and ignores zero padding after them`, async () => {
    const a = sample(200_000);
    const b = sample(50_000);
    const members = Buffer.concat([gzipSync(a), gzipSync(b, { level: 9 })]);
    assert.ok((await collect(gunzip(source(members), { engine }))).equals(Buffer.concat([a, b])));
    const padded = Buffer.concat([members, Buffer.alloc(1024)]);
    assert.ok((await collect(gunzip(source(padded), { engine }))).equals(Buffer.concat([a, b])));
    // Cut anywhere: members, their headers and trailers split across chunks.
    const small = Buffer.concat([gzipSync(a.subarray(0, 3000)), gzipSync(b.subarray(0, 2000)), Buffer.alloc(3)]);
    for (const chunk of [1, 7, 4096]) {
      assert.ok((await collect(gunzip(source(small, chunk), { engine }))).equals(Buffer.concat([a.subarray(0, 3000), b.subarray(0, 2000)])), `chunks of ${chunk}`);
    }
  });

  test(`${engine}: corrupt input fails with invalid, and no process is left`, async () => {
    const good = gzipSync(sample(500_000));
    const corrupt = Buffer.concat([good.subarray(0, 200), randomBytes(5000)]);
    const truncated = good.subarray(0, good.length - 1000);
    const fds = openFds();
    const empty = Buffer.alloc(0);
    const garbageAfter = Buffer.concat([good, Buffer.alloc(10), Buffer.from('x')]);
    const badChecksum = Buffer.from(good);
    badChecksum[badChecksum.length - 8]! ^= 1;
    const cases = [corrupt, truncated, Buffer.from('not gzip at all'), badChecksum, ...(engine === 'isal' ? [empty, garbageAfter] : [])];
    for (const bad of cases) {
      await assert.rejects(collect(gunzip(source(bad), { engine, what: 'layer sha256:abc' })), (err: unknown) => {
        assert.ok(err instanceof EngineError, String(err));
        assert.equal(err.kind, 'invalid');
        assert.match(err.message, /^layer sha256:abc: corrupt gzip stream: \S/);
        if (engine === 'igzip') assert.match(err.message, /igzip: Error/);
        if (engine === 'isal') assert.match(err.message, /: (invalid|incorrect|unexpected end|data after)/);
        return true;
      });
      assert.deepEqual(igzipChildren(), []);
    }
    assert.equal(await fdsBackTo(fds), fds, 'no file descriptor left open');
  });

  test(`${engine}: a consumer that stops early destroys the input and leaves no process`, async () => {
    const fds = openFds();
    const data = sample(20 * 1024 * 1024);
    const compressed = gzipSync(data, { level: 1 });
    for (const [fn, bytes] of [[gzip, data], [gunzip, compressed]] as const) {
      const input = source(bytes);
      const out = fn === gzip ? gzip(input, { engine: compressor }) : gunzip(input, { engine });
      const it = (out as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      assert.equal((await it.next()).done, false);
      if ((fn === gzip ? compressor : engine) === 'igzip') assert.equal(igzipChildren().length, 1);
      out.destroy();
      await whenClosed(out);
      assert.deepEqual(igzipChildren(), []);
      assert.ok(input.destroyed, `${fn.name}: input destroyed`);
      assert.ok(input.pulled < bytes.length, `${fn.name}: read ${input.pulled} of ${bytes.length}`);
    }
    assert.equal(await fdsBackTo(fds), fds, 'no file descriptor left open');
  });

  test(`${engine}: an error of the input reaches the output as it is, and no process is left`, async () => {
    const boom = new EngineError('notFound', 'blob gone');
    const input = new Readable({ read() {} });
    input.push(gzipSync(sample(1024 * 1024)).subarray(0, 100_000));
    const out = gunzip(input, { engine });
    setTimeout(() => input.destroy(boom), 50);
    await assert.rejects(collect(out), (err: unknown) => err === boom);
    await whenClosed(out);
    assert.deepEqual(igzipChildren(), []);
  });

  test(`${engine}: the input is read only as fast as the output is consumed`, async () => {
    const size = 32 * 1024 * 1024;
    const data = sample(size);
    const compressed = gzipSync(data, { level: 1 });
    for (const [fn, bytes] of [[gzip, data], [gunzip, compressed]] as const) {
      const input = source(bytes);
      const out = fn === gzip ? gzip(input, { engine: compressor }) : gunzip(input, { engine });
      await sleep(300);
      assert.ok(input.pulled < 8 * 1024 * 1024, `${fn.name} read ${input.pulled} bytes ahead of a consumer that reads nothing`);
      const result = await collect(out);
      assert.equal(input.pulled, bytes.length);
      assert.equal(fn === gzip ? gunzipSync(result).length : result.length, size);
    }
  });
}

test('node zlib is the default engine with PIER_IGZIP=0, without igzip on PATH, or with one that does not run; PIER_ISAL=0 gunzips through igzip', async (t) => {
  // This test runs from src/ (through tsx) and from the build in dist/.
  const fromSource = import.meta.url.endsWith('.ts');
  const module = fileURLToPath(new URL(fromSource ? './gzip.ts' : './gzip.js', import.meta.url));
  const script = `const m = await import(${JSON.stringify(module)}); process.stdout.write(m.defaultGzipEngine() + ' ' + m.defaultGunzipEngine());`;
  const args = [...(fromSource ? ['--import', 'tsx'] : []), '--input-type=module', '-e', script];
  const run = promisify(execFile);
  const forced = await run(process.execPath, args, { env: { ...process.env, PIER_IGZIP: '0' } });
  assert.equal(forced.stdout, 'zlib zlib');
  const plain = await run(process.execPath, args, { env: { ...process.env, PIER_IGZIP: '', PIER_ISAL: '' } });
  assert.equal(plain.stdout, 'igzip isal');
  const noLibrary = await run(process.execPath, args, { env: { ...process.env, PIER_ISAL: '0' } });
  assert.equal(noLibrary.stdout, 'igzip igzip');
  const dir = await mkdtemp(join(tmpdir(), 'pgz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const none = await run(process.execPath, args, { env: { ...process.env, PATH: dir, PIER_ISAL: '0' } });
  assert.equal(none.stdout, 'zlib zlib');
  await writeFile(join(dir, 'igzip'), '#!/bin/sh\necho "cannot execute: required file not found" >&2\nexit 127\n', { mode: 0o755 });
  const broken = await run(process.execPath, args, { env: { ...process.env, PATH: dir, PIER_ISAL: '0' } });
  assert.equal(broken.stdout, 'zlib zlib');
});
