import { Transform } from 'node:stream';

/**
 * Chunks handed on at once by the download (the socket reads about 64 KiB at a time): each
 * chunk costs the event loop a thread-pool round trip in the content store's write and in the
 * decompressor, and those hand-offs, not the bytes, are what a fast pull pays for.
 */
export const COALESCE_BYTES = 1024 * 1024;
/** What a download may read ahead of its two consumers (per layer), so the socket keeps flowing while they work. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * A pass-through that hands on its input in chunks of at least `bytes` (the last one may be
 * smaller), holding up to READ_AHEAD_BYTES for a consumer that is busy.
 */
export function coalesce(bytes: number): Transform {
  let pending: Buffer[] = [];
  let size = 0;
  return new Transform({
    readableHighWaterMark: READ_AHEAD_BYTES,
    transform(chunk: Buffer, _enc, cb) {
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
      cb(null, size > 0 ? Buffer.concat(pending, size) : undefined);
    },
  });
}
