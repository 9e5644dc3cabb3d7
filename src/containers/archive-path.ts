import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { goFileMode, goTime } from '../util/go-file-mode.js';
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

/** The stat of a path: lstat `st` of what it names, `linkTarget` the resolved path of a symlink. */
export function pathStat(p: ArchivePath, st: Stats, linkTarget: string): PathStat {
  return { name: p.name, size: st.size, mode: goFileMode(st), mtime: goTime(st.mtimeMs), linkTarget };
}
