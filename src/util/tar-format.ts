import { extract as tarExtract, type Extract, type Header } from 'tar-stream';

/**
 * The tar format where tar-stream falls short. Reading: tar-stream decodes PAX values as
 * UTF-8 text, which mangles binary extended attributes (`security.capability`), so pier also
 * keeps the raw PAX bytes of each entry (`createExtract`). Writing: tar-stream's pack turns
 * mode 0 into 0644, cannot write a PAX header with binary values, and writes ids over 7 octal
 * digits out of their field, so pier encodes the headers of the tars it writes itself
 * (`encodeHeader`): ustar, with a PAX extended header when a name, a link target, an id, a size
 * or an mtime does not fit, or when the entry has xattrs; the same bytes for the same entry.
 */

/** A tar header as tar-stream yields it, with its PAX records and pier's raw xattrs. */
export type TarHeader = Omit<Header, 'pax'> & { pax?: PaxRecords | null };

export type PaxRecords = Record<string, string> & { [RAW_XATTRS]?: Map<string, Buffer> };

/** A tar entry as the extractor yields it: its header and its data. */
export type TarEntryStream = AsyncIterable<Buffer> & { header: Header };

export const RAW_XATTRS: unique symbol = Symbol('pier.rawXattrs');

const XATTR_PREFIX = 'SCHILY.xattr.';

/** The SCHILY.xattr records of one raw PAX header block, values as bytes. */
export function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(buf.toString('latin1', off, sp), 10);
    if (!(len > 0) || off + len > buf.length) break;
    const rec = buf.subarray(sp + 1, off + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) {
      const key = rec.toString('utf8', 0, eq);
      if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), Buffer.from(rec.subarray(eq + 1)));
    }
    off += len;
  }
  return out;
}

interface ExtractInternals {
  _decodeLongHeader?: (buf: Buffer) => void;
  _header?: { type?: string } | null;
  _pax?: PaxRecords | null;
}

/**
 * A tar-stream extractor whose entries carry their xattrs as raw bytes under
 * `header.pax[RAW_XATTRS]`. This hooks one internal method of tar-stream 3 (pinned in
 * package.json); should a later version drop it, xattrs fall back to tar-stream's UTF-8
 * decoding (exact for text values) and the binary-xattr test says so.
 */
export function createExtract(): Extract {
  // tar-stream reads this option, its typings do not list it
  const ex = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  const inner = ex as unknown as ExtractInternals;
  const decode = inner._decodeLongHeader;
  if (typeof decode === 'function') {
    inner._decodeLongHeader = function (this: ExtractInternals, buf: Buffer) {
      decode.call(this, buf);
      if (this._header?.type === 'pax-header' && this._pax) this._pax[RAW_XATTRS] = parsePaxXattrs(buf);
    };
  }
  return ex;
}

/** The xattrs of an entry: raw when available, else from tar-stream's decoded PAX text. */
export function entryXattrs(h: TarHeader): Map<string, Buffer> {
  const raw = h.pax?.[RAW_XATTRS];
  if (raw) return raw;
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(h.pax ?? {})) {
    if (k.startsWith(XATTR_PREFIX)) out.set(k.slice(XATTR_PREFIX.length), Buffer.from(v, 'utf8'));
  }
  return out;
}

/** An entry of a tar that pier writes. */
export interface TarEntry {
  name: string;
  type: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  /** Permission bits with setuid, setgid, sticky (file type bits are ignored). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (files only). */
  size: number;
  /** Seconds since the epoch (whole seconds, as Docker writes them). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer>;
}

const TYPEFLAG: Record<TarEntry['type'], string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(1024);

/** Zero bytes that pad `size` bytes of data to a whole 512-byte block. */
export function blockPadding(size: number): Buffer {
  const rem = size % 512;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(512 - rem);
}

/** The header blocks of one entry: a PAX extended header when needed, then the ustar header. */
export function encodeHeader(e: TarEntry): Buffer {
  const records: Array<[string, Buffer | string]> = [];
  let split = splitUstarName(e.name);
  if (split === null) {
    records.push(['path', e.name]);
    split = { prefix: '', name: asciiStandIn(e.name, 100) };
  }
  let linkname = e.linkname ?? '';
  if (!isAscii(linkname) || linkname.length > 100) {
    records.push(['linkpath', linkname]);
    linkname = asciiStandIn(linkname, 100);
  }
  const fit = (key: string, v: number, max: number): number => {
    if (Number.isInteger(v) && v >= 0 && v <= max) return v;
    records.push([key, String(v)]);
    return 0;
  };
  const uid = fit('uid', e.uid, 0o7777777);
  const gid = fit('gid', e.gid, 0o7777777);
  const size = fit('size', e.size, 0o77777777777);
  const mtime = fit('mtime', Math.trunc(e.mtime), 0o77777777777);
  for (const [k, v] of [...(e.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push([`SCHILY.xattr.${k}`, v]);
  }
  const ustar = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode: e.mode & 0o7777,
    uid,
    gid,
    size,
    mtime,
    typeflag: TYPEFLAG[e.type],
    linkname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (records.length === 0) return ustar;
  const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const paxName = asciiStandIn(`PaxHeaders/${e.name.split('/').filter(Boolean).at(-1) ?? ''}`, 100);
  const pax = ustarBlock({
    name: paxName,
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([pax, data, blockPadding(data.length), ustar]);
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 100, 'latin1');
  octal(b, 100, 8, f.mode);
  octal(b, 108, 8, f.uid);
  octal(b, 116, 8, f.gid);
  octal(b, 124, 12, f.size);
  octal(b, 136, 12, f.mtime);
  b.fill(0x20, 148, 156); // checksum counts as spaces
  b.write(f.typeflag, 156, 1, 'latin1');
  b.write(f.linkname, 157, 100, 'latin1');
  b.write('ustar\x0000', 257, 8, 'latin1');
  octal(b, 329, 8, f.devmajor);
  octal(b, 337, 8, f.devminor);
  b.write(f.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** An octal number filling `len - 1` digits, then NUL. */
function octal(b: Buffer, off: number, len: number, v: number): void {
  b.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}

/** The ustar (prefix, name) of a path, or null when it needs a PAX `path` record. */
function splitUstarName(path: string): { prefix: string; name: string } | null {
  if (!isAscii(path)) return null;
  if (path.length <= 100) return { prefix: '', name: path };
  // The prefix is everything before some '/', at most 155 bytes; the rest at most 100.
  for (let i = Math.min(path.length - 1, 155); i > 0; i--) {
    if (path[i] !== '/') continue;
    if (path.length - i - 1 > 100) break;
    return { prefix: path.slice(0, i), name: path.slice(i + 1) };
  }
  return null;
}

function asciiStandIn(s: string, max: number): string {
  return s.replace(/[^ -~]/g, '_').slice(-max);
}

/** One PAX record, `<len> <key>=<value>\n`, where len counts the whole record. */
function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A PAX header's whole number (`uid`, `gid`), or undefined when absent or malformed. */
export function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** A PAX header's decimal number (`mtime`, `atime`: seconds with a fraction), or undefined when absent or malformed. */
export function paxFloat(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}
