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

/** Docker's multiplexed stream ids, which the scanner uses for the two streams. */
const STDOUT = 1;
const STDERR = 2;
type StreamId = typeof STDOUT | typeof STDERR;

/**
 * A complete entry: bytes [start, end) of `buf`, its newline included unless it is output
 * that ended without one. An entry joined from P parts comes in a buffer of its own.
 */
type Visit = (stream: StreamId, buf: Buffer, start: number, end: number, timeNs: bigint) => void;

/**
 * Finds the entries in k8s-file bytes, joining P parts, without allocating per line (a log
 * can hold millions of lines). Entries are visited with their time when `times` is set (0
 * otherwise; lines in the same second share one parse); while one is visited, `entryOffset`
 * is the file offset of its first line.
 */
class LogScanner {
  entryOffset = 0;
  /** Per stream: the P parts waiting for their F line, the time and file offset of the first. */
  private readonly parts: [undefined, Buffer[], Buffer[]] = [undefined, [], []];
  private readonly partTimes: [bigint, bigint, bigint] = [0n, 0n, 0n];
  private readonly partOffsets: [number, number, number] = [0, 0, 0];
  private lastSecond = '';
  private lastSecondNs = 0n;

  constructor(private readonly times: boolean) {}

  /**
   * Visit the entries of the complete lines of `data`, whose first byte is at file offset
   * `base`; returns the offset in `data` after the last complete line.
   */
  scan(data: Buffer, base: number, visit: Visit): number {
    let at = 0;
    for (let nl = data.indexOf(10, at); nl >= 0; at = nl + 1, nl = data.indexOf(10, at)) {
      // `<time> <stdout|stderr> <P|F> <content>`
      const sp = data.indexOf(32, at);
      if (sp < 0 || sp - at < 20 || nl - sp < 9 || data[sp + 7] !== 32 || data[sp + 9] !== 32) continue;
      const kind = data[sp + 4];
      const stream = kind === 0x6f /* o */ ? STDOUT : kind === 0x65 /* e */ ? STDERR : undefined;
      const flag = data[sp + 8];
      if (stream === undefined || (flag !== 0x50 /* P */ && flag !== 0x46) /* F */) continue;
      let timeNs = 0n;
      if (this.times) {
        const t = this.timeOf(data.toString('latin1', at, sp));
        if (t === undefined) continue;
        timeNs = t;
      }
      const parts = this.parts[stream];
      if (flag === 0x50) {
        if (parts.length === 0) {
          this.partTimes[stream] = timeNs;
          this.partOffsets[stream] = base + at;
        }
        parts.push(data.subarray(sp + 10, nl)); // a partial line's newline is conmon's, not the output's
        continue;
      }
      if (parts.length === 0) {
        this.entryOffset = base + at;
        visit(stream, data, sp + 10, nl + 1, timeNs);
        continue;
      }
      parts.push(data.subarray(sp + 10, nl + 1));
      this.visitJoined(stream, visit);
    }
    return at;
  }

  /** Visit the partial lines left when the log ends (output that had no final newline). */
  flush(visit: Visit): void {
    if (this.parts[STDOUT].length > 0) this.visitJoined(STDOUT, visit);
    if (this.parts[STDERR].length > 0) this.visitJoined(STDERR, visit);
  }

  private visitJoined(stream: StreamId, visit: Visit): void {
    const parts = this.parts[stream];
    const joined = Buffer.concat(parts);
    parts.length = 0;
    this.entryOffset = this.partOffsets[stream];
    visit(stream, joined, 0, joined.length, this.partTimes[stream]);
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

/** A log read in chunks from a file offset on, through a scanner; it may not exist yet. */
class LogFile {
  private fh: FileHandle | undefined;
  private rest = Buffer.alloc(0);
  private readonly buf = Buffer.alloc(64 * 1024);

  constructor(
    private readonly path: string,
    private readonly scanner: LogScanner,
    private position = 0,
  ) {}

  /** Read one chunk and visit its entries; false when there was nothing more to read. */
  async readChunk(visit: Visit): Promise<boolean> {
    this.fh ??= await openIfExists(this.path);
    if (!this.fh) return false;
    const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.position);
    if (bytesRead === 0) return false;
    const base = this.position - this.rest.length;
    this.position += bytesRead;
    // A copy: entries are views of it, and the read buffer is reused.
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, this.buf.subarray(0, bytesRead)]) : Buffer.from(this.buf.subarray(0, bytesRead));
    this.rest = Buffer.from(data.subarray(this.scanner.scan(data, base, visit)));
    return true;
  }

  /** File offset of the first byte not scanned yet (where the unfinished line starts). */
  get scanned(): number {
    return this.position - this.rest.length;
  }

  async close(): Promise<void> {
    await this.fh?.close();
  }
}

/**
 * The file offset where the last `tail` entries that pass `wanted` start (one pass over the
 * file keeping only offsets); with `flush`, output left without a newline counts too. Where
 * partial lines of the two streams interleave, a few more entries may follow from there,
 * never a part of one.
 */
async function tailStart(path: string, tail: number, times: boolean, wanted: (timeNs: bigint) => boolean, flush: boolean): Promise<number> {
  const scanner = new LogScanner(times);
  const file = new LogFile(path, scanner);
  const ring = new Float64Array(Math.max(tail, 1));
  let count = 0;
  const visit: Visit = (_stream, _buf, _start, _end, timeNs) => {
    if (wanted(timeNs)) ring[count++ % ring.length] = scanner.entryOffset;
  };
  try {
    while (await file.readChunk(visit));
    if (flush) scanner.flush(visit);
    if (tail === 0) return file.scanned;
  } finally {
    await file.close();
  }
  if (count <= tail) return 0;
  // An entry completed late (joined parts) may have started before the ones before it.
  let first = Infinity;
  for (const offset of ring) first = Math.min(first, offset);
  return first;
}

/**
 * Visit the entries of a log (the last `tail` ones, or all), then with follow new ones until
 * the container stops; yields what `gathered()` hands on after each chunk read.
 */
async function* walkLog<T>(path: string, opts: LogReadOptions, times: boolean, visit: Visit, gathered: () => T | undefined): AsyncGenerator<T> {
  const filtering = opts.sinceNs !== undefined || opts.untilNs !== undefined;
  const needTimes = times || filtering;
  const wanted = (t: bigint): boolean => (opts.sinceNs === undefined || t >= opts.sinceNs) && (opts.untilNs === undefined || t < opts.untilNs);
  const start = opts.tail !== undefined && opts.tail >= 0 ? await tailStart(path, opts.tail, needTimes, wanted, !opts.follow) : 0;
  const scanner = new LogScanner(needTimes);
  const filtered: Visit = !filtering ? visit : (stream, buf, s, e, t) => {
    if (wanted(t)) visit(stream, buf, s, e, t);
  };
  const file = new LogFile(path, scanner, start);
  async function* drain(): AsyncGenerator<T> {
    while (await file.readChunk(filtered)) {
      const out = gathered();
      if (out !== undefined) yield out;
    }
  }
  try {
    yield* drain();
    while (opts.follow && !opts.signal?.aborted) {
      if (!opts.isRunning()) {
        yield* drain(); // conmon may have written the last lines just before the exit
        break;
      }
      if (opts.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n >= opts.untilNs) break;
      await waitForChange(path, 250, opts.signal);
      yield* drain();
    }
    scanner.flush(filtered);
    const out = gathered();
    if (out !== undefined) yield out;
  } finally {
    await file.close();
  }
}

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
  /** Each entry prefixed with its time, RFC3339Nano in UTC, and a space. */
  timestamps: boolean;
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
    size += length + (opts.multiplexed ? 8 : 0);
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
        out.writeUInt32BE(end - s + (stamp?.length ?? 0), at + 4);
        at += 8;
      }
      if (stamp) at += stamp.copy(out, at);
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
