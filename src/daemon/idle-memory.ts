import { calls } from '../util/libc.js';
import { EventEmitter } from 'node:events';
import { log } from '../log.js';

/**
 * Memory an idle daemon gives back. Under load V8 grows its heap and glibc keeps the pages
 * that freed allocations leave behind (per thread arena); neither shrinks until memory gets
 * short. A daemon that sits idle most of the time should hold what it needs, not what its
 * busiest minute needed, so pierd:
 *
 * - caps glibc at two malloc arenas before its thread pool starts (`limitMallocArenas`);
 * - once the API has been quiet for `quietMs` after some activity, runs one full garbage
 *   collection (when node runs with `--expose-gc`, as bin/pierd starts it) and returns free
 *   malloc pages to the kernel (`malloc_trim(0)`). About 10 ms of work per quiet spell.
 *
 * `server` is the API server: its `request` and `upgrade` events, and the end of each answer,
 * are the activity watched.
 * Returns a function that stops watching.
 */
export function releaseMemoryWhenIdle(server: EventEmitter, opts: { quietMs?: number; release?: () => void } = {}): () => void {
  const quietMs = opts.quietMs ?? 2000;
  const release = opts.release ?? releaseMemory;
  let timer: NodeJS.Timeout | undefined;
  const activity = (): void => {
    if (timer) timer.refresh();
    else {
      timer = setTimeout(() => {
        timer = undefined;
        release();
      }, quietMs).unref();
    }
  };
  // A request is activity when it comes and again when its answer ends (a pull lasts seconds).
  const request = (_req: unknown, res?: unknown): void => {
    activity();
    if (res instanceof EventEmitter) res.once('close', activity);
  };
  server.on('request', request);
  server.on('upgrade', activity);
  activity(); // start-up was activity too
  return () => {
    server.off('request', request);
    server.off('upgrade', activity);
    if (timer) clearTimeout(timer);
  };
}

/** One full garbage collection (when exposed) and malloc_trim(0). */
export function releaseMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const before = process.memoryUsage.rss();
  gc?.();
  calls.malloc_trim(0);
  log.debug({ rssBefore: before, rssAfter: process.memoryUsage.rss(), gc: gc !== undefined }, 'idle: memory released');
}

/**
 * Two malloc arenas instead of one per thread (`mallopt(M_ARENA_MAX, 2)`): fewer half-empty
 * heaps for the thread pool's threads. Call first thing, before the thread pool starts; set
 * in-process rather than through the environment so that conmon and the runtimes pierd
 * starts do not inherit it.
 */
export function limitMallocArenas(): void {
  const M_ARENA_MAX = -8;
  calls.mallopt(M_ARENA_MAX, 2);
}
