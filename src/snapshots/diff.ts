import type { Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { internal } from '../errors.js';
import { devNumbers, lgetxattr, llistxattr } from './libc.js';
import { isOpaqueDir, isWhiteout, LowerView, lstatOrNull } from './lower.js';
import type { DiffOptions } from './snapshotter.js';
import { blockPadding, encodeHeader, END_OF_ARCHIVE, type TarEntry } from './tar-format.js';

/**
 * Reading an overlayfs upper dir back: the layer tar of its changes (`diffTar`), Docker's
 * change list (`changes`) and disk usage (`diskUsage`). All three only read.
 */

/** Xattrs that describe the host or overlayfs itself, never part of an image. */
function portableXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && name !== 'security.selinux';
}

function xattrsOf(path: string): Map<string, Buffer> | undefined {
  let out: Map<string, Buffer> | undefined;
  for (const name of llistxattr(path)) {
    if (!portableXattr(name)) continue;
    const v = lgetxattr(path, name);
    if (v === undefined) continue;
    (out ??= new Map()).set(name, v);
  }
  return out;
}

/** Names of a folder in a fixed order (code-unit order), so the same tree gives the same tar. */
async function sortedNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const whiteoutEntry = (name: string): TarEntry => ({ name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 });

/**
 * The OCI layer tar of the changes recorded in the upper dir `upper`: every file, dir,
 * symlink, device and fifo of it with mode, owner, mtime (whole seconds) and xattrs
 * (`trusted.overlay.*` and `security.selinux` left out); files sharing an inode as one file
 * and hard links to it; whiteouts (char 0/0) as `.wh.<name>`; opaque dirs followed by
 * `<dir>/.wh..wh..opq`. Whiteout entries are empty files of mode 0 and mtime 0. Entries come
 * in sorted order, parents before children, so the same tree gives the same bytes (and DiffID).
 * Sockets are left out, as Docker does. A file that changes size while it is read fails the
 * stream (`internal`): diff a container that is stopped or paused.
 */
export function diffTar(upper: string, lowers: readonly string[] = [], opts: DiffOptions = {}): Readable {
  return Readable.from(diffBlocks(upper, lowers, opts), { objectMode: false });
}

/** The blocks of `diffTar`, as an async generator; `lowers` (top-most first) serve `opts.placeholders`. */
export async function* diffBlocks(upper: string, lowers: readonly string[] = [], opts: DiffOptions = {}): AsyncGenerator<Buffer> {
  const inodes = new Map<string, string>();
  const skip = await placeholderPaths(upper, new LowerView(lowers), opts.placeholders ?? []);
  const CHUNK = 256 * 1024;

  async function* file(path: string, entry: TarEntry): AsyncGenerator<Buffer> {
    yield encodeHeader(entry);
    const fh = await open(path, 'r');
    try {
      let left = entry.size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, entry.size - left);
        if (bytesRead === 0) throw internal(`diff: ${path} shrank while it was read`);
        left -= bytesRead;
        yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
    yield blockPadding(entry.size);
  }

  async function* walk(dir: string, prefix: string): AsyncGenerator<Buffer> {
    for (const name of await sortedNames(dir)) {
      const path = `${dir}/${name}`;
      const tarName = prefix + name;
      if (skip.has(tarName)) continue;
      const st = await lstat(path);
      if (isWhiteout(st)) {
        yield encodeHeader(whiteoutEntry(`${prefix}.wh.${name}`));
        continue;
      }
      const base = { mode: st.mode, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        yield encodeHeader({ ...base, name: `${tarName}/`, type: 'directory', xattrs: xattrsOf(path) });
        if (isOpaqueDir(path)) yield encodeHeader(whiteoutEntry(`${tarName}/.wh..wh..opq`));
        yield* walk(path, `${tarName}/`);
        continue;
      }
      if (st.isSocket()) continue;
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = inodes.get(key);
        if (first !== undefined) {
          yield encodeHeader({ ...base, name: tarName, type: 'link', linkname: first });
          continue;
        }
        inodes.set(key, tarName);
      }
      const xattrs = xattrsOf(path);
      if (st.isFile()) {
        yield* file(path, { ...base, name: tarName, type: 'file', size: st.size, xattrs });
      } else if (st.isSymbolicLink()) {
        yield encodeHeader({ ...base, name: tarName, type: 'symlink', linkname: await readlink(path), xattrs });
      } else if (st.isFIFO()) {
        yield encodeHeader({ ...base, name: tarName, type: 'fifo', xattrs });
      } else {
        const { major, minor } = devNumbers(st.rdev);
        const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
        yield encodeHeader({ ...base, name: tarName, type, devmajor: major, devminor: minor, xattrs });
      }
    }
  }

  yield* walk(upper, '');
  yield END_OF_ARCHIVE;
}

export interface Change {
  Path: string;
  /** 0: modified, 1: added, 2: deleted (Docker's ChangeType). */
  Kind: 0 | 1 | 2;
}

/**
 * Docker's change list of an upper dir over its lower layers (top-most first), sorted by
 * path: a whiteout is a deletion; a path the lowers do not show is an addition; one they show
 * is a modification, except a dir whose mode, owner and mtime are unchanged; the parent of an
 * added or deleted path is a modification. Where Docker reports an opaque dir as deleted, pier
 * reports it modified and lists each lower entry it hides as deleted, which is what a user of
 * the container sees.
 */
export async function changes(upper: string, lowers: readonly string[], opts: DiffOptions = {}): Promise<Change[]> {
  const view = new LowerView(lowers);
  const skip = await placeholderPaths(upper, view, opts.placeholders ?? []);
  const out = new Map<string, Change['Kind']>();
  const record = (path: string, kind: Change['Kind']): void => {
    if (!out.has(path)) out.set(path, kind);
  };
  const touchParent = (rel: string[]): void => {
    if (rel.length > 1) record(`/${rel.slice(0, -1).join('/')}`, 0);
  };

  async function walk(rel: string[]): Promise<void> {
    const dir = rel.length === 0 ? upper : `${upper}/${rel.join('/')}`;
    for (const name of await sortedNames(dir)) {
      const childRel = [...rel, name];
      if (skip.has(childRel.join('/'))) continue;
      const path = `/${childRel.join('/')}`;
      const abs = `${dir}/${name}`;
      const st = await lstat(abs);
      if (isWhiteout(st)) {
        record(path, 2);
        touchParent(childRel);
        continue;
      }
      const below = await view.lookup(childRel);
      if (below === null) {
        record(path, 1);
        touchParent(childRel);
      } else if (!(st.isDirectory() && below.stat.isDirectory() && sameDir(st, below.stat))) {
        record(path, 0);
      }
      if (st.isDirectory()) {
        if (below?.stat.isDirectory() && isOpaqueDir(abs)) {
          record(path, 0);
          const mine = new Set(await readdir(abs));
          for (const hidden of (await view.readdir(childRel)).keys()) {
            if (!mine.has(hidden)) record(`${path}/${hidden}`, 2);
          }
        }
        await walk(childRel);
      }
    }
  }

  await walk([]);
  return [...out]
    .map(([Path, Kind]) => ({ Path, Kind }))
    .sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}

/**
 * The paths (relative, `/`-joined) that `placeholders` leave out of an upper dir: each
 * placeholder that is an empty regular file the lowers do not have (the runtime made it as a
 * mount point), then, deepest first, each folder above one that holds nothing else, is not
 * opaque, and that the lowers have with the same mode and owner (a copy-up for the mount
 * point) or not at all (made for it).
 */
async function placeholderPaths(upper: string, view: LowerView, placeholders: readonly string[]): Promise<Set<string>> {
  const skip = new Set<string>();
  const parents = new Set<string>();
  for (const p of placeholders) {
    const comps = p.split('/').filter((c) => c !== '' && c !== '.');
    if (comps.length === 0 || comps.includes('..')) continue;
    const st = await lstatOrNull(`${upper}/${comps.join('/')}`);
    if (st === null || !st.isFile() || st.size !== 0 || (await view.lookup(comps)) !== null) continue;
    skip.add(comps.join('/'));
    for (let i = 1; i < comps.length; i++) parents.add(comps.slice(0, i).join('/'));
  }
  const deepestFirst = [...parents].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of deepestFirst) {
    const abs = `${upper}/${rel}`;
    const st = await lstatOrNull(abs);
    if (st === null || !st.isDirectory() || isOpaqueDir(abs)) continue;
    if (!(await readdir(abs)).every((name) => skip.has(`${rel}/${name}`))) continue;
    const below = await view.lookup(rel.split('/'));
    if (below !== null && !(below.stat.isDirectory() && below.stat.mode === st.mode && below.stat.uid === st.uid && below.stat.gid === st.gid)) continue;
    skip.add(rel);
  }
  return skip;
}

function sameDir(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000);
}

/** Bytes used by the tree at `dir`: the sizes of its non-directories, each inode counted once (as Docker does). */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  async function walk(d: string): Promise<void> {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = `${d}/${ent.name}`;
      if (ent.isDirectory()) {
        await walk(p);
        continue;
      }
      const st = await lstat(p);
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  }
  await walk(dir);
  return total;
}
