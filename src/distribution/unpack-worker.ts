import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { EngineError, internal, type ErrorKind } from '../errors.js';
import { log } from '../log.js';
import { extractLayer } from '../snapshots/extract.js';
import type { LayerSource } from '../snapshots/snapshotter.js';
import { uncompressed } from './decompress.js';

/**
 * Layers unpacked on worker threads: the pull's data path off the daemon's event loop.
 *
 * `workerLayer(blob, what)` makes a LayerSource of a layer blob stream (gzip, zstd or plain,
 * told by its first bytes) for `Snapshotter.applyLayer`. The main thread only forwards the
 * blob's bytes; a worker undoes the compression, hashes the tar (DiffID), parses it and writes
 * the files (`extractLayer`, with all its promises), so the second core works too and the
 * garbage of those streams stays out of the daemon's heap. Up to POOL_SIZE workers, started on
 * first use, each serving several layers at once; a worker with nothing to do for IDLE_MS
 * stops. PIER_UNPACK_WORKERS=0 in the environment unpacks on the main thread instead.
 *
 * Contract of `unpack` (besides LayerSource's):
 * - the blob is read only as fast as the worker unpacks it (at most WINDOW_BYTES ahead), and
 *   read to its end (what follows the tar, a gzip trailer, is drained);
 * - an error of the blob stream fails the unpacking with that same error; a blob stream that
 *   closes before its end fails it too; `destroy(err)` or a rejection of `lowers` fails it
 *   with that reason; errors of the worker (`invalid` for a corrupt layer...) keep their kind
 *   and message;
 * - it settles only once the worker is done with the layer's folder (nothing writes there
 *   any more), and a worker that dies fails its layers with `internal`.
 */

/** Workers at most: the machine's cores do the rest (igzip, the registry, the kernel). */
const POOL_SIZE = 2;
/** A worker with no layer for this long stops. */
const IDLE_MS = 10_000;
/** Bytes of a blob forwarded to its worker and not yet taken by the unpacking. */
const WINDOW_BYTES = 4 * 1024 * 1024;
/** Marks the worker of this module in workerData. */
const MARK = 'pierUnpackWorker';

interface SerializedError {
  message: string;
  kind?: ErrorKind;
  code?: string;
}

/** Main thread to worker. */
type ToWorker =
  | { type: 'start'; id: number; dest: string | null; what: string }
  | { type: 'lowers'; id: number; lowers: string[] }
  | { type: 'data'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number; message: string };

/** Worker to main thread. */
type FromWorker =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'done'; id: number; diffId: string; size: number }
  | { type: 'failed'; id: number; error: SerializedError };

function serialize(err: unknown): SerializedError {
  if (err instanceof EngineError) return { message: err.message, kind: err.kind };
  if (err instanceof Error) return { message: err.message, code: (err as NodeJS.ErrnoException).code };
  return { message: String(err) };
}

function deserialize(e: SerializedError): Error {
  if (e.kind !== undefined) return new EngineError(e.kind, e.message);
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {});
}

// ---------------------------------------------------------------- main thread

interface Job {
  id: number;
  /** The worker's answer: done or failed. */
  settle(msg: Extract<FromWorker, { type: 'done' | 'failed' }>): void;
  /** The worker died. */
  fail(err: Error): void;
  ack(bytes: number): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
  idle?: NodeJS.Timeout;
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
  const pw: PoolWorker = { worker, jobs: new Map() };
  worker.on('message', (msg: FromWorker) => {
    const job = pw.jobs.get(msg.id);
    if (!job) return;
    if (msg.type === 'ack') job.ack(msg.bytes);
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

/** A worker for one more layer: the least busy one, or a new one while the pool is not full and all are busy. */
function takeWorker(): PoolWorker {
  let best: PoolWorker | undefined;
  for (const pw of pool) if (best === undefined || pw.jobs.size < best.jobs.size) best = pw;
  const pw = best === undefined || (best.jobs.size > 0 && pool.length < POOL_SIZE) ? startWorker() : best;
  if (pw.idle) {
    clearTimeout(pw.idle);
    pw.idle = undefined;
  }
  pw.worker.ref();
  return pw;
}

function releaseWorker(pw: PoolWorker, id: number): void {
  pw.jobs.delete(id);
  if (pw.jobs.size > 0 || !pool.includes(pw)) return;
  // Idle: it no longer keeps the process alive, and stops after a while.
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
}

/** A layer blob stream as a LayerSource that unpacks on a worker thread (see the contract above). */
export function workerLayer(blob: Readable, what: string, opts: WorkerLayerOptions = {}): LayerSource {
  let destroyedWith: Error | undefined;
  let abort: ((err: Error) => void) | undefined;
  let used = false;
  // Errors before the unpacking starts are kept by the stream (`errored`); none is unhandled.
  blob.on('error', () => undefined);
  return {
    destroy(err?: Error): void {
      const reason = err ?? new Error(`${what}: unpacking stopped`);
      if (abort) abort(reason);
      else if (destroyedWith === undefined) {
        destroyedWith = reason;
        blob.destroy();
      }
    },
    unpack(dest: string | null, lowers: Promise<readonly string[]>): Promise<{ diffId: string; size: number }> {
      if (used) return Promise.reject(internal(`${what}: unpacked twice`));
      used = true;
      if (destroyedWith !== undefined) {
        const err = destroyedWith;
        return lowers.then(() => Promise.reject(err), () => Promise.reject(err));
      }
      return run(blob, what, opts.transfer === true, dest, lowers, (fn) => {
        abort = fn;
      });
    },
  };
}

function run(
  blob: Readable,
  what: string,
  transfer: boolean,
  dest: string | null,
  lowers: Promise<readonly string[]>,
  onAbort: (abort: (err: Error) => void) => void,
): Promise<{ diffId: string; size: number }> {
  return new Promise((resolve, reject) => {
    const pw = takeWorker();
    const id = nextId++;
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
      const own = transfer && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
      const data = own ? chunk : new Uint8Array(chunk);
      inFlight += data.length;
      post({ type: 'data', id, chunk: data }, [data.buffer as ArrayBuffer]);
      if (inFlight >= WINDOW_BYTES) blob.pause();
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
      releaseWorker(pw, id);
      if (reason !== undefined) reject(reason);
      else if (answer.type === 'failed') reject(deserialize(answer.error));
      else resolve({ diffId: answer.diffId, size: answer.size });
    };

    pw.jobs.set(id, {
      id,
      ack(bytes) {
        inFlight -= bytes;
        if (inFlight < WINDOW_BYTES && !ended && !settled && blob.isPaused()) blob.resume();
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
    post({ type: 'start', id, dest, what });
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
  lowers: Promise<readonly string[]>;
  setLowers(l: readonly string[]): void;
  failLowers(err: Error): void;
}

/** The worker's side: one job per layer, as the main thread asks. */
function serve(port: NonNullable<typeof parentPort>): void {
  const jobs = new Map<number, WorkerJob>();
  const send = (msg: FromWorker): void => port.postMessage(msg);

  const start = (id: number, dest: string | null, what: string): void => {
    const queue: Buffer[] = [];
    let ended = false;
    let wanted = false;
    // The blob as it arrives; a chunk is acknowledged once the unpacking takes it.
    const input = new Readable({
      highWaterMark: 0,
      read() {
        wanted = true;
        pump();
      },
    });
    const pump = (): void => {
      while (wanted && queue.length > 0) {
        const chunk = queue.shift()!;
        send({ type: 'ack', id, bytes: chunk.length });
        wanted = input.push(chunk);
      }
      if (wanted && ended && queue.length === 0) input.push(null);
    };
    let setLowers!: (l: readonly string[]) => void;
    let failLowers!: (err: Error) => void;
    const lowers = new Promise<readonly string[]>((resolve, reject) => {
      setLowers = resolve;
      failLowers = reject;
    });
    lowers.catch(() => undefined); // the extraction reports it
    const job: WorkerJob & { queue: Buffer[]; pump: () => void; end: () => void } = {
      input,
      lowers,
      setLowers,
      failLowers,
      queue,
      pump,
      end: () => {
        ended = true;
        pump();
      },
    };
    jobs.set(id, job);
    void unpackJob(input, dest, lowers, what).then(
      (r) => send({ type: 'done', id, diffId: r.diffId, size: r.size }),
      (err: unknown) => send({ type: 'failed', id, error: serialize(err) }),
    ).finally(() => {
      jobs.delete(id);
      // Chunks still coming are taken and forgotten.
      input.destroy();
    });
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'start') {
      start(msg.id, msg.dest, msg.what);
      return;
    }
    const job = jobs.get(msg.id) as (WorkerJob & { queue: Buffer[]; pump: () => void; end: () => void }) | undefined;
    if (!job) {
      if (msg.type === 'data') send({ type: 'ack', id: msg.id, bytes: msg.chunk.length });
      return;
    }
    switch (msg.type) {
      case 'data':
        job.queue.push(Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength));
        job.pump();
        break;
      case 'end':
        job.end();
        break;
      case 'lowers':
        job.setLowers(msg.lowers);
        break;
      case 'abort': {
        const err = new Error(msg.message);
        job.failLowers(err);
        job.input.destroy(err);
        break;
      }
    }
  });
}

/** Undo the compression, then extract into `dest` (or only hash when null); the rest of the blob is drained. */
async function unpackJob(input: Readable, dest: string | null, lowers: Promise<readonly string[]>, what: string): Promise<{ diffId: string; size: number }> {
  const tar = await uncompressed(input, what);
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
    result = await extractLayer(tar, dest, lowers);
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
