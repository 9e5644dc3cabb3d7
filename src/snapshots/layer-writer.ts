import * as fs from 'node:fs';
import { constants as fsc } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { EngineError, errnoCode, invalid, withContext } from '../errors.js';
import { log } from '../log.js';
import { lgetxattr, llistxattr, lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/libc.js';
import { Writeback } from '../util/writeback.js';
import { isWhiteout, LowerView, OPAQUE_XATTR } from './lower.js';
import { entryXattrs, paxFloat, paxInt, type TarEntryStream, type TarHeader } from '../util/tar-format.js';

/** An unknown thrown value as an Error. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
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
 * The filesystem calls here are synchronous (the folder is new and in the page cache; an
 * async call would cost a thread-pool round trip per entry); the event loop still turns
 * between entries, as their data arrives. Symlinks are the exception on the daemon's main
 * thread, where they are made on the thread pool so that a journal wait never blocks the
 * loop; on an unpack worker (unpack-thread.ts) they are made at once.
 */
export class LayerWriter {
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
