import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, fsync, openSync, writeSync } from 'node:fs';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { EngineError, internal, invalid, type ErrorKind } from '../errors.js';
import { log } from '../log.js';
import { extractLayer } from '../snapshots/extract.js';
import { Writeback } from '../util/writeback.js';
import type { BlobInfo } from '../content/content.js';
import type { BlobRequest } from './registry.js';
import type { LayerSource } from '../snapshots/snapshotter.js';
import { uncompressedAs } from './decompress.js';
import { sniff } from '../images/streams.js';
import { defaultGunzipEngine } from '../util/gzip.js';
import { isalDecoder, type GunzipDecoder } from '../util/isal.js';

/**
 * Layers unpacked on worker threads: the pull's data path off the daemon's event loop.
 *
 * `workerLayer(blob, what)` makes a LayerSource of a layer blob (gzip, zstd or plain, told by
 * its first bytes) for `Snapshotter.applyLayer`: either a stream the main thread reads and
 * hands over chunk by chunk (transferred, not copied), or a blob the worker GETs from the
 * registry itself (a BlobFetch: URL, headers and size), so that the main thread carries none
 * of its bytes. A worker undoes the compression (gzip through ISA-L as the bytes are given
 * out, with no stream in between), hashes the tar (DiffID), parses it and writes the files
 * (`extractLayer`, with all its promises), so the second core works too and the garbage of
 * those streams stays out of the daemon's heap. Up to POOL_SIZE workers, started on first use
 * or as a pull begins (`planUnpack`, which also places each of its layers on one), each
 * serving several layers at once; a worker with nothing to do for IDLE_MS stops. PIER_UNPACK_WORKERS=0 in the environment unpacks on
 * the main thread instead.
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

/** Workers at most: the machine's cores do the rest (the registry, the kernel's writes). */
const POOL_SIZE = 2;
/** A worker with no layer for this long stops. */
const IDLE_MS = 10_000;
/** Bytes of a blob forwarded to its worker and not yet taken by the unpacking. */
const WINDOW_BYTES = 4 * 1024 * 1024;
/** The first bytes of a blob that tell its compression (xz's magic number is the longest). */
const HEAD_BYTES = 6;
/** Marks the worker of this module in workerData. */
const MARK = 'pierUnpackWorker';

/** Where the worker writes the blob: a new file, fsynced at the end when durable. */
export interface StoreTarget {
  path: string;
  durable: boolean;
}

/** A blob the worker GETs itself: the prepared request and the blob's size. */
export interface BlobFetch extends BlobRequest {
  size: number;
}

interface SerializedError {
  message: string;
  kind?: ErrorKind;
  code?: string;
  /** The HTTP status a registry answered a blob GET with. */
  status?: number;
}

/** Main thread to worker. */
type ToWorker =
  | { type: 'start'; id: number; dest: string | null; what: string; store: StoreTarget | null; fetch: BlobFetch | null; writeback: boolean }
  | { type: 'lowers'; id: number; lowers: string[] }
  | { type: 'data'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number; message: string };

/** Worker to main thread. */
type FromWorker =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'stored'; id: number; digest: string; size: number }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'done'; id: number; diffId: string; size: number }
  | { type: 'failed'; id: number; error: SerializedError };

function serialize(err: unknown): SerializedError {
  if (err instanceof EngineError) return { message: err.message, kind: err.kind };
  if (err instanceof Error) {
    const { code, status } = err as Error & { code?: string; status?: number };
    return { message: err.message, ...(code !== undefined ? { code } : {}), ...(status !== undefined ? { status } : {}) };
  }
  return { message: String(err) };
}

function deserialize(e: SerializedError): Error {
  if (e.kind !== undefined) return new EngineError(e.kind, e.message);
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {}, e.status !== undefined ? { status: e.status } : {});
}

// ---------------------------------------------------------------- main thread

interface Job {
  id: number;
  /** The worker's answer: done or failed. */
  settle(msg: Extract<FromWorker, { type: 'done' | 'failed' }>): void;
  /** The worker died. */
  fail(err: Error): void;
  ack(bytes: number): void;
  stored(info: BlobInfo): void;
  progress(bytes: number): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
  idle?: NodeJS.Timeout;
  /** Bytes of its layers' blobs not yet received: the work ahead of it. */
  load: number;
}

/** Where planUnpack put a layer: the worker that unpacks it (its thread's id, for logs and tests). */
export interface UnpackPlacement {
  readonly threadId: number;
  /** @internal */
  readonly pw: PoolWorker;
}

const pool: PoolWorker[] = [];
let nextId = 1;

/** Whether layers unpack on workers (PIER_UNPACK_WORKERS=0 turns them off). */
export function unpackWorkersEnabled(): boolean {
  return process.env.PIER_UNPACK_WORKERS !== '0';
}

/**
 * The module a worker runs: this one. In the daemon's bundle (dist/pierd.mjs) that would be
 * the whole daemon, so the worker's own bundle beside it (scripts/bundle.mjs) is preferred,
 * else the module tsc wrote: a worker then starts faster and keeps a smaller heap (5 MiB
 * instead of 8), which its garbage collections walk again and again.
 */
function workerEntry(): URL {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.mjs')) {
    for (const own of [new URL('./unpack-worker.mjs', self), new URL('./src/distribution/unpack-worker.js', self)]) {
      if (existsSync(own)) return own;
    }
  }
  return self;
}

function startWorker(): PoolWorker {
  const url = workerEntry();
  const data = { [MARK]: true, logLevel: log.level };
  // Under tsx (the unit tests) a worker needs tsx's loader for this TypeScript module.
  const worker = url.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true, workerData: data })
    : new Worker(url, { workerData: data });
  const pw: PoolWorker = { worker, jobs: new Map(), load: 0 };
  worker.on('message', (msg: FromWorker) => {
    const job = pw.jobs.get(msg.id);
    if (!job) return;
    if (msg.type === 'ack') job.ack(msg.bytes);
    else if (msg.type === 'stored') job.stored({ digest: msg.digest, size: msg.size });
    else if (msg.type === 'progress') job.progress(msg.bytes);
    else job.settle(msg);
  });
  const gone = (err: Error): void => {
    const i = pool.indexOf(pw);
    if (i >= 0) pool.splice(i, 1);
    if (pw.idle) clearTimeout(pw.idle);
    for (const job of [...pw.jobs.values()]) job.fail(err);
    pw.jobs.clear();
  };
  worker.on('error', (err) => {
    log.warn({ err }, 'unpack worker failed');
    gone(internal(`layer unpack worker failed: ${err.message}`, err));
  });
  worker.on('exit', (code) => gone(internal(`layer unpack worker exited (${code})`)));
  pool.push(pw);
  return pw;
}

/**
 * A worker for one more layer: the one planUnpack placed it on while that one runs; else the
 * least busy one, or a new one while the pool is not full and all are busy.
 */
function takeWorker(placement?: UnpackPlacement): PoolWorker {
  let pw = placement !== undefined && pool.includes(placement.pw) ? placement.pw : undefined;
  if (pw === undefined) {
    let best: PoolWorker | undefined;
    for (const w of pool) if (best === undefined || w.jobs.size < best.jobs.size) best = w;
    pw = best === undefined || (best.jobs.size > 0 && pool.length < POOL_SIZE) ? startWorker() : best;
  }
  if (pw.idle) {
    clearTimeout(pw.idle);
    pw.idle = undefined;
  }
  pw.worker.ref();
  return pw;
}

/**
 * Have workers for `layers` layers about to come (at most POOL_SIZE) start now, so that they
 * boot (about 50 ms each) while the pull still fetches its config, not when its first layer
 * arrives. Unused, they stop after IDLE_MS as any idle worker.
 */
export function warmUnpackWorkers(layers: number): void {
  if (!unpackWorkersEnabled()) return;
  while (pool.length < Math.min(layers, POOL_SIZE)) idle(startWorker());
}

/**
 * Plan where the layers of a pull unpack, so that its workers end together: a pull takes as
 * long as its busiest worker, and layers that go to the least busy worker one by one, in
 * layer order, can leave a 200 MB base layer sharing its worker with the next largest while
 * the other gets the small ones. The workers start now (as with warmUnpackWorkers); then the
 * largest layers are placed first, each on the worker with the fewest bytes ahead of it (its
 * running layers' and those placed before): longest processing time first, by compressed size.
 * `sizes[i]` is the blob size of the i-th layer, 0 for one that is not unpacked; the answer
 * has the i-th layer's placement, for workerLayer (none without workers or for a 0).
 */
export function planUnpack(sizes: readonly number[]): Array<UnpackPlacement | undefined> {
  const placements: Array<UnpackPlacement | undefined> = sizes.map(() => undefined);
  if (!unpackWorkersEnabled()) return placements;
  const order = [...sizes.keys()].filter((i) => sizes[i]! > 0).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
  warmUnpackWorkers(order.length);
  const workers = [...pool];
  const ahead = new Map(workers.map((pw) => [pw, pw.load]));
  for (const i of order) {
    let pw = workers[0]!;
    for (const w of workers) if (ahead.get(w)! < ahead.get(pw)!) pw = w;
    ahead.set(pw, ahead.get(pw)! + sizes[i]!);
    placements[i] = { threadId: pw.worker.threadId, pw };
  }
  return placements;
}

function releaseWorker(pw: PoolWorker, id: number): void {
  pw.jobs.delete(id);
  if (pw.jobs.size > 0 || !pool.includes(pw)) return;
  idle(pw);
}

/** A worker with no job: it no longer keeps the process alive, and stops after a while. */
function idle(pw: PoolWorker): void {
  pw.worker.unref();
  pw.idle = setTimeout(() => {
    const i = pool.indexOf(pw);
    if (i >= 0 && pw.jobs.size === 0) {
      pool.splice(i, 1);
      void pw.worker.terminate().then(() => {
        if (pool.length === 0) poolGone?.();
      });
    }
  }, IDLE_MS).unref();
}

let poolGone: (() => void) | undefined;

/**
 * Call `fn` each time the last idle worker has stopped: the memory the workers and the pull
 * used is free then (the daemon gives it back: idle-memory.ts).
 */
export function whenUnpackWorkersGone(fn: () => void): void {
  poolGone = fn;
}

/** How many unpack workers run now (for tests). */
export function unpackWorkerCount(): number {
  return pool.length;
}

/** Stop every idle worker now (for tests; busy ones stop when idle, as usual). */
export async function stopIdleUnpackWorkers(): Promise<void> {
  const idle = pool.filter((pw) => pw.jobs.size === 0);
  for (const pw of idle) {
    if (pw.idle) clearTimeout(pw.idle);
    pool.splice(pool.indexOf(pw), 1);
  }
  await Promise.all(idle.map((pw) => pw.worker.terminate()));
  if (idle.length > 0 && pool.length === 0) poolGone?.();
}

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
    const id = nextId++;
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

// ---------------------------------------------------------------- worker thread

interface WorkerJob {
  input: Readable;
  queue: Buffer[];
  /** Bytes in `queue`, when this worker GETs the blob (its response is paused past WINDOW_BYTES). */
  queued: number;
  /** Look whether the first bytes of the blob are in `queue` now. */
  noteHead(): void;
  /** A gzip blob is decoded as `input` gives it out (no stream between them); set before it is read. */
  decoder?: GunzipDecoder;
  pump(): void;
  end(): void;
  lowers: Promise<readonly string[]>;
  setLowers(l: readonly string[]): void;
  failLowers(err: Error): void;
  /** The blob's file when the job stores it: written as chunks arrive. */
  store?: BlobWriter;
  /** Once the blob's end came: its file finished and `stored` sent. */
  storing?: Promise<void>;
  /** Writing or finishing the blob's file failed. */
  storeFailed?: boolean;
  /** The main thread stopped the job. */
  aborted?: boolean;
  /** The unpacking failed with this answer while the blob is still stored to its end. */
  afterFailure?: FromWorker;
  /** Clean up and send the job's last answer. */
  finish?: (answer: FromWorker) => void;
  /** The blob's GET, when this worker makes it, and its response once it came. */
  request?: ClientRequest;
  response?: IncomingMessage;
  /** Why the GET failed. */
  fetchFailed?: Error;
}

/** Writes a blob into its content-store file as it arrives, hashing it. */
class BlobWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private closed = false;
  private finishing = false;

  /** A durable blob's data goes to the disk as it comes, not all at its fsync. */
  private readonly writeback: Writeback | undefined;

  constructor(private readonly target: StoreTarget) {
    this.fd = openSync(target.path, 'wx', 0o444);
    this.writeback = target.durable ? new Writeback(this.fd) : undefined;
  }

  write(chunk: Buffer): void {
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off);
    this.hash.update(chunk);
    this.size += chunk.length;
    this.writeback?.wrote(chunk.length);
  }

  /** The whole blob is written: fsync (off this thread) when durable, close, and tell. */
  finish(): Promise<BlobInfo> {
    this.finishing = true;
    this.writeback?.end();
    return new Promise((resolve, reject) => {
      const done = (err: Error | null): void => {
        this.closeFd();
        if (err) reject(err);
        else resolve({ digest: `sha256:${this.hash.digest('hex')}`, size: this.size });
      };
      if (this.target.durable) fsync(this.fd, done);
      else done(null);
    });
  }

  /** Close the file unless finish() is under way (it closes it). */
  close(): void {
    if (!this.finishing) this.closeFd();
  }

  private closeFd(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** The worker's side: one job per layer, as the main thread asks. */
function serve(port: NonNullable<typeof parentPort>): void {
  const jobs = new Map<number, WorkerJob>();
  const send = (msg: FromWorker): void => port.postMessage(msg);

  const start = (id: number, dest: string | null, what: string, store: StoreTarget | null, fetch: BlobFetch | null, writeback: boolean): void => {
    const queue: Buffer[] = [];
    let ended = false;
    let wanted = false;
    /** The end of the input was pushed. */
    let eof = false;
    // The blob as it arrives; a chunk is acknowledged (or, when this worker GETs the blob, its
    // response resumed) once the unpacking takes it.
    const input = new Readable({
      highWaterMark: 0,
      read() {
        wanted = true;
        pump();
      },
    });
    const push = (b: Buffer): void => {
      wanted = input.push(b);
    };
    const pump = (): void => {
      try {
        while (wanted && queue.length > 0) {
          const chunk = queue.shift()!;
          taken(chunk.length);
          if (job.decoder) job.decoder.write(chunk, push);
          else wanted = input.push(chunk);
        }
        if (wanted && ended && queue.length === 0 && !eof) {
          eof = true;
          job.decoder?.end(push);
          input.push(null);
        }
      } catch (err) {
        input.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const taken = (bytes: number): void => {
      if (!job.response) {
        send({ type: 'ack', id, bytes });
        return;
      }
      job.queued -= bytes;
      if (job.queued < WINDOW_BYTES && job.response.isPaused()) job.response.resume();
    };
    let setLowers!: (l: readonly string[]) => void;
    let failLowers!: (err: Error) => void;
    const lowers = new Promise<readonly string[]>((resolve, reject) => {
      setLowers = resolve;
      failLowers = reject;
    });
    lowers.catch(() => undefined); // the extraction reports it
    // The blob's first bytes, to tell its compression, as they come into the queue.
    let giveHead!: (b: Buffer) => void;
    let failHead!: (err: Error) => void;
    const head = new Promise<Buffer>((resolve, reject) => {
      giveHead = resolve;
      failHead = reject;
    });
    head.catch(() => undefined); // the unpacking reports it
    let headKnown = false;
    const noteHead = (all: boolean): void => {
      if (headKnown) return;
      const parts: Buffer[] = [];
      let n = 0;
      for (const c of queue) {
        parts.push(c);
        n += c.length;
        if (n >= HEAD_BYTES) break;
      }
      if (n < HEAD_BYTES && !all) return;
      headKnown = true;
      giveHead(Buffer.concat(parts, n));
    };
    // An error before the unpacking reads the input fails the head (and with it the job).
    input.on('error', () => undefined);
    input.once('close', () => failHead(input.errored ?? new Error(`${what}: the layer stream closed before its start`)));
    const job: WorkerJob = {
      input,
      queue,
      queued: 0,
      noteHead: () => noteHead(false),
      pump,
      end: () => {
        ended = true;
        noteHead(true);
        pump();
      },
      lowers,
      setLowers,
      failLowers,
    };
    jobs.set(id, job);
    let work: Promise<{ diffId: string; size: number }>;
    try {
      if (store) job.store = new BlobWriter(store);
      // 'stored' goes out before 'done': the blob is there by the time the layer is.
      work = unpackJob(input, dest, lowers, what, head, job, writeback).then(async (r) => {
        if (job.store) {
          if (!job.storing) throw internal(`${what}: the layer ended before its blob`);
          await job.storing;
        }
        return r;
      });
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // The blob's file is closed (unless its fsync is under way) and its GET stopped before the
    // answer goes out: the main thread removes the file on a failure.
    let answered = false;
    const finish = (answer: FromWorker): void => {
      if (answered) return;
      answered = true;
      jobs.delete(id);
      job.store?.close();
      job.request?.destroy();
      // Chunks still coming are taken and forgotten.
      input.destroy();
      send(answer);
    };
    work.then(
      (r) => finish({ type: 'done', id, diffId: r.diffId, size: r.size }),
      (err: unknown) => {
        const failed: FromWorker = { type: 'failed', id, error: serialize(job.fetchFailed ?? err) };
        // A broken layer whose blob is still coming: the blob is stored to its end all the
        // same, so that the main thread learns its digest (a wrong blob is named as such,
        // not by the tar error it caused); an abort or a failure of the store or the GET ends it.
        if (job.store && !job.aborted && !job.storeFailed && !job.fetchFailed) {
          job.afterFailure = failed;
          if (job.storing) {
            const last = (): void => finish(failed);
            job.storing.then(last, last);
          } else {
            for (const chunk of queue.splice(0)) taken(chunk.length);
          }
        } else finish(failed);
      },
    );
    job.finish = finish;
    if (fetch) getBlob(fetch, job, what, (chunk) => receive(id, job, chunk), () => inputEnd(id, job), (bytes) => send({ type: 'progress', id, bytes }));
  };

  /** A chunk of the blob: into its file first, then to the unpacking (or, after a failure, only into the file). */
  const receive = (id: number, job: WorkerJob, chunk: Buffer): void => {
    try {
      job.store?.write(chunk);
    } catch (err) {
      job.storeFailed = true;
      if (job.afterFailure) job.finish!(job.afterFailure);
      else job.input.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (job.afterFailure) {
      if (!job.response) send({ type: 'ack', id, bytes: chunk.length });
      return;
    }
    job.queue.push(chunk);
    job.noteHead();
    if (job.response) {
      job.queued += chunk.length;
      if (job.queued >= WINDOW_BYTES) job.response.pause();
    }
    job.pump();
  };

  /** The blob's end: its file is finished (and `stored` sent), the unpacking reads to its end. */
  const inputEnd = (id: number, job: WorkerJob): void => {
    if (job.store) {
      job.storing = job.store.finish().then((info) => send({ type: 'stored', id, digest: info.digest, size: info.size }));
      job.storing.then(
        () => {
          if (job.afterFailure) job.finish!(job.afterFailure);
        },
        (err: unknown) => {
          job.storeFailed = true;
          if (job.afterFailure) job.finish!(job.afterFailure);
          else job.input.destroy(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
    job.end();
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'start') {
      start(msg.id, msg.dest, msg.what, msg.store, msg.fetch, msg.writeback);
      return;
    }
    const job = jobs.get(msg.id);
    if (!job) {
      if (msg.type === 'data') send({ type: 'ack', id: msg.id, bytes: msg.chunk.length });
      return;
    }
    switch (msg.type) {
      case 'data':
        receive(msg.id, job, Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength));
        break;
      case 'end':
        inputEnd(msg.id, job);
        break;
      case 'lowers':
        job.setLowers(msg.lowers);
        break;
      case 'abort': {
        const err = new Error(msg.message);
        job.aborted = true;
        job.request?.destroy();
        if (job.afterFailure) {
          job.finish!(job.afterFailure);
          break;
        }
        job.failLowers(err);
        job.input.destroy(err);
        break;
      }
    }
  });
}

const httpAgent = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 });
const httpsAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000 });
/** A blob GET that gets no data for this long fails (ETIMEDOUT), as the main thread's do. */
const IDLE_TIMEOUT_MS = 120_000;
/** Progress of a blob this worker GETs is told at most this often. */
const PROGRESS_MS = 100;

/**
 * GET a blob for a job: redirects are followed (at most five, without the Authorization header
 * once they leave the registry's origin), the body goes to `onChunk` and must not exceed its
 * size. A failure (the connection, a status other than 200, a bad size) is kept as the job's
 * `fetchFailed` and stops its unpacking.
 */
function getBlob(f: BlobFetch, job: WorkerJob, what: string, onChunk: (chunk: Buffer) => void, onEnd: () => void, onProgress: (bytes: number) => void): void {
  const fail = (err: Error): void => {
    if (job.fetchFailed) return;
    job.fetchFailed = err;
    job.request?.destroy();
    job.input.destroy(err);
  };
  const go = (url: string, headers: Record<string, string>, hop: number): void => {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const req = (secure ? https : http).get(u, { headers, agent: secure ? httpsAgent : httpAgent });
    job.request = req;
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data from ${u.host} within ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => fail(err));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location !== undefined && hop < 5) {
        res.resume();
        const next = new URL(location, url);
        const { authorization: _, ...without } = headers;
        go(next.toString(), next.origin === f.origin ? headers : without, hop + 1);
        return;
      }
      if (status !== 200) {
        res.resume();
        fail(Object.assign(new Error(`${what}: ${u.host} answered ${status}`), { status }));
        return;
      }
      job.response = res;
      let size = 0;
      let told = 0;
      let last = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > f.size) {
          fail(invalid(`${what}: size mismatch: more than the expected ${f.size} bytes`));
          return;
        }
        onChunk(chunk);
        const now = Date.now();
        if (now - last >= PROGRESS_MS) {
          last = now;
          onProgress(size - told);
          told = size;
        }
      });
      res.on('end', () => {
        if (size > told) onProgress(size - told);
        if (size !== f.size) fail(invalid(`${what}: size mismatch: expected ${f.size} bytes, got ${size}`));
        else if (!job.fetchFailed) onEnd();
      });
      res.on('error', (err) => fail(err));
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error(`${what}: the connection to ${u.host} was cut`), { code: 'ECONNRESET' }));
      });
    });
  };
  go(f.url, f.headers, 0);
}

/** Undo the compression, then extract into `dest` (or only hash when null); the rest of the blob is drained. */
async function unpackJob(
  input: Readable,
  dest: string | null,
  lowers: Promise<readonly string[]>,
  what: string,
  head: Promise<Buffer>,
  job: WorkerJob,
  writeback: boolean,
): Promise<{ diffId: string; size: number }> {
  // The first bytes come from the job's queue, not from peek(), which would re-wrap the whole
  // stream (several promises per chunk). gzip is decoded as the job's input gives the bytes
  // out, when ISA-L is there: the tar stream is that input, with no stream in between.
  const first = await head;
  const decoder = sniff(first) === 'gzip' && defaultGunzipEngine() === 'isal' ? isalDecoder(what) : undefined;
  if (decoder) job.decoder = decoder;
  const tar = decoder ? input : uncompressedAs(input, first, what);
  let result: { diffId: string; size: number };
  if (dest === null) {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of tar as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    result = { diffId: `sha256:${hash.digest('hex')}`, size };
  } else {
    result = await extractLayer(tar, dest, lowers, { writeback });
  }
  // What the tar reader left (end-of-archive padding, a gzip trailer) must still flow to the end.
  await drain(tar);
  return result;
}

function drain(s: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.readableEnded || s.destroyed) return resolve();
    s.on('end', resolve);
    s.on('close', resolve);
    s.on('error', reject);
    s.resume();
  });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] === true && parentPort) {
  const level = (workerData as { logLevel?: unknown }).logLevel;
  if (typeof level === 'string') log.level = level; // the daemon's --log-level
  serve(parentPort);
}
