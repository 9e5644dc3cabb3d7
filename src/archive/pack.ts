import { closeSync, fstatSync, constants as fsc, read, readdirSync, readlinkSync, statfsSync, type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { errnoCode } from '../errors.js';
import { log } from '../log.js';
import { devNumbers, lgetxattr } from '../snapshots/libc.js';
import { blockPadding, encodeHeader, END_OF_ARCHIVE, type TarEntry } from '../snapshots/tar-format.js';
import { at, fdPath, lstatAt, openAt, openDirAt, type Location } from './root-dir.js';

/**
 * The tar of a tree inside a RootDir, as Docker's archive package writes it for `docker cp`
 * and `docker export` (moby/go-archive `TarWithOptions`): entries in lexical order, parents
 * first; modes with setuid, setgid and sticky; uid and gid as they are; mtimes in whole
 * seconds; `security.capability` (the one xattr Docker copies); files sharing an inode as one
 * file and hard links to it; devices and fifos; sockets left out.
 *
 * Every entry is reached from its folder's open fd and opened without following symlinks
 * (root-dir.ts), so a tree that changes while it is read (a running container) can only
 * change what is read, never make it read outside the root: an entry swapped for something
 * else is read as what it is now, one that vanished is left out, a file that shrinks is
 * padded with zeros to the size its header gave (and a warning logged), one that grows is
 * cut there.
 *
 * A folder where a pseudo filesystem is mounted (proc, sysfs, cgroup, devpts, mqueue, ...)
 * is written as an empty folder: what a running container shows there is the kernel's, not
 * its files.
 */

export interface PackOptions {
  /**
   * The name of the top entry, and the prefix of the others: `foo` gives `foo/`, `foo/a`;
   * `.` gives `./`, `./a`; `''` (the root) gives `/`, `/a`. null: no top entry, the folder's
   * entries by their own names (`a`, `b/`: `docker export`).
   */
  top: string | null;
}

const readAsync = promisify(read);
const CHUNK = 256 * 1024;

/** Filesystem types whose contents are the kernel's: a folder they are mounted on is packed empty. */
const PSEUDO_FS = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x1cd1, // devpts
  0x19800202, // mqueue
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0xcafe4a11, // bpf
]);

/** The tar of the tree at `loc` (which stays the caller's), as a stream. */
export function packTree(loc: Location, opts: PackOptions): Readable {
  return Readable.from(packBlocks(loc, opts), { objectMode: false });
}

/** The blocks of `packTree`. */
export async function* packBlocks(loc: Location, opts: PackOptions): AsyncGenerator<Buffer> {
  const inodes = new Map<string, string>();
  const top = lstatAt(loc);
  const prefix = opts.top === null ? '' : `${opts.top}/`;
  if (top.isDirectory()) {
    const fd = openDirAt(loc);
    try {
      if (opts.top !== null) yield header(top, `${opts.top}/`, 'directory', fdPath(fd));
      if (!isPseudoFs(fd)) yield* walk(fd, prefix, inodes, top.dev);
    } finally {
      closeSync(fd);
    }
  } else {
    if (opts.top === null || opts.top === '' || loc.name === null) throw Object.assign(new Error('ENOTDIR: not a directory'), { code: 'ENOTDIR' });
    yield* entry(loc.dirFd, loc.name, top, opts.top, inodes);
  }
  yield END_OF_ARCHIVE;
}

async function* walk(dirFd: number, prefix: string, inodes: Map<string, string>, dev: number): AsyncGenerator<Buffer> {
  const names = readdirSync(fdPath(dirFd)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    let st: Stats;
    try {
      st = lstatAt({ dirFd, name });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // gone meanwhile
      throw err;
    }
    if (st.isDirectory()) {
      let fd: number;
      try {
        fd = openAt(dirFd, name, fsc.O_RDONLY | fsc.O_DIRECTORY);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // replaced meanwhile
        throw err;
      }
      try {
        yield header(fstatSync(fd), `${prefix}${name}/`, 'directory', fdPath(fd));
        if (st.dev === dev || !isPseudoFs(fd)) yield* walk(fd, `${prefix}${name}/`, inodes, st.dev);
      } finally {
        closeSync(fd);
      }
      continue;
    }
    yield* entry(dirFd, name, st, `${prefix}${name}`, inodes);
  }
}

/** One non-directory entry (`name` of `dirFd`, lstat `st`) named `tarName`. */
async function* entry(dirFd: number, name: string, st: Stats, tarName: string, inodes: Map<string, string>): AsyncGenerator<Buffer> {
  if (st.isSocket()) return;
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = inodes.get(key);
    if (first !== undefined) {
      yield encodeHeader({ ...base(st, tarName), type: 'link', linkname: first });
      return;
    }
    inodes.set(key, tarName);
  }
  const path = at(dirFd, name);
  if (st.isFile()) {
    yield* file(dirFd, name, tarName);
  } else if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = readlinkSync(path);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'EINVAL') return; // gone, or no longer a link
      throw err;
    }
    yield encodeHeader({ ...base(st, tarName), type: 'symlink', linkname: target });
  } else if (st.isFIFO()) {
    yield header(st, tarName, 'fifo', path);
  } else {
    const { major, minor } = devNumbers(st.rdev);
    yield encodeHeader({ ...base(st, tarName), type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor, xattrs: capability(path) });
  }
}

/** A regular file: opened without following (O_NONBLOCK: a fifo swapped in does not block), read from its fd. */
async function* file(dirFd: number, name: string, tarName: string): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openAt(dirFd, name, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ELOOP') return; // gone, or swapped for a symlink
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    yield header(st, tarName, 'file', fdPath(fd));
    let done = 0;
    while (done < st.size) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, st.size - done));
      const { bytesRead } = await readAsync(fd, buf, 0, buf.length, done);
      if (bytesRead === 0) {
        log.warn({ file: tarName, size: st.size, read: done }, 'a file shrank while it was archived: padded with zeros');
        for (let left = st.size - done; left > 0; left -= CHUNK) yield Buffer.alloc(Math.min(CHUNK, left));
        done = st.size;
        break;
      }
      done += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
    yield blockPadding(st.size);
  } finally {
    closeSync(fd);
  }
}

function base(st: Stats, name: string): Omit<TarEntry, 'type'> {
  return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
}

function header(st: Stats, name: string, type: 'directory' | 'file' | 'fifo', path: string): Buffer {
  return encodeHeader({ ...base(st, name), type, size: type === 'file' ? st.size : 0, xattrs: capability(path) });
}

/** `security.capability` of the node at `path` (a fd path: not followed), as Docker copies it. */
function capability(path: string): Map<string, Buffer> | undefined {
  const v = lgetxattr(path, 'security.capability');
  return v === undefined ? undefined : new Map([['security.capability', v]]);
}

function isPseudoFs(dirFd: number): boolean {
  return PSEUDO_FS.has(statfsSync(fdPath(dirFd)).type);
}
