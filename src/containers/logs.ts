import { open, type FileHandle } from 'node:fs/promises';
import { watch } from 'node:fs';
import { errnoCode } from '../errors.js';

/**
 * Reading a container's log, which conmon writes in the k8s-file format:
 * `<RFC3339Nano time> <stdout|stderr> <P|F> <content>\n`, where P marks a partial line
 * (no newline in the output) and F the full line that ends it. Entries are joined back here.
 */

export interface LogEntry {
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface LogReadOptions {
  follow: boolean;
  /** Only entries at or after, in ns since the epoch. */
  sinceNs?: bigint;
  /** Only entries before, in ns since the epoch. */
  untilNs?: bigint;
  /** Only the last N entries (before following). */
  tail?: number;
  /** While following: whether more may come. Reading ends once it is false and the file is drained. */
  isRunning: () => boolean;
  signal?: AbortSignal;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d) (stdout|stderr) ([PF]) /;

/** Parse the time of a k8s-file line into ns since the epoch. */
export function parseLogTime(date: string, frac: string | undefined, zone: string): bigint {
  const z = zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${date}${z}`);
  const nanos = BigInt((frac ?? '').padEnd(9, '0').slice(0, 9) || '0');
  return BigInt(ms) * 1_000_000n + nanos;
}

/** RFC3339Nano in UTC as Go prints it (trailing zeros of the fraction trimmed). */
export function formatTimeNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${frac ? `.${frac}` : ''}Z`;
}

/** Parse a time given to --since/--until: unix seconds (with fraction) or RFC3339. */
export function parseTimeArg(value: string): bigint {
  if (/^\d+(\.\d+)?$/.test(value)) {
    const [s, f = ''] = value.split('.');
    return BigInt(s!) * 1_000_000_000n + BigInt(f.padEnd(9, '0').slice(0, 9) || '0');
  }
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(value);
  if (m) return parseLogTime(m[1]!, m[2], m[3]!);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`invalid time value ${value}`);
  return BigInt(ms) * 1_000_000n;
}

/** Joins P/F lines into entries. */
class Joiner {
  private partial = new Map<string, { timeNs: bigint; parts: Buffer[] }>();

  push(line: Buffer): LogEntry | undefined {
    const head = line.subarray(0, 64).toString('latin1');
    const m = LINE.exec(head);
    if (!m) return undefined;
    const timeNs = parseLogTime(m[1]!, m[2], m[3]!);
    const stream = m[4] as 'stdout' | 'stderr';
    const content = line.subarray(m[0].length);
    const pending = this.partial.get(stream);
    if (m[5] === 'P') {
      if (pending) pending.parts.push(content);
      else this.partial.set(stream, { timeNs, parts: [content] });
      return undefined;
    }
    this.partial.delete(stream);
    const parts = pending ? [...pending.parts, content, Buffer.from('\n')] : [content, Buffer.from('\n')];
    return { timeNs: pending?.timeNs ?? timeNs, stream, data: Buffer.concat(parts) };
  }

  /** Partial lines left when the log ends (output that had no final newline). */
  flush(): LogEntry[] {
    const out = [...this.partial.entries()].map(([stream, p]) => ({ timeNs: p.timeNs, stream: stream as 'stdout' | 'stderr', data: Buffer.concat(p.parts) }));
    this.partial.clear();
    return out;
  }
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Yield the entries of a log, then (with follow) new ones until the container stops. */
export async function* readLog(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
  const wanted = (e: LogEntry): boolean =>
    (opts.sinceNs === undefined || e.timeNs >= opts.sinceNs) && (opts.untilNs === undefined || e.timeNs < opts.untilNs);
  let fh = await openIfExists(path);
  const joiner = new Joiner();
  let position = 0;
  let rest = Buffer.alloc(0);
  const buf = Buffer.alloc(64 * 1024);

  /** Read what the file holds now; return complete entries. */
  const drain = async (): Promise<LogEntry[]> => {
    const out: LogEntry[] = [];
    if (!fh) fh = await openIfExists(path);
    if (!fh) return out;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let data = rest.length > 0 ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
      let nl: number;
      while ((nl = data.indexOf(10)) >= 0) {
        const entry = joiner.push(data.subarray(0, nl));
        if (entry && wanted(entry)) out.push(entry);
        data = data.subarray(nl + 1);
      }
      rest = Buffer.from(data);
    }
    return out;
  };

  try {
    if (opts.tail !== undefined && opts.tail >= 0) {
      // Keep only the last N entries of what is there now.
      const ring: LogEntry[] = [];
      for (;;) {
        const batch = await drain();
        if (batch.length === 0) break;
        for (const e of batch) {
          ring.push(e);
          if (ring.length > opts.tail) ring.shift();
        }
      }
      if (!opts.follow) for (const e of joiner.flush()) if (wanted(e)) { ring.push(e); if (ring.length > opts.tail) ring.shift(); }
      yield* opts.tail === 0 ? [] : ring;
    }
    for (;;) {
      for (const e of await drain()) yield e;
      if (!opts.follow || opts.signal?.aborted) break;
      if (!opts.isRunning()) {
        // One last read: conmon may have written the final lines just before the exit.
        for (const e of await drain()) yield e;
        break;
      }
      if (opts.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n >= opts.untilNs) break;
      await waitForChange(path, 250, opts.signal);
    }
    for (const e of joiner.flush()) if (wanted(e)) yield e;
  } finally {
    await fh?.close();
  }
}

/** Wait until the file changes, or `ms` passes, or the signal aborts. */
function waitForChange(path: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let watcher: ReturnType<typeof watch> | undefined;
    const done = (): void => {
      clearTimeout(timer);
      watcher?.close();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    try {
      watcher = watch(path, done);
      watcher.on('error', done);
    } catch {
      // The file may not exist yet: the timer covers it.
    }
    signal?.addEventListener('abort', done);
  });
}
