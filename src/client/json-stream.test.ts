import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { jsonLines, jsonMessages, JsonStreamError } from './json-stream.js';

async function all<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of gen) out.push(v);
  return out;
}

describe('JSON message streams', () => {
  it('splits on \\n and \\r\\n, across chunk boundaries and inside multi-byte characters', async () => {
    const text = Buffer.from('{"status":"a"}\r\n{"status":"é…"}\n\n{"stream":"x\\n"}');
    const chunks = Array.from(text, (_, i) => text.subarray(i, i + 1));
    assert.deepEqual(await all(jsonMessages(Readable.from(chunks))), [{ status: 'a' }, { status: 'é…' }, { stream: 'x\n' }]);
  });

  it('throws errorDetail (and a bare legacy error) after the messages before it', async () => {
    const seen: unknown[] = [];
    const source = Readable.from(['{"status":"one"}\r\n{"errorDetail":{"message":"boom","code":1},"error":"boom"}\r\n{"status":"never"}\r\n']);
    await assert.rejects(
      (async () => {
        for await (const m of jsonMessages(source)) seen.push(m);
      })(),
      (err: unknown) => err instanceof JsonStreamError && err.message === 'boom' && err.code === 1,
    );
    assert.deepEqual(seen, [{ status: 'one' }]);
    await assert.rejects(all(jsonMessages(Readable.from(['{"error":"legacy"}\n']))), { message: 'legacy' });
  });

  it('names a line that is not JSON', async () => {
    await assert.rejects(all(jsonMessages(Readable.from(['{"status":"ok"}\nnot json\n']))), /invalid JSON in message stream: not json/);
  });

  it('jsonLines yields raw lines', async () => {
    assert.deepEqual(await all(jsonLines(Readable.from(['{"a":1}\r\n{"timeNano":1795801707123456789}']))), ['{"a":1}', '{"timeNano":1795801707123456789}']);
  });
});
