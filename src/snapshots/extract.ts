import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { constants as fsc } from 'node:fs';
import type { Readable } from 'node:stream';
import { isMainThread } from 'node:worker_threads';
import { EngineError, errnoCode, invalid, withContext } from '../errors.js';
import { log } from '../log.js';
import { lgetxattr, llistxattr, lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/libc.js';
import { Writeback } from '../util/writeback.js';
import { isWhiteout, LowerView, OPAQUE_XATTR } from './lower.js';
import { createExtract, entryXattrs, type TarEntryStream, type TarHeader } from '../util/tar-format.js';
import { isDestroyed, writable } from '../util/streams.js';

/**
 * The layer extractor: unpacks an uncompressed OCI/Docker layer tar into an empty folder that
 * becomes one overlayfs layer.
 *
 * What it promises:
 * - **Containment.** Nothing outside `dest` is created, changed or removed, whatever the tar
 *   holds. Entry names are cleaned lexically (`a/../b` is `b`, a leading `/` is dropped); a
 *   name or hard-link target that climbs above the root (`../x`) rejects the layer with
 *   `invalid`. Symlinks already in the layer are never followed by the OS while a path is
 *   created: each parent component is checked with lstat, and a symlinked parent is resolved
 *   by pier as if `dest` were `/` (chroot semantics, as Docker does by unpacking in a chroot).
 *   So a layer holding `a -> /etc` then `a/passwd` writes `dest/etc/passwd`, never
 *   `/etc/passwd`; chains (`a -> b`, `b -> ../../..`) are contained the same way.
 *   The last component is never followed: whatever is there is replaced.
 * - **Whiteouts.** `.wh.<name>` becomes an overlay whiteout (char device 0/0 named `<name>`),
 *   `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its dir; other `.wh..wh.` names
 *   (aufs bookkeeping) are skipped. A whiteout for a path this same layer unpacked does not
 *   remove it (containerd's rule); a directory created over a whiteout becomes opaque.
 * - **Hard links** to entries of this layer are hard links. A hard link to a file that only a
 *   lower layer has (tars written by some tools do that) becomes a *copy* of the lower file
 *   (content, mode, owner, times, xattrs): the lower layer cannot be linked to, and a copy is
 *   what overlayfs's own copy-up would give. A hard link to a directory or to a missing file
 *   is `invalid`.
 * - **Implied folders** (an entry `a/b` with no entry `a/` before it) take the mode, owner and
 *   times the lower layers give that folder, else 0755 root; a later entry `a/` wins.
 * - **Metadata**: modes (with setuid/setgid/sticky), uid/gid, mtimes (directories' at the end,
 *   after their content), xattrs from PAX `SCHILY.xattr.*` (except `trusted.overlay.*`,
 *   which only pier sets). Devices and fifos are made with mknod.
 * - **DiffID**: the sha256 of every byte read from the stream, padding included.
 * - A truncated or corrupt tar fails with `invalid` (`layer tar: unexpected end of data`); an
 *   error of the stream itself reaches the caller unchanged. On failure `dest` is left
 *   half-written: the caller extracts into a temp folder and removes it.
 *
 * A tar cut exactly at an entry boundary (no end-of-archive blocks) cannot be told from a
 * complete one, as with Docker; the DiffID check of the image catches it.
 */

export interface ExtractResult {
  /** `sha256:<hex>` of the raw tar bytes. */
  diffId: string;
  /** Bytes read. */
  size: number;
}

export interface ExtractOptions {
  /**
   * false: large files are not handed to the disk as they are written (src/util/writeback.ts),
   * for a layer flushed later, after the pull (src/daemon/flush-behind.ts). Default true.
   */
  writeback?: boolean;
}

/**
 * Unpack `tar` into `dest`, an existing empty folder. `lowers` are the layer folders under it,
 * top-most first, consulted for hard links to lower files and for the metadata of folders
 * the tar implies without listing them.
 *
 * `lowers` may be a promise, for a layer whose parent is still being unpacked: the tar is read
 * and written at once all the same. Implied folders are made 0755 at once and take the lower
 * layers' metadata at the end; a hard link to a file only a lower layer has waits for the
 * promise (its stream waits meanwhile). Either way the result comes only once `lowers` is
 * known, and when the promise rejects the extraction fails with its reason.
 */
export async function extractLayer(
  tar: Readable,
  dest: string,
  lowers: readonly string[] | Promise<readonly string[]> = [],
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const hash = createHash('sha256');
  let size = 0;
  const ex = createExtract();
  let sourceError: unknown;
  let stopping = false;

  // Fed from 'data' events (an async iteration would cost a promise per chunk); settles once
  // the tar ended, failed or was given up.
  const feeding = new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      tar.off('data', onData);
      resolve();
    };
    const failed = (err: unknown): void => {
      if (done) return;
      if (!stopping) {
        sourceError = err;
        ex.destroy(asError(err));
      }
      finish();
    };
    const onData = (chunk: Buffer): void => {
      hash.update(chunk);
      size += chunk.length;
      if (stopping || isDestroyed(ex)) {
        finish();
        tar.destroy();
        return;
      }
      if (!ex.write(chunk)) {
        tar.pause();
        void writable(ex).then(() => {
          if (!done) tar.resume();
        });
      }
    };
    tar.on('data', onData);
    tar.on('error', failed);
    tar.once('end', () => {
      if (done) return;
      ex.end(null);
      finish();
    });
    tar.once('close', () => {
      if (!tar.readableEnded) failed(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  });

  let tarError: unknown;
  ex.on('error', (err: unknown) => {
    tarError ??= err;
  });
  const closed = new Promise<void>((resolve) => ex.once('close', () => resolve()));

  const view = Promise.resolve(lowers).then((layers) => new LowerView(layers));
  view.catch(() => undefined); // handled in finish(), or by whoever gave the promise
  const writer = new LayerWriter(dest, view, opts.writeback !== false);
  let handlerError: unknown;
  try {
    // Entries already buffered chain through microtasks without the event loop turning: after
    // YIELD_EVERY_MS of that, let the I/O of others run. Time spent waiting (the loop turned
    // meanwhile, which `turned` tells) does not count.
    let busySince = performance.now();
    let turned = false;
    const markTurn = (): void => {
      turned = true;
    };
    let marker = setImmediate(markTurn);
    try {
      for await (const entry of ex as AsyncIterable<TarEntryStream>) {
        try {
          await writer.entry(entry.header as TarHeader, entry);
        } catch (err) {
          handlerError = err;
          throw err;
        }
        if (turned) {
          turned = false;
          busySince = performance.now();
          marker = setImmediate(markTurn);
        } else if (performance.now() - busySince > YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      clearImmediate(marker);
    }
    try {
      await writer.finish();
    } catch (err) {
      handlerError = err;
      throw err;
    }
  } catch (err) {
    stopping = true;
    ex.destroy(null);
    tar.destroy();
    await closed;
    await feeding;
    // A broken tar also breaks the entry being written: report the cause, not the symptom.
    if (sourceError !== undefined) throw asError(sourceError);
    if (tarError !== undefined && tarError !== sourceError) throw invalid(`layer tar: ${tarMessage(tarError)}`, tarError);
    if (handlerError !== undefined) throw asError(handlerError);
    throw invalid(`layer tar: ${tarMessage(err)}`, err);
  }
  await feeding;
  if (sourceError !== undefined) throw asError(sourceError);
  return { diffId: `sha256:${hash.digest('hex')}`, size };
}

/** The longest stretch the extractor keeps the event loop to itself. */
const YIELD_EVERY_MS = 10;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function tarMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected end of data/i.test(msg)) return 'unexpected end of data';
  if (/invalid tar header/i.test(msg)) return 'invalid tar header (corrupt, or not an uncompressed tar)';
  return msg.charAt(0).toLowerCase() + msg.slice(1);
}


/** The events of tar-stream's entry streams (streamx) that writeEntryData listens to. */
interface EntryEvents {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', fn: () => void): unknown;
  on(event: 'error', fn: (err: unknown) => void): unknown;
  off(event: 'data', fn: (chunk: Buffer) => void): unknown;
  destroy(err?: Error): void;
}

/**
 * Write the data of a file entry to `fd` as it arrives: each chunk with writeSync from the
 * 'data' event (one event per chunk, where an async iteration costs a promise and a microtask
 * turn per chunk, thousands per layer); with `early`, handed to the disk every WRITEBACK_BYTES
 * (Writeback). Resolves at the entry's end; a failed write destroys
 * the entry and rejects with the write's error; an entry that breaks off rejects.
 */
function writeEntryData(data: TarEntryStream, fd: number, early: boolean): Promise<void> {
  const entry = data as unknown as EntryEvents;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      entry.off('data', onData);
      reject(asError(err));
    };
    const writeback = early ? new Writeback(fd) : undefined;
    const onData = (chunk: Buffer): void => {
      try {
        for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
        writeback?.wrote(chunk.length);
      } catch (err) {
        fail(err);
        entry.destroy(asError(err));
      }
    };
    entry.on('data', onData);
    entry.on('error', fail);
    entry.on('end', () => {
      if (settled) return;
      settled = true;
      writeback?.end();
      resolve();
    });
    entry.on('close', () => fail(new Error('premature close')));
  });
}

async function drain(entry: TarEntryStream): Promise<void> {
  for await (const _ of entry) {
    // discard
  }
}

/**
 * Split a tar name into clean components: no empty, `.` or `..` parts, no leading `/`.
 * `invalid` when the name climbs above the root.
 */
export function cleanPath(name: string, what = 'entry'): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalid(`layer tar: ${what} ${JSON.stringify(name)} points outside the layer`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

const MAX_SYMLINK_HOPS = 40;

interface Times {
  atime: number;
  mtime: number;
}

/**
 * Applies tar entries to one layer folder; see `extractLayer` for what it promises.
 *
 * The filesystem calls here are synchronous: each takes microseconds (the folder is new and
 * in the page cache), where an async call costs a thread-pool round trip, and a layer has
 * thousands of entries. The event loop still turns between entries, as their data arrives.
 * Symlinks are the exception on the daemon's main thread: making one costs the journal up to
 * a third of a millisecond here (several under a pull's write load), and a base image has
 * hundreds (busybox's applets), so there they are made on the thread pool. On an unpack worker
 * (unpack-worker.ts) they are made at once: a thread-pool round trip there waits behind the
 * other layers' chunks, one event-loop turn per symlink, and the base layer, whose commit the
 * others wait for, took most of a pull.
 */
class LayerWriter {
  /** Every relative path (`/`-joined) this layer made; nothing else exists in the new folder. */
  private readonly created = new Set<string>(['']);
  /** Paths made from tar entries (or folders implied by them), for the whiteout rule. */
  private readonly unpacked = new Set<string>();
  /** Relative paths known to be real directories of this layer (not symlinks). */
  private readonly knownDirs = new Set<string>(['']);
  private readonly dirTimes = new Map<string, Times>();
  /** Implied folders (relative path → components) whose metadata comes from the lowers in finish(). */
  private readonly implied = new Map<string, string[]>();

  constructor(
    private readonly root: string,
    private readonly lower: Promise<LowerView>,
    private readonly writeback: boolean,
  ) {}

  async entry(h: TarHeader, data: TarEntryStream): Promise<void> {
    try {
      await this.apply(h, data);
    } catch (err) {
      if (err instanceof EngineError && err.message.startsWith('layer tar:')) throw err;
      throw withContext(`layer tar: ${h.name}`, err);
    }
    await drain(data);
  }

  /** Once the lowers are known: implied folders take their metadata, then every folder its times. */
  async finish(): Promise<void> {
    const lower = await this.lower;
    for (const [rel, comps] of this.implied) {
      const found = await lower.lookup(comps);
      if (!found?.stat.isDirectory()) continue;
      const st = found.stat;
      const abs = this.abs(rel);
      fs.lchownSync(abs, st.uid, st.gid);
      fs.chmodSync(abs, st.mode & 0o7777);
      this.dirTimes.set(rel, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
    }
    for (const [rel, t] of this.dirTimes) fs.lutimesSync(this.abs(rel), t.atime, t.mtime);
  }

  private abs(rel: string | readonly string[]): string {
    const r = typeof rel === 'string' ? rel : rel.join('/');
    return r === '' ? this.root : `${this.root}/${r}`;
  }

  /** lstat of a path of this layer; null when absent (known without a syscall for paths never made). */
  private stat(rel: string): fs.Stats | null {
    if (!this.created.has(rel)) return null;
    try {
      return fs.lstatSync(this.abs(rel), { throwIfNoEntry: false }) ?? null;
    } catch (err) {
      if (errnoCode(err) === 'ENOTDIR') return null;
      throw err;
    }
  }

  private async apply(h: TarHeader, data: TarEntryStream): Promise<void> {
    const comps = cleanPath(h.name);
    const type = h.type ?? 'file';
    if (comps.length === 0) {
      if (type !== 'directory') throw invalid(`layer tar: entry ${JSON.stringify(h.name)} names the root but is not a directory`);
      this.setMeta('', h, 'directory');
      return;
    }
    const base = comps[comps.length - 1]!;
    if (base.startsWith('.wh.')) {
      this.whiteout(h, comps);
      return;
    }
    const parent = this.resolveDir(comps.slice(0, -1), h.name);
    const rel = [...parent, base].join('/');
    const abs = this.abs(rel);

    if (type === 'link') {
      await this.hardlink(h, rel);
      this.made(rel);
      return;
    }

    const existing = this.stat(rel);
    let overWhiteout = false;
    if (existing !== null && !(existing.isDirectory() && type === 'directory')) {
      overWhiteout = isWhiteout(existing);
      this.remove(rel);
    }

    switch (type) {
      case 'file':
      case 'contiguous-file': {
        const fd = fs.openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        this.created.add(rel);
        try {
          await writeEntryData(data, fd, this.writeback);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'directory':
        if (existing === null || !existing.isDirectory()) fs.mkdirSync(abs, 0o700);
        if (overWhiteout) lsetxattr(abs, OPAQUE_XATTR, Buffer.from('y'));
        this.knownDirs.add(rel);
        break;
      case 'symlink':
        if (!h.linkname) throw invalid(`layer tar: symlink ${JSON.stringify(h.name)} has no target`);
        if (isMainThread) await fs.promises.symlink(h.linkname, abs);
        else fs.symlinkSync(h.linkname, abs);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = type === 'fifo' ? S_IFIFO : type === 'character-device' ? S_IFCHR : S_IFBLK;
        mknod(abs, kind | ((h.mode ?? 0) & 0o7777), type === 'fifo' ? 0n : makedev(h.devmajor ?? 0, h.devminor ?? 0));
        break;
      }
      default:
        throw invalid(`layer tar: entry ${JSON.stringify(h.name)} has an unsupported type (${h.type})`);
    }
    this.made(rel);
    this.setMeta(rel, h, type);
  }

  private made(rel: string): void {
    this.created.add(rel);
    this.unpacked.add(rel);
  }

  /** Owner, mode, xattrs and times of a node this layer just made (`rel` is never a symlink to follow). */
  private setMeta(rel: string, h: TarHeader, type: NonNullable<TarHeader['type']>): void {
    const abs = this.abs(rel);
    const uid = paxInt(h.pax?.uid) ?? h.uid ?? 0;
    const gid = paxInt(h.pax?.gid) ?? h.gid ?? 0;
    fs.lchownSync(abs, uid, gid);
    if (type !== 'symlink') fs.chmodSync(abs, (h.mode ?? 0o644) & 0o7777); // after chown, which clears setuid
    for (const [name, value] of entryXattrs(h)) {
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        const code = errnoCode(err);
        // Docker ignores xattrs the filesystem cannot hold; user.* cannot be set on symlinks.
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || (code === 'EPERM' && type === 'symlink')) {
          log.debug({ path: abs, xattr: name, code }, 'layer xattr not set');
          continue;
        }
        throw err;
      }
    }
    const mtime = paxFloat(h.pax?.mtime) ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const atime = paxFloat(h.pax?.atime) ?? mtime;
    this.implied.delete(rel); // listed after all: the tar's metadata wins
    if (type === 'directory') this.dirTimes.set(rel, { atime, mtime });
    else fs.lutimesSync(abs, atime, mtime);
  }

  private whiteout(h: TarHeader, comps: string[]): void {
    const base = comps[comps.length - 1]!;
    const parent = this.resolveDir(comps.slice(0, -1), h.name);
    if (base === '.wh..wh..opq') {
      lsetxattr(this.abs(parent), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs metadata (.wh..wh.plnk, .wh..wh.aufs)
    const victim = base.slice('.wh.'.length);
    if (victim === '' || victim === '.' || victim === '..') throw invalid(`layer tar: bad whiteout ${JSON.stringify(h.name)}`);
    const rel = [...parent, victim].join('/');
    const abs = this.abs(rel);
    const existing = this.stat(rel);
    if (this.unpacked.has(rel) && existing !== null) {
      // Deleted, then made again by this same layer: it stays, hiding the lower one.
      if (existing.isDirectory()) lsetxattr(abs, OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    if (existing !== null) this.remove(rel);
    mknod(abs, S_IFCHR, 0n);
    this.created.add(rel);
    fs.lchownSync(abs, paxInt(h.pax?.uid) ?? h.uid ?? 0, paxInt(h.pax?.gid) ?? h.gid ?? 0);
  }

  private async hardlink(h: TarHeader, rel: string): Promise<void> {
    const abs = this.abs(rel);
    const target = cleanPath(h.linkname ?? '', 'hard link target of');
    if (target.length === 0) throw invalid(`layer tar: hard link ${JSON.stringify(h.name)} has no target`);
    const targetParent = this.resolveDir(target.slice(0, -1), h.name, false);
    let source: string | null = null;
    if (targetParent !== null) {
      const tRel = [...targetParent, target[target.length - 1]!].join('/');
      const st = this.stat(tRel);
      if (st !== null) {
        if (st.isDirectory()) throw invalid(`layer tar: hard link ${JSON.stringify(h.name)} to a directory`);
        if (tRel === rel) return; // a link to itself: the file is there already
        source = this.abs(tRel);
      }
    }
    if (this.stat(rel) !== null) this.remove(rel);
    if (source !== null) {
      fs.linkSync(source, abs);
      return;
    }
    const lowerEntry = await (await this.lower).lookup(target);
    if (lowerEntry === null) throw invalid(`layer tar: hard link ${JSON.stringify(h.name)} to missing ${JSON.stringify(h.linkname)}`);
    if (lowerEntry.stat.isDirectory()) throw invalid(`layer tar: hard link ${JSON.stringify(h.name)} to a directory`);
    copyNode(lowerEntry.path, lowerEntry.stat, abs);
  }

  /**
   * The real relative path (components) of the folder `comps`, resolving symlinks of this
   * layer with the layer's root as `/`. Missing folders are created (see `mkdirImplied`)
   * unless `create` is false, when null is returned.
   */
  private resolveDir(comps: readonly string[], entryName: string, create?: true): string[];
  private resolveDir(comps: readonly string[], entryName: string, create: false): string[] | null;
  private resolveDir(comps: readonly string[], entryName: string, create = true): string[] | null {
    const pending = [...comps];
    const real: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        real.pop();
        continue;
      }
      const rel = [...real, c].join('/');
      if (this.knownDirs.has(rel)) {
        real.push(c);
        continue;
      }
      const st = this.stat(rel);
      if (st === null || isWhiteout(st)) {
        if (!create) return null;
        if (st !== null) this.remove(rel);
        this.mkdirImplied([...real, c], st !== null);
        real.push(c);
        continue;
      }
      if (st.isDirectory()) {
        this.knownDirs.add(rel);
        real.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw invalid(`layer tar: ${JSON.stringify(entryName)}: too many levels of symbolic links`);
        const target = fs.readlinkSync(this.abs(rel));
        if (target.startsWith('/')) real.length = 0;
        pending.unshift(...target.split('/'));
        continue;
      }
      throw invalid(`layer tar: ${JSON.stringify(entryName)}: ${JSON.stringify(rel)} is not a directory`);
    }
    return real;
  }

  /**
   * A folder the tar implies (an entry under it) without listing it first: 0755 root now; the
   * mode, owner and times the lower layers give it in finish(), when the lowers are known.
   */
  private mkdirImplied(comps: string[], overWhiteout: boolean): void {
    const rel = comps.join('/');
    const abs = this.abs(rel);
    fs.mkdirSync(abs, 0o755);
    fs.chmodSync(abs, 0o755); // whatever the umask
    this.made(rel);
    this.implied.set(rel, comps);
    this.dirTimes.delete(rel);
    if (overWhiteout) lsetxattr(abs, OPAQUE_XATTR, Buffer.from('y'));
    this.knownDirs.add(rel);
  }

  private remove(rel: string): void {
    fs.rmSync(this.abs(rel), { recursive: true, force: true });
    // What was under it is gone, and a dir may come back as a symlink: forget what we knew.
    this.knownDirs.clear();
    this.knownDirs.add('');
    const under = `${rel}/`;
    for (const map of [this.implied, this.dirTimes]) {
      for (const k of map.keys()) if (k === rel || k.startsWith(under)) map.delete(k);
    }
  }
}

/** Copy a non-directory node of a lower layer to `dest` (which does not exist), with its metadata. */
function copyNode(src: string, st: fs.Stats, dest: string): void {
  if (st.isFile()) fs.copyFileSync(src, dest, fsc.COPYFILE_EXCL);
  else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dest);
  else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) mknod(dest, st.mode, BigInt(st.rdev));
  else throw invalid(`layer tar: cannot copy ${src}: unsupported file type`);
  fs.lchownSync(dest, st.uid, st.gid);
  if (!st.isSymbolicLink()) fs.chmodSync(dest, st.mode & 0o7777);
  for (const name of llistxattr(src)) {
    if (name.startsWith('trusted.overlay.')) continue;
    const value = lgetxattr(src, name);
    if (value !== undefined) lsetxattr(dest, name, value);
  }
  fs.lutimesSync(dest, st.atimeMs / 1000, st.mtimeMs / 1000);
}

function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function paxFloat(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}
