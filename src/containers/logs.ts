import { walkLog, type LogReadOptions } from './log-walk.js';
import { formatTimeNs, STDOUT, type LogEntry, type Visit } from './log-scanner.js';

/**
 * A container's log as the API hands it out: entries for attach's `logs=1`, bytes in Docker's
 * framing for `GET /containers/{id}/logs`. The files are found and walked by log-walk.ts.
 */

export { parseTimeArg, type LogEntry } from './log-scanner.js';
export type { LogReadOptions } from './log-walk.js';

/** Yield the entries of a log, then (with follow) new ones until the container stops. */
export async function* readLog(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  let batch: LogEntry[] = [];
  const visit: Visit = (stream, buf, start, end, timeNs) => {
    batch.push({ timeNs, stream: stream === STDOUT ? 'stdout' : 'stderr', data: buf.subarray(start, end) });
  };
  const gathered = (): LogEntry[] | undefined => {
    if (batch.length === 0) return undefined;
    const out = batch;
    batch = [];
    return out;
  };
  for await (const entries of walkLog(path, opts, true, visit, gathered)) yield* entries;
}

export interface LogOutput {
  stdout: boolean;
  stderr: boolean;
  /** Each entry prefixed with its time (RFC3339 with nine digits, UTC) and a space. */
  timestamps: boolean;
  /**
   * `--details`: each entry prefixed (after its time) with these attributes and a space, as
   * Docker does, the space even when there are none.
   */
  details?: string;
  /** Docker's multiplexed frames (an 8-byte header per entry); raw bytes for a TTY's log. */
  multiplexed: boolean;
}

/**
 * The bytes `GET /containers/{id}/logs` sends, one buffer per chunk read (about 64 KiB):
 * the entries' spans are gathered in a typed array and copied once into the chunk's buffer,
 * so a line costs no allocation (but its time string with `timestamps`).
 */
export async function* logBytes(path: string, opts: LogReadOptions & LogOutput): AsyncGenerator<Buffer> {
  let spans = new Int32Array(3 * 1024); // stream, start, end per entry; start -1-i: extra[i], from 0
  let n = 0;
  let size = 0;
  let source: Buffer | undefined;
  const extra: Buffer[] = [];
  const stamps: Buffer[] = [];
  const wantStream = [false, opts.stdout, opts.stderr];
  const details = opts.details !== undefined ? Buffer.from(`${opts.details} `) : undefined;
  const visit: Visit = (stream, buf, start, end, timeNs) => {
    if (!wantStream[stream]) return;
    // An entry joined from parts comes in a buffer of its own, from 0; the others are views
    // of the chunk read (never from 0: the line's head comes first).
    if (start === 0) {
      extra.push(buf);
      start = -extra.length;
    } else source = buf;
    if (3 * (n + 1) > spans.length) {
      const bigger = new Int32Array(spans.length * 2);
      bigger.set(spans);
      spans = bigger;
    }
    spans[3 * n] = stream;
    spans[3 * n + 1] = start;
    spans[3 * n + 2] = end;
    n++;
    const length = start < 0 ? end : end - start;
    size += length + (opts.multiplexed ? 8 : 0) + (details?.length ?? 0);
    if (opts.timestamps) {
      const stamp = Buffer.from(`${formatTimeNs(timeNs)} `, 'latin1');
      stamps.push(stamp);
      size += stamp.length;
    }
  };
  const gathered = (): Buffer | undefined => {
    if (n === 0) return undefined;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const start = spans[3 * i + 1]!;
      const end = spans[3 * i + 2]!;
      const from = start < 0 ? extra[-start - 1]! : source!;
      const s = start < 0 ? 0 : start;
      const stamp = opts.timestamps ? stamps[i]! : undefined;
      if (opts.multiplexed) {
        out[at] = spans[3 * i]!;
        out[at + 1] = 0;
        out[at + 2] = 0;
        out[at + 3] = 0;
        out.writeUInt32BE(end - s + (stamp?.length ?? 0) + (details?.length ?? 0), at + 4);
        at += 8;
      }
      if (stamp) at += stamp.copy(out, at);
      if (details) at += details.copy(out, at);
      at += from.copy(out, at, s, end);
    }
    n = 0;
    size = 0;
    extra.length = 0;
    stamps.length = 0;
    source = undefined;
    return out;
  };
  yield* walkLog(path, opts, opts.timestamps, visit, gathered);
}
