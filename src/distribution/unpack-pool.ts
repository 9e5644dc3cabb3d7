import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { BlobInfo } from '../content/content.js';
import { internal } from '../errors.js';
import { log } from '../log.js';
import { MARK, type FromWorker } from './unpack-protocol.js';

/**
 * The pool of unpack workers on the main thread: up to POOL_SIZE worker threads, started on
 * first use or as a pull begins (`planUnpack`, which also places each of its layers on one),
 * each serving several layers at once; a worker with nothing to do for IDLE_MS stops, and an
 * idle worker never keeps the process alive. A worker that dies fails every job it had with
 * `internal`. Owns the workers and routes their messages to jobs; what a job does is
 * unpack-worker.ts's.
 */

/** Workers at most. */
const POOL_SIZE = 2;
/** A worker with no layer for this long stops. */
const IDLE_MS = 10_000;

/** One layer on a worker as the main thread follows it: where the messages of its worker go. */
export interface Job {
  id: number;
  /** The worker's answer: done or failed. */
  settle(msg: Extract<FromWorker, { type: 'done' | 'failed' }>): void;
  /** The worker died. */
  fail(err: Error): void;
  ack(bytes: number): void;
  stored(info: BlobInfo): void;
  progress(bytes: number): void;
}

export interface PoolWorker {
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

/** A job ID not used before in this process. */
export function nextJobId(): number {
  return nextId++;
}

/** Whether layers unpack on workers (PIER_UNPACK_WORKERS=0 turns them off). */
export function unpackWorkersEnabled(): boolean {
  return process.env.PIER_UNPACK_WORKERS !== '0';
}

/**
 * The module a worker runs (unpack-thread.ts). Beside the daemon's bundle (dist/pierd.mjs),
 * the worker's own bundle (scripts/bundle.mjs) is preferred, else the module tsc wrote; a
 * worker never runs the daemon's bundle, which would carry the whole daemon in its heap.
 */
function workerEntry(): URL {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.mjs')) {
    const own = new URL('./unpack-worker.mjs', self);
    return existsSync(own) ? own : new URL('./src/distribution/unpack-thread.js', self);
  }
  return new URL(self.pathname.endsWith('.ts') ? './unpack-thread.ts' : './unpack-thread.js', self);
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
export function takeWorker(placement?: UnpackPlacement): PoolWorker {
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
 * Start workers for `layers` layers about to come (at most POOL_SIZE) now, so that they boot
 * while the pull still fetches its config. Unused, they stop after IDLE_MS as any idle worker.
 */
export function warmUnpackWorkers(layers: number): void {
  if (!unpackWorkersEnabled()) return;
  while (pool.length < Math.min(layers, POOL_SIZE)) idle(startWorker());
}

/**
 * Place the layers of a pull on workers so that the workers end together (a pull takes as
 * long as its busiest worker): the workers start now (as with warmUnpackWorkers), then the
 * largest layers are placed first, each on the worker with the fewest bytes ahead of it (its
 * running layers' and those placed before), by compressed size. `sizes[i]` is the blob size
 * of the i-th layer, 0 for one that is not unpacked; the answer has the i-th layer's
 * placement, for workerLayer (none without workers or for a 0).
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

/** The job `id` is over: its worker goes idle when it has no other. */
export function releaseWorker(pw: PoolWorker, id: number): void {
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
