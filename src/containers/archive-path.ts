import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import type { PathStat } from './containers.js';

/**
 * How `/containers/{id}/archive` reads its `path`, as moby does (`container.ResolvePath`,
 * `archive.PreserveTrailingDotOrSeparator`, `TarResourceRebase`), and how it answers a stat.
 */

export interface ArchivePath {
  /** Absolute and cleaned: `/etc/hosts`, `/` (no trailing `/`, no `.` or `..` parts). */
  abs: string;
  /**
   * The path asks for a folder: it ends in `/` or `/.`, so a symlink at its end is followed
   * (and anything but a folder there is not found).
   */
  folder: boolean;
  /** The stat's `name`: the last component as asked (`hosts`; `.` for a path ending in `/.`; `/` for the root). */
  name: string;
  /**
   * The name of the tar's top entry, its entries under it: the last component; `.` for a
   * path ending in `/.` (the folder's contents: `./`, `./a`); `''` for the root (`/`, `/a`).
   */
  top: string;
}

export function parseArchivePath(path: string): ArchivePath {
  const abs = posix.normalize(`/${path}`).replace(/(.)\/+$/, '$1');
  // Go's filepath.Base ignores trailing slashes: "a/./" asks for the contents too.
  const dot = posix.basename(path.replace(/\/+$/, '')) === '.' || path === '.';
  const folder = dot || path.endsWith('/');
  if (dot) return { abs, folder, name: '.', top: '.' };
  if (abs === '/') return { abs, folder: true, name: '/', top: '' };
  const base = posix.basename(abs);
  return { abs, folder, name: base, top: base };
}

/** Go's os.FileMode bits for a file's mode (`ModeDir`, `ModeSymlink`, ... above the permission bits). */
export function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += 2 ** 31;
  else if (st.isSymbolicLink()) mode += 2 ** 27;
  else if (st.isBlockDevice()) mode += 2 ** 26;
  else if (st.isCharacterDevice()) mode += 2 ** 26 + 2 ** 21;
  else if (st.isFIFO()) mode += 2 ** 25;
  else if (st.isSocket()) mode += 2 ** 24;
  if (st.mode & 0o4000) mode += 2 ** 23;
  if (st.mode & 0o2000) mode += 2 ** 22;
  if (st.mode & 0o1000) mode += 2 ** 20;
  return mode;
}

/** Whether Go's FileMode `mode` is a folder's. */
export function isGoDir(mode: number): boolean {
  return mode >= 2 ** 31;
}

/** Whether Go's FileMode `mode` is a regular file's: no type bit (dir, symlink, device, pipe, socket, char device, irregular). */
export function isGoRegular(mode: number): boolean {
  return [31, 27, 26, 25, 24, 21, 19].every((bit) => Math.floor(mode / 2 ** bit) % 2 === 0);
}

/** Whether Go's FileMode `mode` is a symlink's. */
export function isGoSymlink(mode: number): boolean {
  return Math.floor(mode / 2 ** 27) % 2 === 1;
}

/** Go's time.Time in JSON (RFC 3339, fraction without trailing zeros), in UTC. */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/** The stat of a path: lstat `st` of what it names, `linkTarget` the resolved path of a symlink. */
export function pathStat(p: ArchivePath, st: Stats, linkTarget: string): PathStat {
  return { name: p.name, size: st.size, mode: goFileMode(st), mtime: goTime(st.mtimeMs), linkTarget };
}
