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

const TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/;

/** Parse the time of a k8s-file line into ns since the epoch. */
export function parseLogTime(date: string, frac: string | undefined, zone: string): bigint {
  const z = zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = Date.parse(`${date}${z}`);
  const nanos = BigInt((frac ?? '').padEnd(9, '0').slice(0, 9) || '0');
  return BigInt(ms) * 1_000_000n + nanos;
}

let lastIsoSecond = -1n;
let lastIso = '';

/** RFC3339Nano in UTC as Go prints it (trailing zeros of the fraction trimmed). */
export function formatTimeNs(ns: bigint): string {
  const second = ns / 1_000_000_000n;
  if (second !== lastIsoSecond) {
    lastIso = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    lastIsoSecond = second;
  }
  const iso = lastIso;
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

/** Joins P/F lines into entries. Lean per line: a log can hold millions of them. */
class Joiner {
  private partial = new Map<string, { timeNs: bigint; parts: Buffer[] }>();
  /** The last whole second parsed (date and zone) and its ns: lines come many to a second. */
  private lastSecond = '';
  private lastSecondNs = 0n;

  /**
   * One line of the file, its newline included. The entry's data is a view of `line` (no
   * copy) unless P parts are joined.
   */
  push(line: Buffer): LogEntry | undefined {
    // `<time> <stdout|stderr> <P|F> <content>`
    const sp = line.indexOf(32);
    if (sp < 20 || line.length < sp + 10 || line[sp + 7] !== 32 || line[sp + 9] !== 32) return undefined;
    const kind = line[sp + 4];
    const stream = kind === 0x6f /* o */ ? 'stdout' : kind === 0x65 /* e */ ? 'stderr' : undefined;
    const flag = line[sp + 8];
    if (stream === undefined || (flag !== 0x50 /* P */ && flag !== 0x46) /* F */) return undefined;
    const timeNs = this.timeOf(line.toString('latin1', 0, sp));
    if (timeNs === undefined) return undefined;
    let content = line.subarray(sp + 10);
    const pending = this.partial.get(stream);
    if (flag === 0x50) {
      // A partial line has no newline of its own in the output: drop the file's.
      if (content[content.length - 1] === 10) content = content.subarray(0, -1);
      if (pending) pending.parts.push(content);
      else this.partial.set(stream, { timeNs, parts: [content] });
      return undefined;
    }
    if (!pending) return { timeNs, stream, data: content };
    this.partial.delete(stream);
    return { timeNs: pending.timeNs, stream, data: Buffer.concat([...pending.parts, content]) };
  }

  /** Partial lines left when the log ends (output that had no final newline). */
  flush(): LogEntry[] {
    const out = [...this.partial.entries()].map(([stream, p]) => ({ timeNs: p.timeNs, stream: stream as 'stdout' | 'stderr', data: Buffer.concat(p.parts) }));
    this.partial.clear();
    return out;
  }

  /** ns since the epoch of an RFC3339Nano time; undefined when it is not one. */
  private timeOf(time: string): bigint | undefined {
    let zoneAt = 19;
    if (time.charCodeAt(19) === 0x2e /* . */) {
      zoneAt = 20;
      while (zoneAt < time.length && time.charCodeAt(zoneAt) >= 0x30 && time.charCodeAt(zoneAt) <= 0x39) zoneAt++;
    }
    const second = time.slice(0, 19) + time.slice(zoneAt);
    if (second !== this.lastSecond) {
      const m = TIME.exec(time);
      if (!m) return undefined;
      this.lastSecondNs = parseLogTime(m[1]!, undefined, m[3]!);
      this.lastSecond = second;
    }
    return zoneAt === 19 ? this.lastSecondNs : this.lastSecondNs + BigInt(time.slice(20, zoneAt).padEnd(9, '0').slice(0, 9));
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
  for await (const batch of readLogBatches(path, opts)) yield* batch;
}

/**
 * `readLog` in batches (each non-empty, up to what one read of the file held): a log of
 * millions of lines costs one await per 64 KiB, not one per line.
 */
export async function* readLogBatches(path: string, opts: LogReadOptions): AsyncGenerator<LogEntry[]> {
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
      const data = rest.length > 0 ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
      let at = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, at)) {
        const entry = joiner.push(data.subarray(at, nl + 1));
        if (entry && wanted(entry)) out.push(entry);
        at = nl + 1;
      }
      // Entries keep views of `data`; the unfinished line is copied out of it.
      rest = Buffer.from(data.subarray(at));
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
      if (opts.tail > 0 && ring.length > 0) yield ring;
    }
    for (;;) {
      const batch = await drain();
      if (batch.length > 0) yield batch;
      if (!opts.follow || opts.signal?.aborted) break;
      if (!opts.isRunning()) {
        // One last read: conmon may have written the final lines just before the exit.
        const last = await drain();
        if (last.length > 0) yield last;
        break;
      }
      if (opts.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n >= opts.untilNs) break;
      await waitForChange(path, 250, opts.signal);
    }
    const rest = joiner.flush().filter(wanted);
    if (rest.length > 0) yield rest;
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
