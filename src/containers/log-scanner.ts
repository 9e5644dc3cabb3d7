/**
 * The k8s-file format conmon writes a container's output in:
 * `<RFC3339Nano time> <stdout|stderr> <P|F> <content>\n`, where P marks a partial line (no
 * newline in the output) and F the full line that ends it. The scanner finds the entries in
 * such bytes, joining P parts back; times are parsed and printed here.
 */

export interface LogEntry {
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  stream: 'stdout' | 'stderr';
  data: Buffer;
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

/** RFC3339 in UTC with all nine digits of nanoseconds (Docker's rfc3339NanoFixed for `logs -t`). */
export function formatTimeNs(ns: bigint): string {
  const second = ns / 1_000_000_000n;
  if (second !== lastIsoSecond) {
    lastIso = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    lastIsoSecond = second;
  }
  const iso = lastIso;
  return `${iso}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
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
export const STDOUT = 1;
export const STDERR = 2;
export type StreamId = typeof STDOUT | typeof STDERR;

/**
 * A complete entry: bytes [start, end) of `buf`, its newline included unless it is output
 * that ended without one. An entry joined from P parts comes in a buffer of its own.
 */
export type Visit = (stream: StreamId, buf: Buffer, start: number, end: number, timeNs: bigint) => void;

/**
 * Finds the entries in k8s-file bytes, joining P parts, without allocating per line (a log
 * can hold millions of lines). Entries are visited with their time when `times` is set (0
 * otherwise; lines in the same second share one parse); while one is visited, `entryOffset`
 * is the file offset of its first line.
 */
export class LogScanner {
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

