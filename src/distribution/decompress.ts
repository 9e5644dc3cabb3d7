import { createRequire } from 'node:module';
import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EngineError, invalid } from '../errors.js';
import { peek, sniff } from '../images/streams.js';
import { gunzip } from '../util/gzip.js';

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

/** Undo gzip or zstd (told by the first bytes, whatever the media type says). */
export async function uncompressed(source: Readable, what: string): Promise<Readable> {
  const { head, stream } = await peek(source, 6);
  return uncompressedAs(stream, head, what);
}

/**
 * Undo gzip or zstd on `source`, whose first bytes (at least six, unless it is shorter) are
 * `head`, known without reading them off the stream (as `uncompressed` does with peek).
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
