import { posix } from 'node:path';

/**
 * The client side of `docker cp`'s rules (moby/go-archive `copy.go`), on paths alone: what a
 * trailing `/` or `/.` asks for, which folder a tar is unpacked into, and how the names of its
 * entries change on the way. The files themselves are the caller's.
 */

/** What is known of one end of a copy. */
export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  /** The name the source's entries take instead of their own (a `-L` link followed, a folder named by a link). */
  rebaseName?: string;
}

/** Go's filepath.Base: the last element, trailing slashes ignored; `/` for the root, `.` for nothing. */
export function goBase(path: string): string {
  if (path === '') return '.';
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Go's filepath.Clean. */
export function goClean(path: string): string {
  if (path === '') return '.';
  const n = posix.normalize(path);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** The path names a folder's contents (`x/.`, `.`). */
export function specifiesCurrentDir(path: string): boolean {
  return goBase(path) === '.';
}

export function hasTrailingSeparator(path: string): boolean {
  return path.endsWith('/');
}

/** The path can only be a folder: it ends in `/` or `/.`. */
export function assertsDirectory(path: string): boolean {
  return hasTrailingSeparator(path) || specifiesCurrentDir(path);
}

/** A cleaned path keeps the trailing `/.` or `/` the original had (they change what is copied). */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let out = cleaned;
  if (!specifiesCurrentDir(out) && specifiesCurrentDir(original)) {
    if (!hasTrailingSeparator(out)) out += '/';
    out += '.';
  }
  if (!hasTrailingSeparator(out) && hasTrailingSeparator(original)) out += '/';
  return out;
}

/** The folder holding the path's last element, and that element (`.` kept for a path ending in `/.`). */
export function splitPathDirEntry(path: string): [dir: string, base: string] {
  let cleaned = goClean(path);
  if (specifiesCurrentDir(path)) cleaned += '/.';
  return [posix.dirname(cleaned), goBase(cleaned)];
}

/**
 * A followed link's resolved path keeps what the asked path asked for (`/.`, `/`), and the
 * entries take the asked name when the link's target is named otherwise.
 */
export function getRebaseName(path: string, resolved: string): [resolved: string, rebaseName: string] {
  let out = resolved;
  if (specifiesCurrentDir(path) && !specifiesCurrentDir(out)) out += '/.';
  if (hasTrailingSeparator(path) && !hasTrailingSeparator(out)) out += '/';
  return [out, goBase(path) !== goBase(out) ? goBase(path) : ''];
}

/**
 * Where the source's tar is unpacked, and the name its top entry takes there (null: its
 * own): into an existing folder as it is; onto an existing file, or to a path that does not
 * exist yet, in the destination's folder under the destination's name. Throws Docker's
 * errors: `cannot copy directory` (a folder onto a file), `no such directory` (a file to
 * `missing/`).
 */
export function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): { dir: string; top: string | null } {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  if (dst.exists && dst.isDir) return { dir: dst.path, top: null };
  if (dst.exists && src.isDir) throw new Error('cannot copy directory');
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new Error('no such directory');
  return { dir: dstDir, top: dstBase };
}

/**
 * Rename a tar's entries from `oldBase` to `newBase` (go-archive's `newNameRebaser`): `old`
 * and `old/x` become `new` and `new/x`; other names stay; an empty `oldBase` puts every name
 * under `newBase`.
 */
export function nameRebaser(oldBase: string, newBase: string): (name: string) => string {
  const from = oldBase.replace(/\/+$/, '');
  const to = newBase.replace(/\/+$/, '');
  if (from === '') return (name) => (to === '' ? name.replace(/^\/+/, '') : `${to}/${name.replace(/^\/+/, '')}`);
  return (name) => {
    if (!name.startsWith(from)) return name;
    const suffix = name.slice(from.length);
    if (suffix !== '' && !suffix.startsWith('/')) return name;
    return to + suffix;
  };
}
