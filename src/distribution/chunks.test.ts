import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { coalesce, oneAfterTheOther } from './chunks.js';

async function readAll(s: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) out.push(c);
  return out;
}

void test('oneAfterTheOther: the second consumer gets each chunk only once the first is done with it', async () => {
  const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i));
  const { first, second } = oneAfterTheOther(Readable.from(parts), 1);
  const events: string[] = [];
  second.on('data', (c: Buffer) => events.push(`second ${c[0]}`));
  const secondDone = new Promise((resolve) => second.on('end', resolve));
  for await (const chunk of first) {
    events.push(`first ${chunk[0]}`);
    await new Promise((r) => setTimeout(r, 2)); // the store writing it
    events.push(`first done ${chunk[0]}`);
  }
  await secondDone;
  for (let i = 0; i < parts.length; i++) {
    assert.ok(events.indexOf(`first done ${i}`) < events.indexOf(`second ${i}`), events.join(', '));
  }
  assert.equal(events.filter((e) => e.startsWith('second')).length, parts.length);
});

void test('oneAfterTheOther: an error of the source fails both; either consumer stopping stops the other', async () => {
  const boom = new Error('connection reset');
  const src = new Readable({ read() {} });
  src.push(Buffer.from('abc'));
  const a = oneAfterTheOther(src);
  const secondFailed = assert.rejects(readAll(a.second), (err) => err === boom);
  setTimeout(() => src.destroy(boom), 20);
  await assert.rejects(
    (async () => {
      for await (const _ of a.first) {
        // store
      }
    })(),
    (err) => err === boom,
  );
  await secondFailed;

  // The first consumer gives up (the store saw a size mismatch).
  const b = oneAfterTheOther(Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]));
  const secondStopped = assert.rejects(readAll(b.second), /stream consumer stopped early/);
  for await (const _ of b.first) break;
  await secondStopped;

  // The second consumer gives up (the unpacking failed): the source and the first stop.
  const src3 = new Readable({ read() {} });
  const c = oneAfterTheOther(src3);
  c.second.on('error', () => undefined);
  setTimeout(() => c.second.destroy(new Error('corrupt layer')), 20);
  src3.push(Buffer.from('x'));
  await assert.rejects(
    (async () => {
      for await (const _ of c.first) {
        // store
      }
    })(),
    /stream consumer stopped early|corrupt layer/,
  );
  assert.equal(src3.destroyed, true);
});

void test('coalesce: chunks of at least the size asked for, counted, and read one by one even when several wait', async () => {
  let counted = 0;
  let ended = 0;
  const c = coalesce(256 * 1024, { add: (n) => (counted += n), end: () => ended++ });
  for (let i = 0; i < 10; i++) c.write(Buffer.alloc(64 * 1024, i));
  c.end();
  await new Promise((r) => setTimeout(r, 20)); // all of it waits in the stream now
  const sizes: number[] = [];
  for await (const chunk of c as AsyncIterable<Buffer>) sizes.push(chunk.length);
  assert.deepEqual(sizes, [256 * 1024, 256 * 1024, 128 * 1024]);
  assert.equal(counted, 640 * 1024);
  assert.equal(ended, 1);
});
