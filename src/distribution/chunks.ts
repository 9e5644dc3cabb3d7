import { PassThrough, type Readable, Transform } from 'node:stream';
import { writable } from '../util/streams.js';

/**
 * Chunks handed on at once by the download (the socket reads about 64 KiB at a time): each
 * chunk costs the event loop a thread-pool round trip in the content store's write and in the
 * decompressor, and those hand-offs, not the bytes, are what a fast pull pays for.
 */
export const COALESCE_BYTES = 1024 * 1024;
/** What a download may read ahead of its two consumers (per layer), so the socket keeps flowing while they work. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;
/** READ_AHEAD_BYTES in chunks of COALESCE_BYTES. */
const READ_AHEAD_CHUNKS = 4;

/**
 * A pass-through that hands on its input in chunks of at least `bytes` (the last one may be
 * smaller), holding up to READ_AHEAD_CHUNKS of them for a consumer that is busy. `meter`,
 * when given, is told the size of each chunk that comes in, and the end (a progress counter).
 *
 * Its readable side is in object mode, one Buffer per read: a byte stream's `read()` (what
 * async iteration calls) joins every chunk it holds into one new buffer, a copy of megabytes.
 */
export function coalesce(bytes: number, meter?: { add(bytes: number): void; end(): void }): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  return new Transform({
    readableObjectMode: true,
    readableHighWaterMark: READ_AHEAD_CHUNKS,
    transform(chunk: Buffer, _enc, cb) {
      meter?.add(chunk.length);
      pending.push(chunk);
      size += chunk.length;
      if (size >= bytes) {
        const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
        pending = [];
        size = 0;
        cb(null, out);
        return;
      }
      cb();
    },
    flush(cb) {
      meter?.end();
      cb(null, size > 0 ? Buffer.concat(pending, size) : undefined);
    },
  });
}

/**
 * Split a download between two consumers, one after the other: each chunk of `source` goes to
 * `first` (an iterable, for the content store), then, once `first` asks for the next chunk
 * (so it is done with this one), to `second`. Nobody touches a chunk after `second` got it, so
 * its reader may take the chunk's memory over (hand it to a worker thread) without a copy.
 *
 * `source` is read only as fast as both take it (`second` holds at most its high-water mark).
 * An error of `source` fails `first`'s iteration and destroys `second` with it; `first`
 * stopping early destroys `second`; `second` destroyed before its end destroys `source`, so
 * `first` fails. `first` may be iterated once.
 */
export function oneAfterTheOther(source: Readable, secondHighWaterMark = READ_AHEAD_BYTES): { first: AsyncIterable<Buffer>; second: PassThrough } {
  const second = new PassThrough({ highWaterMark: secondHighWaterMark });
  // At once, not only while `first` is iterated: an error before that is handled too.
  source.on('error', (err) => second.destroy(err));
  second.on('close', () => {
    if (!second.writableFinished && !source.destroyed) source.destroy(new Error('stream consumer stopped early'));
  });
  async function* first(): AsyncGenerator<Buffer> {
    let finished = false;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        yield chunk;
        if (second.destroyed) throw second.errored ?? new Error('stream consumer stopped early');
        if (!second.write(chunk)) await writable(second);
      }
      finished = true;
      second.end();
    } catch (err) {
      second.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      if (!finished && !second.destroyed) second.destroy(new Error('stream consumer stopped early'));
    }
  }
  return { first: first(), second };
}
