import { Readable } from 'node:stream';
import type { BlobInfo } from '../content/content.js';
import { internal } from '../errors.js';
import { log } from '../log.js';
import type { LayerSource } from '../snapshots/snapshotter.js';
import { nextJobId, releaseWorker, takeWorker, type UnpackPlacement } from './unpack-pool.js';
import { deserialize, serialize, WINDOW_BYTES, type BlobFetch, type FromWorker, type StoreTarget, type ToWorker } from './unpack-protocol.js';

/**
 * Layers unpacked on worker threads (unpack-pool.ts, unpack-thread.ts): the pull's data path
 * off the daemon's event loop.
 *
 * `workerLayer(blob, what)` makes a LayerSource of a layer blob (gzip, zstd or plain, told by
 * its first bytes) for `Snapshotter.applyLayer`: either a stream the main thread reads and
 * hands over chunk by chunk (transferred, not copied), or a blob the worker GETs from the
 * registry itself (a BlobFetch: URL, headers and size), so that the main thread carries none
 * of its bytes. The worker undoes the compression, hashes the tar (DiffID), parses it and
 * writes the files. PIER_UNPACK_WORKERS=0 in the environment unpacks on the main thread instead.
 *
 * Contract of `unpack` (besides LayerSource's):
 * - the blob is read only as fast as the worker unpacks it (at most WINDOW_BYTES ahead), and
 *   read to its end (what follows the tar, a gzip trailer, is drained);
 * - an error of the blob stream fails the unpacking with that same error; a blob stream that
 *   closes before its end fails it too; a GET that fails fails it with the worker's error (a
 *   network error keeps its `code`, a status other than 200 is an Error with `status`, a size
 *   other than the expected one is `invalid`); `destroy(err)` or a rejection of `lowers` fails
 *   it with that reason; errors of the worker (`invalid` for a corrupt layer...) keep their
 *   kind and message;
 * - it settles only once the worker is done with the layer's folder (nothing writes there
 *   any more), and a worker that dies fails its layers with `internal`.
 *
 * With `store`, the worker also writes the blob as it comes (before unpacking it) into a file
 * of the content store (`ContentStore.prepareIngest`), hashing it: `stored` resolves with its
 * digest and size once the whole blob is written (and fsynced when durable), which is before
 * the unpacking ends; it rejects when the job fails first (a layer whose tar breaks still has
 * its blob stored to the end, so that a wrong blob is named by its digest).
 */

export interface WorkerLayerOptions {
  /**
   * The chunks of the blob are nobody else's once read: a chunk that has an ArrayBuffer of its
   * own is handed to the worker as it is (transferred, which empties it here), not copied.
   */
  transfer?: boolean;
  /** The worker writes the blob into this file of the content store too (see the contract above). */
  store?: StoreTarget;
  /** Told the bytes of a blob the worker GETs itself as they arrive (a progress counter). */
  onProgress?: (bytes: number) => void;
  /**
   * The layer's files are flushed later, after the pull (src/daemon/flush-behind.ts): they
   * are not handed to the disk as they are written.
   */
  flushLater?: boolean;
  /** The worker planUnpack placed the layer on. */
  placement?: UnpackPlacement;
  /** The size of a blob given as a stream (a BlobFetch has its own): the work it brings its worker. */
  size?: number;
}

/** A LayerSource unpacked on a worker; `stored` is there when the worker stores the blob too. */
export interface WorkerLayer extends LayerSource {
  stored?: Promise<BlobInfo>;
}

/**
 * A layer blob as a LayerSource that unpacks on a worker thread (see the contract above): a
 * stream this thread reads and hands over, or a blob the worker GETs from the registry itself
 * (this thread then carries none of its bytes). A GET that fails rejects with the worker's
 * error: a network error keeps its `code` (ECONNRESET...), a status other than 200 is an
 * Error with `status`.
 */
export function workerLayer(input: Readable | BlobFetch, what: string, opts: WorkerLayerOptions = {}): WorkerLayer {
  const blob = input instanceof Readable ? input : undefined;
  let destroyedWith: Error | undefined;
  let abort: ((err: Error) => void) | undefined;
  let used = false;
  let storedResult: Settle<BlobInfo> | undefined;
  const stored = opts.store
    ? new Promise<BlobInfo>((resolve, reject) => {
        storedResult = { resolve, reject };
      })
    : undefined;
  stored?.catch(() => undefined); // whoever awaits it sees the rejection
  // Errors before the unpacking starts are kept by the stream (`errored`); none is unhandled.
  blob?.on('error', () => undefined);
  return {
    stored,
    destroy(err?: Error): void {
      const reason = err ?? new Error(`${what}: unpacking stopped`);
      if (abort) abort(reason);
      else if (destroyedWith === undefined) {
        destroyedWith = reason;
        storedResult?.reject(reason);
        blob?.destroy();
      }
    },
    unpack(dest: string | null, lowers: Promise<readonly string[]>): Promise<{ diffId: string; size: number }> {
      if (used) return Promise.reject(internal(`${what}: unpacked twice`));
      used = true;
      if (destroyedWith !== undefined) {
        const err = destroyedWith;
        return lowers.then(() => Promise.reject(err), () => Promise.reject(err));
      }
      const source = blob ?? { fetch: input as BlobFetch, onProgress: opts.onProgress };
      const runOpts = {
        transfer: opts.transfer === true,
        store: opts.store ?? null,
        stored: storedResult,
        writeback: opts.flushLater !== true,
        placement: opts.placement,
        size: blob ? (opts.size ?? 0) : (input as BlobFetch).size,
      };
      return run(source, what, runOpts, dest, lowers, (fn) => {
        abort = fn;
      });
    },
  };
}

interface Settle<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

function run(
  source: Readable | { fetch: BlobFetch; onProgress?: (bytes: number) => void },
  what: string,
  opts: {
    transfer: boolean;
    store: StoreTarget | null;
    stored: Settle<BlobInfo> | undefined;
    writeback: boolean;
    placement: UnpackPlacement | undefined;
    size: number;
  },
  dest: string | null,
  lowers: Promise<readonly string[]>,
  onAbort: (abort: (err: Error) => void) => void,
): Promise<{ diffId: string; size: number }> {
  const blob = source instanceof Readable ? source : undefined;
  const fetch = source instanceof Readable ? undefined : source;
  return new Promise((resolve, reject) => {
    const pw = takeWorker(opts.placement);
    const id = nextJobId();
    log.debug({ what, worker: pw.worker.threadId, jobs: pw.jobs.size, ahead: pw.load }, 'unpack: a layer on a worker');
    // The blob's bytes not yet received count as the worker's work ahead (planUnpack).
    let left = opts.size;
    pw.load += left;
    const received = (bytes: number): void => {
      const n = Math.min(bytes, left);
      left -= n;
      pw.load -= n;
    };
    const post = (msg: ToWorker, transfer?: ArrayBuffer[]): void => pw.worker.postMessage(msg, transfer);
    let inFlight = 0;
    let ended = false;
    let settled = false;
    /** Why the unpacking stops, as the caller will see it (the first reason wins). */
    let reason: Error | undefined;
    let answer: Extract<FromWorker, { type: 'done' | 'failed' }> | undefined;
    let lowersKnown = false;

    const onData = (chunk: Buffer): void => {
      // Handed over (not cloned) to the worker: the chunk itself when it may be, else a copy.
      const own = opts.transfer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
      const data = own ? chunk : new Uint8Array(chunk);
      received(data.length);
      inFlight += data.length;
      post({ type: 'data', id, chunk: data }, [data.buffer as ArrayBuffer]);
      if (inFlight >= WINDOW_BYTES) blob?.pause();
    };
    const onEnd = (): void => {
      ended = true;
      post({ type: 'end', id });
    };
    const stop = (err: Error): void => {
      if (settled || reason !== undefined) return;
      reason = err;
      post({ type: 'abort', id, message: err.message });
    };
    const onError = (err: Error): void => stop(err);
    const onClose = (): void => {
      if (!ended) stop(Object.assign(new Error(`${what}: the layer stream closed before its end`), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const detach = (): void => {
      if (!blob) return;
      blob.off('data', onData);
      blob.off('end', onEnd);
      blob.off('close', onClose);
      // The rest of the blob (after a failure) is not unpacked; whoever reads it on decides.
      if (!blob.destroyed && !blob.readableEnded) blob.resume();
    };
    /** Settles once the worker answered and the lowers are known (or failed). */
    const finish = (): void => {
      if (settled || answer === undefined || !lowersKnown) return;
      settled = true;
      detach();
      received(left);
      releaseWorker(pw, id);
      const failure = reason ?? (answer.type === 'failed' ? deserialize(answer.error) : undefined);
      // A no-op when the blob was stored already.
      opts.stored?.reject(failure ?? internal(`${what}: the layer was unpacked but its blob not stored`));
      if (failure !== undefined) reject(failure);
      else if (answer.type === 'done') resolve({ diffId: answer.diffId, size: answer.size });
    };

    pw.jobs.set(id, {
      id,
      stored(info) {
        opts.stored?.resolve(info);
      },
      progress(bytes) {
        received(bytes);
        fetch?.onProgress?.(bytes);
      },
      ack(bytes) {
        inFlight -= bytes;
        if (blob && inFlight < WINDOW_BYTES && !ended && !settled && blob.isPaused()) blob.resume();
      },
      settle(msg) {
        answer = msg;
        finish();
      },
      fail(err) {
        reason ??= err;
        answer = { type: 'failed', id, error: serialize(err) };
        lowersKnown = true; // nobody will write into dest any more
        finish();
      },
    });
    onAbort(stop);
    post({ type: 'start', id, dest, what, store: opts.store, fetch: fetch?.fetch ?? null, writeback: opts.writeback });
    lowers.then(
      (l) => {
        lowersKnown = true;
        if (!settled) post({ type: 'lowers', id, lowers: [...l] });
        finish();
      },
      (err: unknown) => {
        lowersKnown = true;
        stop(err instanceof Error ? err : new Error(String(err)));
        finish();
      },
    );
    if (!blob) return;
    // The blob may have failed before the unpacking started (the download broke meanwhile).
    if (blob.errored) stop(blob.errored);
    else if (blob.destroyed && !blob.readableEnded) onClose();
    blob.on('error', onError);
    blob.on('data', onData);
    blob.once('end', onEnd);
    blob.once('close', onClose);
  });
}
