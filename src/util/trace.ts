import { appendFileSync } from 'node:fs';

/**
 * Phase marks for measuring where an operation spends its time (bench/phases.ts reads them).
 * Off unless pierd runs with `PIER_TRACE=<file>`: then every `mark` appends one JSON line
 * `{"t": <ms since the epoch, read from the monotonic clock>, "id": <subject>, "phase": <name>}` to that file,
 * synchronously, so that the marks of one subject are in order and none is lost to a crash.
 * A mark's cost when off is one comparison; it never throws (a failed write turns tracing off).
 */
let target = process.env.PIER_TRACE || undefined;

export function mark(id: string, phase: string): void {
  if (target === undefined) return;
  try {
    appendFileSync(target, `${JSON.stringify({ t: Math.round(performance.timeOrigin * 1000 + performance.now() * 1000) / 1000, id, phase })}\n`);
  } catch {
    target = undefined;
  }
}
