/**
 * What Docker's CLI prints for people, to the character: durations (`About a minute`),
 * sizes (`4.26MB`), truncated IDs, ellipsized and quoted text, Go's time formats; and what
 * it parses from people: sizes (`512m`), CPU counts, Go durations, timestamps for
 * `--since`/`--until`. All pure; the current time is a parameter where it matters.
 */

import { humanDuration } from '../util/human.js';

// ---------------------------------------------------------------- durations and sizes (sizes: util/size.ts)

export { humanDuration };

/** `<duration> ago` for a unix time in seconds, as `docker ps` and `docker images` print it. */
export function timeAgo(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

export { bytesSize, formatFixed, formatG, humanSize } from '../util/size.js';

// ---------------------------------------------------------------- text

/** Docker's TruncateID: drop an algorithm prefix (`sha256:`), keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** East Asian wide and fullwidth characters take two columns in a terminal. */
function charWidth(cp: number): number {
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Display width of a string in terminal columns. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** Docker's Ellipsis: cut to `max` display columns, the last one an ellipsis (`echo…`). */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const chars = Array.from(s);
  if (max === 1) return chars[0] ?? '';
  if (displayWidth(s) <= max) return s;
  let width = 0;
  let out = '';
  for (const ch of chars) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (width + cw > max - 1) break;
    width += cw;
    out += ch;
  }
  return `${out}…`;
}

/** Go's strconv.Quote: a double-quoted string with Go escapes; printable Unicode stays as is. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if ((cp >= 0x80 && cp < 0xa0) || cp === 0xad || (cp >= 0xd800 && cp <= 0xdfff)) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else if (cp === 0xfffd && ch !== '\ufffd') out += '\\ufffd';
    else if (cp === 0x2028 || cp === 0x2029) out += `\\u${cp.toString(16)}`;
    else out += ch;
  }
  return `${out}"`;
}

// ---------------------------------------------------------------- times

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The local time zone's offset as `+0100`, or with a colon `+01:00`. */
function zoneOffset(d: Date, colon: boolean): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${sign}${pad2(Math.trunc(a / 60))}${colon ? ':' : ''}${pad2(a % 60)}`;
}

/** The zone's abbreviation as Go prints it (`UTC`, `CET`), or Go's numeric fallback (`+01`). */
function zoneName(d: Date): string {
  if (d.getTimezoneOffset() === 0 && (process.env.TZ === undefined || process.env.TZ === '' || /^(UTC|Etc\/UTC|UTC0)$/.test(process.env.TZ))) return 'UTC';
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value;
  if (part && /^[A-Z]{2,5}$/.test(part) && !part.startsWith('GMT')) return part;
  if (part === 'GMT' || part === 'UTC') return part;
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${pad2(Math.trunc(a / 60))}${a % 60 ? pad2(a % 60) : ''}`;
}

/** Go's time.Time.String() for a unix time in seconds, local zone: `2026-11-27 15:48:27 +0000 UTC`. */
export function goTimeString(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zoneOffset(d, false)} ${zoneName(d)}`;
}

/** RFC 3339 in the local zone, seconds precision: `2026-11-27T12:48:27Z` or `…+01:00`. */
export function rfc3339(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const zone = d.getTimezoneOffset() === 0 ? 'Z' : zoneOffset(d, true);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}${zone}`;
}

/**
 * RFC 3339 with exactly nine fractional digits, local zone (`2026-11-27T17:48:27.123456789Z`),
 * as `docker events` prints times. `nanos` is the fraction of the second, 0 to 999999999.
 */
export function rfc3339NanoFixed(unixSeconds: number, nanos: number): string {
  return rfc3339(unixSeconds).replace(/(Z|[+-]\d\d:\d\d)$/, `.${String(nanos).padStart(9, '0')}$1`);
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.ANSIC in the local zone, as `docker version` prints build times: `Fri May 30 12:07:14 2025`. */
export function ansicTime(date: Date): string {
  const d = date;
  return `${WEEKDAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
}

// ---------------------------------------------------------------- parsing

/** A flag value that does not parse; the CLI prints it as Docker does and exits 125. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

const BINARY: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: `512m` = 536870912, `1g`, `1.5GiB`, `100` (bytes), `2kb`; case-insensitive. */
export function ramInBytes(input: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+) ?([a-zA-Z]*)$/.exec(input);
  if (!m) throw new ParseError(`invalid size: '${input}'`);
  let size = Number(m[1]);
  const sfx = m[2]!.toLowerCase();
  if (sfx === '' || sfx === 'b') return Math.trunc(size);
  const mul = BINARY[sfx[0]!];
  if (mul === undefined || sfx.length > 3 || (sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) {
    throw new ParseError(`invalid suffix: '${sfx}'`);
  }
  size *= mul;
  return Math.trunc(size);
}

/** `--cpus 1.5` as nano CPUs (1500000000), exactly, from the decimal text; at most 9 decimals. */
export function parseNanoCpus(input: string): number {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(input.trim());
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) throw new ParseError(`failed to parse ${input} as a rational number`);
  const frac = m[2] ?? '';
  if (frac.replace(/0+$/, '').length > 9) throw new ParseError('value is too precise');
  return Number(m[1] || '0') * 1e9 + Number(frac.padEnd(9, '0').slice(0, 9));
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds: `10m`, `1h30m`, `1.5h`, `-2s`, `300ms`; undefined when it is not one. */
export function parseGoDuration(input: string): number | undefined {
  let s = input;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/; // micro sign and Greek mu, escaped to keep the bundle ASCII
  while (s !== '') {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/**
 * Docker's GetTimestamp for `--since`/`--until`: a Go duration is that long before `now`
 * (unix seconds); an RFC 3339 time or date (with or without zone: without, it is local)
 * becomes `seconds.nanoseconds`; a unix timestamp (`1700000000`, `1700000000.5`) passes as is.
 */
export function parseTimestamp(value: string, now = Date.now()): string {
  const dur = value !== '0' ? parseGoDuration(value) : undefined;
  if (dur !== undefined) return String(Math.trunc(Math.floor((now - dur) / 1000)));
  if (/^\d+(\.\d{1,9})?$/.test(value)) return value;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) {
    if (value.includes('-')) throw new ParseError(`parsing time "${value}": cannot parse as a time or duration`);
    throw new ParseError(`failed to parse value as time or duration: "${value}"`);
  }
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  let ms: number;
  if (zone) {
    ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +sec);
    if (zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1 : 1;
      ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
    }
  } else {
    ms = new Date(+y!, +mo! - 1, +d!, +h, +mi, +sec).getTime();
  }
  if (Number.isNaN(ms)) throw new ParseError(`parsing time "${value}": out of range`);
  return `${Math.floor(ms / 1000)}.${frac.padEnd(9, '0')}`;
}

/** A whole number flag value (`-t 10`, `--pids-limit 100`). */
export function parseInteger(input: string, flag: string): number {
  if (!/^[-+]?\d+$/.test(input.trim())) throw new ParseError(`invalid argument "${input}" for "${flag}" flag: strconv.ParseInt: parsing "${input}": invalid syntax`);
  return Number(input);
}
