import { createRequire } from 'node:module';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EngineError, invalid } from '../errors.js';
import { gunzip } from './gzip.js';

/**
 * pier's one decompressor: a stream's compression is told by its first bytes (whatever a
 * media type says); gzip (util/gzip.ts: ISA-L when installed) and zstd are undone, plain
 * bytes pass as they are, bzip2 and xz are refused with `invalid`. A corrupt stream fails the
 * output with `invalid` ("<what>: corrupt gzip stream: ..."); an error of the source reaches
 * the output as it is.
 */

export type Compression = 'none' | 'gzip' | 'zstd';

/** The compression that the first bytes of a stream announce. */
export function sniff(head: Uint8Array): 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  return 'none';
}

/** Bytes that tell every compression `sniff` knows (xz's magic number is the longest). */
export const SNIFF_BYTES = 6;

/**
 * Undo the compression of `source`: the uncompressed stream (the source itself, its first
 * bytes put back, when it is plain) and what the compression was.
 */
export async function decompressed(source: Readable, what = 'layer'): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream } = await peek(source, SNIFF_BYTES);
  const compression = sniff(head);
  return { stream: uncompressedAs(stream, head, what), compression: compression === 'gzip' || compression === 'zstd' ? compression : 'none' };
}

/** Undo the compression of `source` (see `decompressed`). */
export async function uncompressed(source: Readable, what: string): Promise<Readable> {
  return (await decompressed(source, what)).stream;
}

/**
 * Undo the compression of `stream`, whose first bytes (at least SNIFF_BYTES, unless it is
 * shorter) are `head`, known without reading them off the stream. Throws `invalid` (and
 * destroys the stream) for bzip2 and xz.
 */
export function uncompressedAs(stream: Readable, head: Uint8Array, what: string): Readable {
  const kind = sniff(head);
  if (kind === 'none') return stream;
  if (kind !== 'gzip' && kind !== 'zstd') {
    stream.destroy();
    throw invalid(`${what}: ${kind} compression is not supported`);
  }
  if (kind === 'gzip') return gunzip(stream, { what });
  const decoder = zstdDecompressor();
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  // Named before pipeline() destroys `out` with the decoder's bare error; the source's own errors pass as they are.
  let sourceFailed = false;
  stream.once('error', () => {
    sourceFailed = true;
  });
  decoder.once('error', (err) => {
    if (!sourceFailed && !(err instanceof EngineError)) out.destroy(invalid(`${what}: corrupt ${kind} stream: ${err.message}`, err));
  });
  pipeline(stream, decoder, out).catch((err: unknown) => {
    out.destroy(err instanceof EngineError ? err : invalid(`${what}: corrupt ${kind} stream: ${(err as Error).message}`, err));
  });
  return out;
}

const require = createRequire(import.meta.url);
let zstd: { DecompressStream: new () => Transform } | undefined;
/** zstd-napi, loaded on first use (a native module; kept out of the bundle). */
function zstdDecompressor(): Transform {
  if (!zstd) {
    const name = 'zstd-napi';
    zstd = require(name) as { DecompressStream: new () => Transform };
  }
  return new zstd.DecompressStream();
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
