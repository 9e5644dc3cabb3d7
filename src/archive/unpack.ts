import { closeSync, constants as fsc, fchmodSync, futimesSync, linkSync, lchownSync, lutimesSync, mkdirSync, symlinkSync, writeSync, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { EngineError, errnoCode, invalid, withContext } from '../errors.js';
import { log } from '../log.js';
import { lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../snapshots/libc.js';
import { createExtract, entryXattrs, type TarEntryStream, type TarHeader } from '../snapshots/tar-format.js';
import { at, chmodNoFollow, closeLocation, fchownAndMode, lstatAt, openAt, openDirAt, removeAllAt, type Location, type RootDir } from './root-dir.js';

/**
 * Unpacking a tar into a folder of a RootDir, as Docker's `archive.Untar` does for
 * `PUT /containers/{id}/archive` and for the client side of `docker cp`:
 * - Names: a leading `/` is dropped (absolute entries land under the folder); a name that
 *   climbs above the folder (`../x`, `a/../../x`) fails the unpack (`invalid entry name`),
 *   as does a hard link whose target does. An entry naming the folder itself (`.`, `./`) is
 *   skipped.
 * - Containment: every entry's path is walked from the root by root-dir.ts, so symlinks on
 *   the way (the tree's own, or ones this tar made: `x -> /` then `x/f`) are followed inside
 *   the root as if it were `/`, and nothing is ever created, changed or removed outside it,
 *   even while the tree changes under the unpack.
 * - What is there: a folder over a folder is kept (the entry's metadata applies); anything
 *   else is removed first, unless `noOverwriteDirNonDir` forbids replacing a folder with a
 *   non-folder or the other way (Docker's messages, `invalid`). Missing parent folders are
 *   made 0755.
 * - Metadata: mode with setuid, setgid and sticky; owner from the tar (PAX ids included), or
 *   `chown` for every entry, or left as made with `noLchown`; mtimes (folders' at the end);
 *   xattrs from PAX `SCHILY.xattr.*` where the filesystem takes them.
 * - A truncated or corrupt tar fails with `invalid`; what was unpacked before stays.
 *
 * The source is never destroyed here: on failure it is unpiped and left to its owner (an
 * HTTP request whose error answer must still reach the client).
 */

export interface UnpackOptions {
  /** Fail instead of replacing a folder with a non-folder, or a non-folder with a folder. */
  noOverwriteDirNonDir?: boolean;
  /** Owner of every entry and implied folder (`docker cp -a` into a container with a User). */
  chown?: { uid: number; gid: number };
  /** Leave owners as the unpacking process makes them (the client side of `docker cp`). */
  noLchown?: boolean;
  /** Rename each entry (and each hard link's target) before it is unpacked (the client's rebase). */
  rename?: (name: string) => string;
}

/** Unpack `tar` into the folder `dest` (a path inside `root`, already resolved: no symlinks). */
export async function unpack(tar: Readable, root: RootDir, dest: readonly string[], opts: UnpackOptions = {}): Promise<void> {
  const ex = createExtract();
  const onSourceError = (err: Error): void => {
    ex.destroy(err);
  };
  tar.on('error', onSourceError);
  tar.pipe(ex);
  const writer = new TreeWriter(root, dest, opts);
  try {
    for await (const entry of ex as AsyncIterable<TarEntryStream>) {
      await writer.entry(entry.header as TarHeader, entry);
      for await (const _ of entry) {
        // the rest of an entry that has no data to write
      }
    }
    writer.finish();
  } catch (err) {
    tar.unpipe(ex);
    ex.destroy();
    if (err instanceof EngineError) throw err;
    if (errnoCode(err) === undefined) throw invalid(`unpack: ${tarMessage(err)}`, err);
    throw err;
  } finally {
    tar.off('error', onSourceError);
  }
}

function tarMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/unexpected end of data/i.test(msg)) return 'unexpected EOF';
  if (/invalid tar header/i.test(msg)) return 'invalid tar header';
  return msg;
}

/**
 * The components of a tar name under the folder it unpacks into: leading `/` dropped, `.`
 * and empty parts gone, `..` applied; invalid when it climbs above the folder.
 */
export function entryComponents(name: string, what: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalid(`${what} ${JSON.stringify(name)}`);
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

class TreeWriter {
  /** Folders unpacked (by their resolved path from the root), with the times they take once everything under them is written. */
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();

  constructor(
    private readonly root: RootDir,
    private readonly dest: readonly string[],
    private readonly opts: UnpackOptions,
  ) {}

  private pathOf(comps: readonly string[]): string {
    return `/${[...this.dest, ...comps].join('/')}`;
  }

  private get implied(): { owner?: { uid: number; gid: number } } {
    if (this.opts.noLchown) return {};
    return { owner: this.opts.chown ?? { uid: 0, gid: 0 } };
  }

  async entry(h: TarHeader, data: TarEntryStream): Promise<void> {
    const name = this.opts.rename ? this.opts.rename(h.name) : h.name;
    const comps = entryComponents(name, 'invalid entry name');
    if (comps.length === 0) return;
    const loc = this.root.locate(this.pathOf(comps), { create: this.implied });
    try {
      await this.apply(h, loc, data);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      // A system call's failure has the entry for context; the tar's own, its kind.
      if (errnoCode(err) !== undefined) throw withContext(`unpack ${name}`, err);
      throw invalid(`unpack: ${tarMessage(err)}`, err);
    } finally {
      closeLocation(loc);
    }
  }

  private async apply(h: TarHeader, loc: Location, data: TarEntryStream): Promise<void> {
    const type = h.type ?? 'file';
    const name = loc.name!;
    const path = at(loc.dirFd, name);
    if (type === 'link') {
      this.hardlink(h, loc);
      return;
    }
    const existing = lstatOrNull(loc);
    if (existing !== null) this.clear(h, loc, existing, type === 'directory');
    const mode = (h.mode ?? 0o644) & 0o7777;
    const { uid, gid } = this.owner(h);
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        const fd = openAt(loc.dirFd, name, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
        try {
          for await (const chunk of data) {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
          }
          if (this.opts.noLchown) fchmodSync(fd, mode);
          else fchownAndMode(fd, uid, gid, mode);
          this.xattrs(h, path);
          const t = times(h);
          futimesSync(fd, t.atime, t.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'directory': {
        if (existing === null || !existing.isDirectory()) mkdirSync(path, 0o700);
        const fd = openDirAt(loc);
        try {
          if (this.opts.noLchown) fchmodSync(fd, mode);
          else fchownAndMode(fd, uid, gid, mode);
        } finally {
          closeSync(fd);
        }
        this.xattrs(h, path);
        this.dirTimes.set(loc.resolved.join('/'), times(h));
        return;
      }
      case 'symlink':
        symlinkSync(h.linkname ?? '', path);
        if (!this.opts.noLchown) lchownSync(path, uid, gid);
        this.xattrs(h, path);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = type === 'fifo' ? S_IFIFO : type === 'character-device' ? S_IFCHR : S_IFBLK;
        mknod(path, kind | mode, type === 'fifo' ? 0n : makedev(h.devmajor ?? 0, h.devminor ?? 0));
        if (!this.opts.noLchown) lchownSync(path, uid, gid);
        chmodNoFollow(loc.dirFd, name, mode);
        this.xattrs(h, path);
        break;
      }
      default:
        throw invalid(`unhandled tar header type ${JSON.stringify(type)} of ${JSON.stringify(h.name)}`);
    }
    const t = times(h);
    lutimesSync(path, t.atime, t.mtime);
  }

  /** Make room for an entry: keep a folder over a folder, remove anything else (unless forbidden). */
  private clear(h: TarHeader, loc: Location, existing: Stats, entryIsDir: boolean): void {
    const where = this.pathOf([]);
    if (this.opts.noOverwriteDirNonDir && existing.isDirectory() && !entryIsDir) {
      throw invalid(`cannot overwrite directory ${JSON.stringify(h.name)} with non-directory ${JSON.stringify(where)}`);
    }
    if (this.opts.noOverwriteDirNonDir && !existing.isDirectory() && entryIsDir) {
      throw invalid(`cannot overwrite non-directory ${JSON.stringify(h.name)} with directory ${JSON.stringify(where)}`);
    }
    if (!(existing.isDirectory() && entryIsDir)) removeAllAt(loc.dirFd, loc.name!);
  }

  private hardlink(h: TarHeader, loc: Location): void {
    const linkname = this.opts.rename ? this.opts.rename(h.linkname ?? '') : (h.linkname ?? '');
    const target = entryComponents(linkname, 'invalid hardlink target');
    if (target.length === 0) throw invalid(`invalid hardlink target ${JSON.stringify(h.linkname ?? '')}`);
    const tloc = this.root.locate(this.pathOf(target));
    try {
      const st = lstatOrNull(tloc);
      if (st === null) throw invalid(`hard link ${JSON.stringify(h.name)} to missing ${JSON.stringify(h.linkname)}`);
      if (st.isDirectory()) throw invalid(`hard link ${JSON.stringify(h.name)} to a directory`);
      if (tloc.resolved.join('/') === loc.resolved.join('/')) return; // a link to itself: it is there
      const existing = lstatOrNull(loc);
      if (existing !== null) this.clear(h, loc, existing, false);
      linkSync(at(tloc.dirFd, tloc.name!), at(loc.dirFd, loc.name!));
    } finally {
      closeLocation(tloc);
    }
  }

  private owner(h: TarHeader): { uid: number; gid: number } {
    if (this.opts.chown) return this.opts.chown;
    return { uid: paxInt(h.pax?.uid) ?? h.uid ?? 0, gid: paxInt(h.pax?.gid) ?? h.gid ?? 0 };
  }

  private xattrs(h: TarHeader, path: string): void {
    for (const [name, value] of entryXattrs(h)) {
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        lsetxattr(path, name, value);
      } catch (err) {
        const code = errnoCode(err);
        // As Docker: what the filesystem (or an unprivileged client) cannot hold is left out.
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM') {
          log.debug({ xattr: name, code }, 'xattr not set');
          continue;
        }
        throw err;
      }
    }
  }

  /** Folders take their times once everything under them is written. */
  finish(): void {
    for (const [rel, t] of this.dirTimes) {
      let loc: Location;
      try {
        loc = this.root.locate(`/${rel}`);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // removed meanwhile by someone else
        throw err;
      }
      try {
        if (loc.name !== null && lstatOrNull(loc)?.isDirectory()) lutimesSync(at(loc.dirFd, loc.name), t.atime, t.mtime);
      } finally {
        closeLocation(loc);
      }
    }
  }
}

function lstatOrNull(loc: Pick<Location, 'dirFd' | 'name'>): Stats | null {
  try {
    return lstatAt(loc);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

function times(h: TarHeader): { atime: number; mtime: number } {
  const mtime = paxFloat(h.pax?.mtime) ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
  return { atime: paxFloat(h.pax?.atime) ?? mtime, mtime };
}

function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function paxFloat(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}
