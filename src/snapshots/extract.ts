import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { invalid } from '../errors.js';
import { LowerView } from './lower.js';
import { createExtract, type TarEntryStream, type TarHeader } from '../util/tar-format.js';
import { isDestroyed, writable } from '../util/streams.js';
import { asError, LayerWriter } from './layer-writer.js';

/**
 * The layer extractor: unpacks an uncompressed OCI/Docker layer tar into an empty folder that
 * becomes one overlayfs layer.
 *
 * What it promises:
 * - **Containment.** Nothing outside `dest` is created, changed or removed, whatever the tar
 *   holds. Entry names are cleaned lexically (`a/../b` is `b`, a leading `/` is dropped); a
 *   name or hard-link target that climbs above the root (`../x`) rejects the layer with
 *   `invalid`. Symlinks already in the layer are never followed by the OS while a path is
 *   created: each parent component is checked with lstat, and a symlinked parent is resolved
 *   by pier as if `dest` were `/` (chroot semantics, as Docker does by unpacking in a chroot).
 *   So a layer holding `a -> /etc` then `a/passwd` writes `dest/etc/passwd`, never
 *   `/etc/passwd`; chains (`a -> b`, `b -> ../../..`) are contained the same way.
 *   The last component is never followed: whatever is there is replaced.
 * - **Whiteouts.** `.wh.<name>` becomes an overlay whiteout (char device 0/0 named `<name>`),
 *   `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its dir; other `.wh..wh.` names
 *   (aufs bookkeeping) are skipped. A whiteout for a path this same layer unpacked does not
 *   remove it (containerd's rule); a directory created over a whiteout becomes opaque.
 * - **Hard links** to entries of this layer are hard links. A hard link to a file that only a
 *   lower layer has (tars written by some tools do that) becomes a *copy* of the lower file
 *   (content, mode, owner, times, xattrs): the lower layer cannot be linked to, and a copy is
 *   what overlayfs's own copy-up would give. A hard link to a directory or to a missing file
 *   is `invalid`.
 * - **Implied folders** (an entry `a/b` with no entry `a/` before it) take the mode, owner and
 *   times the lower layers give that folder, else 0755 root; a later entry `a/` wins.
 * - **Metadata**: modes (with setuid/setgid/sticky), uid/gid, mtimes (directories' at the end,
 *   after their content), xattrs from PAX `SCHILY.xattr.*` (except `trusted.overlay.*`,
 *   which only pier sets). Devices and fifos are made with mknod.
 * - **DiffID**: the sha256 of every byte read from the stream, padding included.
 * - A truncated or corrupt tar fails with `invalid` (`layer tar: unexpected end of data`); an
 *   error of the stream itself reaches the caller unchanged. On failure `dest` is left
 *   half-written: the caller extracts into a temp folder and removes it.
 *
 * A tar cut exactly at an entry boundary (no end-of-archive blocks) cannot be told from a
 * complete one, as with Docker; the DiffID check of the image catches it.
 */

export interface ExtractResult {
  /** `sha256:<hex>` of the raw tar bytes. */
  diffId: string;
  /** Bytes read. */
  size: number;
}

export interface ExtractOptions {
  /**
   * false: large files are not handed to the disk as they are written (src/util/writeback.ts),
   * for a layer flushed later, after the pull (src/daemon/flush-behind.ts). Default true.
   */
  writeback?: boolean;
}

/**
 * Unpack `tar` into `dest`, an existing empty folder. `lowers` are the layer folders under it,
 * top-most first, consulted for hard links to lower files and for the metadata of folders
 * the tar implies without listing them.
 *
 * `lowers` may be a promise, for a layer whose parent is still being unpacked: the tar is read
 * and written at once all the same. Implied folders are made 0755 at once and take the lower
 * layers' metadata at the end; a hard link to a file only a lower layer has waits for the
 * promise (its stream waits meanwhile). Either way the result comes only once `lowers` is
 * known, and when the promise rejects the extraction fails with its reason.
 */
export async function extractLayer(
  tar: Readable,
  dest: string,
  lowers: readonly string[] | Promise<readonly string[]> = [],
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const hash = createHash('sha256');
  let size = 0;
  const ex = createExtract();
  let sourceError: unknown;
  let stopping = false;

  // Fed from 'data' events (an async iteration would cost a promise per chunk); settles once
  // the tar ended, failed or was given up.
  const feeding = new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      tar.off('data', onData);
      resolve();
    };
    const failed = (err: unknown): void => {
      if (done) return;
      if (!stopping) {
        sourceError = err;
        ex.destroy(asError(err));
      }
      finish();
    };
    const onData = (chunk: Buffer): void => {
      hash.update(chunk);
      size += chunk.length;
      if (stopping || isDestroyed(ex)) {
        finish();
        tar.destroy();
        return;
      }
      if (!ex.write(chunk)) {
        tar.pause();
        void writable(ex).then(() => {
          if (!done) tar.resume();
        });
      }
    };
    tar.on('data', onData);
    tar.on('error', failed);
    tar.once('end', () => {
      if (done) return;
      ex.end(null);
      finish();
    });
    tar.once('close', () => {
      if (!tar.readableEnded) failed(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  });

  let tarError: unknown;
  ex.on('error', (err: unknown) => {
    tarError ??= err;
  });
  const closed = new Promise<void>((resolve) => ex.once('close', () => resolve()));

  const view = Promise.resolve(lowers).then((layers) => new LowerView(layers));
  view.catch(() => undefined); // handled in finish(), or by whoever gave the promise
  const writer = new LayerWriter(dest, view, opts.writeback !== false);
  let handlerError: unknown;
  try {
    // Entries already buffered chain through microtasks without the event loop turning: after
    // YIELD_EVERY_MS of that, let the I/O of others run. Time spent waiting (the loop turned
    // meanwhile, which `turned` tells) does not count.
    let busySince = performance.now();
    let turned = false;
    const markTurn = (): void => {
      turned = true;
    };
    let marker = setImmediate(markTurn);
    try {
      for await (const entry of ex as AsyncIterable<TarEntryStream>) {
        try {
          await writer.entry(entry.header as TarHeader, entry);
        } catch (err) {
          handlerError = err;
          throw err;
        }
        if (turned) {
          turned = false;
          busySince = performance.now();
          marker = setImmediate(markTurn);
        } else if (performance.now() - busySince > YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      clearImmediate(marker);
    }
    try {
      await writer.finish();
    } catch (err) {
      handlerError = err;
      throw err;
    }
  } catch (err) {
    stopping = true;
    ex.destroy(null);
    tar.destroy();
    await closed;
    await feeding;
    // A broken tar also breaks the entry being written: report the cause, not the symptom.
    if (sourceError !== undefined) throw asError(sourceError);
    if (tarError !== undefined && tarError !== sourceError) throw invalid(`layer tar: ${tarMessage(tarError)}`, tarError);
    if (handlerError !== undefined) throw asError(handlerError);
    throw invalid(`layer tar: ${tarMessage(err)}`, err);
  }
  await feeding;
  if (sourceError !== undefined) throw asError(sourceError);
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

/** The longest stretch the extractor keeps the event loop to itself. */
const YIELD_EVERY_MS = 10;

function tarMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected end of data/i.test(msg)) return 'unexpected end of data';
  if (/invalid tar header/i.test(msg)) return 'invalid tar header (corrupt, or not an uncompressed tar)';
  return msg.charAt(0).toLowerCase() + msg.slice(1);
}
