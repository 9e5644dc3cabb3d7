import { PassThrough, Readable } from 'node:stream';
import { invalid } from '../errors.js';
import { gunzip } from '../util/gzip.js';

/** Stream helpers of the images part: compression sniffing and a two-way tee with backpressure. */

export type Compression = 'none' | 'gzip';

/**
 * Look at the first bytes of a stream and undo gzip when they say so. Returns a stream of the
 * uncompressed bytes (the original one, with the peeked bytes put back, when it is plain).
 * zstd, bzip2 and xz are recognized and refused with `invalid`. A corrupt gzip stream fails
 * the returned stream with `invalid`.
 */
export async function decompressed(source: Readable, what = 'layer'): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream } = await peek(source, 6);
  const kind = sniff(head);
  if (kind === 'zstd' || kind === 'bzip2' || kind === 'xz') {
    stream.destroy();
    throw invalid(`${what}: ${kind} compression is not supported`);
  }
  if (kind !== 'gzip') return { stream, compression: 'none' };
  return { stream: gunzip(stream, { what }), compression: 'gzip' };
}

export function sniff(head: Uint8Array): 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  return 'none';
}

/**
 * Read at least `n` bytes (fewer when the stream is shorter) and return them with a stream
 * that reads exactly as the source would have: the peeked bytes, then the rest, pulled on
 * demand. Destroying the returned stream destroys the source; errors of the source reach it.
 */
export async function peek(source: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < n) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    chunks.push(buf);
    size += buf.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest(): AsyncGenerator<Buffer> {
    let finished = ended;
    try {
      if (head.length > 0) yield head;
      while (!finished) {
        const r = await it.next();
        if (r.done === true) {
          finished = true;
          return;
        }
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      if (!finished) await it.return?.();
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

/**
 * Split one stream into two that each see every byte. The source is read only as fast as the
 * slower branch consumes (never buffered whole). An error of the source destroys both
 * branches; destroying a branch early (its consumer failed) destroys the source and the other.
 */
export function tee(source: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough();
  const b = new PassThrough();
  let waiting = 0;
  const resumeWhenDrained = (): void => {
    waiting--;
    if (waiting === 0) source.resume();
  };
  source.on('data', (chunk: Buffer) => {
    const okA = a.write(chunk);
    const okB = b.write(chunk);
    if (!okA || !okB) {
      source.pause();
      if (!okA) {
        waiting++;
        a.once('drain', resumeWhenDrained);
      }
      if (!okB) {
        waiting++;
        b.once('drain', resumeWhenDrained);
      }
    }
  });
  source.resume();
  source.on('end', () => {
    a.end();
    b.end();
  });
  source.on('error', (err) => {
    a.destroy(err);
    b.destroy(err);
  });
  const onBranchClose = (branch: PassThrough, other: PassThrough) => (): void => {
    if (!branch.writableFinished) {
      const err = new Error('stream consumer stopped early');
      source.destroy(err);
      other.destroy(err);
    }
  };
  a.on('close', onBranchClose(a, b));
  b.on('close', onBranchClose(b, a));
  // A branch's error reaches whoever reads it; a branch nobody reads any more (its consumer
  // already failed and reported) has no one left to tell.
  const ignore = (): void => undefined;
  a.on('error', ignore);
  b.on('error', ignore);
  return [a, b];
}

/** Read and discard whatever a consumer left unread (a tar's trailing padding), so a tee never stalls. */
export function drain(stream: Readable): void {
  if (!stream.readableEnded) stream.resume();
}
