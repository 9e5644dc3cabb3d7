/** What every benchmark needs: a command's output or a clear failure, wall time, medians. */
import type { RunResult } from '../test/harness.js';

/** The command's stdout; a failure throws with what it printed. */
export function check(result: RunResult, what: string): string {
  if (result.code !== 0) throw new Error(`${what}: exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

/** Wall time of one call of `fn`, in milliseconds. */
export async function wallMs(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
