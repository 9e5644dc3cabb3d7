import {
  chmodSync,
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { errnoCode } from '../errors.js';

/**
 * A directory tree confined to its root: paths are resolved inside it as a process chrooted
 * there would resolve them (an absolute symlink target starts at the root, `..` stops at
 * it), and never by handing the kernel a path it could follow out of the root. This is what
 * keeps `docker cp` inside a container while the container changes its own files under it
 * (the CVE-2018-15664 class: a component swapped for a symlink between a check and a use).
 *
 * How: the root is held open as a directory fd. A path is walked one component at a time;
 * each directory is opened with O_DIRECTORY|O_NOFOLLOW through `/proc/self/fd/<parent>/<name>`
 * (the kernel takes the parent from the open fd, not from a path, and follows no symlink at
 * `<name>`), and a symlink met on the way is read and its target walked by the same rules, at
 * most MAX_SYMLINKS of them. A component swapped for a symlink after it was looked at makes
 * the open fail (ENOTDIR, ELOOP) instead of leading anywhere. What a walk yields is an open
 * directory and a name in it; operations on that name go through `at(dirFd, name)` with
 * calls that do not follow a symlink there (lstat, lchown, O_NOFOLLOW opens, mkdir, unlink,
 * symlink, link, chmodNoFollow).
 *
 * Errors are Node's errno errors (`code` ENOENT, ENOTDIR, ELOOP, ...), so callers map them
 * as they would for fs calls. The calls are synchronous: each takes microseconds, and a walk
 * makes a few of them.
 */

/** At most this many symlinks are followed in one walk (Linux's own limit). */
export const MAX_SYMLINKS = 40;

/** The most components one walk looks at (links included), however the tree changes under it. */
const MAX_STEPS = 8192;

/** O_PATH (Linux, x86-64 and arm64): an fd naming a file without opening it; Node's constants lack it. */
const O_PATH = 0o10000000;
const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

/** Where a path leads inside a root. */
export interface Location {
  /** An open directory inside the root; the caller owns it (`closeLocation`). */
  readonly dirFd: number;
  /** The entry of `dirFd` the path names; null when the path names the directory `dirFd` itself (the root). */
  readonly name: string | null;
  /** The path as resolved from the root, symlinks followed: `['usr', 'bin', 'sh']`; `[]` for the root. */
  readonly resolved: readonly string[];
}

export interface LocateOptions {
  /** Follow a symlink at the last component too (by default the last is left as it is, as lstat does). */
  follow?: boolean;
  /**
   * Create the missing folders on the way: mode 0755, owned by `owner` (else by whoever runs
   * this). The last component is never created.
   */
  create?: { owner?: { uid: number; gid: number } };
  /** Called with the resolved path each time a folder on the way was opened (tests swap files there). */
  onStep?: (resolved: readonly string[]) => void;
}

/** The path of entry `name` of the open directory `dirFd`, for calls that do not follow a symlink there. */
export function at(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** The path of the open directory `dirFd` itself. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

export function closeLocation(loc: Location): void {
  closeSync(loc.dirFd);
}

/** The components of a path: no empty or `.` parts (`..` kept, for the walk to apply). */
export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

interface Frame {
  fd: number;
  name: string;
}

export class RootDir {
  private closed = false;

  private constructor(
    /** The root, open as a directory. */
    readonly fd: number,
    /** The host path it was opened from (for messages). */
    readonly hostPath: string,
  ) {}

  /**
   * Open `hostPath` as a root. The path itself is the caller's and trusted (a mounted rootfs,
   * `/proc/<pid>/root`): it is followed as given.
   */
  static open(hostPath: string): RootDir {
    return new RootDir(openSync(hostPath, fsc.O_RDONLY | fsc.O_DIRECTORY), hostPath);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /**
   * Resolve `path` (absolute or not, both from the root) to the directory holding its last
   * component and that component's name. Symlinks on the way are followed inside the root; the
   * last component is followed only with `follow`. A missing last component is not an error
   * (the caller lstats the location); a missing or non-directory component before it is
   * (ENOENT, ENOTDIR), unless `create` makes the missing ones. A path that resolves to the
   * root (`/`, a link to `/` or `..`) gives the root itself (`name` null).
   */
  locate(path: string, opts: LocateOptions = {}): Location {
    const walked = this.walk(splitPath(path), opts, false);
    return walked.loc;
  }

  /**
   * The path `path` resolves to, as an absolute path inside the root, with every symlink
   * followed, the last one too: as far as the path exists, then the rest as written (moby's
   * FollowSymlinkInScope). What `docker cp` reports as a symlink's `linkTarget`.
   */
  realPath(path: string): string {
    const walked = this.walk(splitPath(path), { follow: true }, true);
    closeLocation(walked.loc);
    const parts = [...walked.loc.resolved];
    for (const c of walked.rest) {
      if (c === '..') parts.pop();
      else parts.push(c);
    }
    return `/${parts.join('/')}`;
  }

  private walk(components: string[], opts: LocateOptions, lenient: boolean): { loc: Location; rest: string[] } {
    const stack: Frame[] = [{ fd: this.fd, name: '' }];
    const pending = [...components];
    let budget = MAX_SYMLINKS;
    const top = (): Frame => stack[stack.length - 1]!;
    const names = (): string[] => stack.slice(1).map((f) => f.name);
    const spend = (): void => {
      if (--budget < 0) throw errno('ELOOP', `too many levels of symbolic links in ${JSON.stringify(components.join('/'))}`);
    };
    /** The location `name` in the top folder; every other open folder is closed. */
    const finish = (name: string | null, rest: string[] = []): { loc: Location; rest: string[] } => {
      const resolved = names();
      const holder = top();
      let dirFd: number;
      if (holder.fd === this.fd) {
        dirFd = openSync(fdPath(this.fd), fsc.O_RDONLY | fsc.O_DIRECTORY);
      } else {
        dirFd = holder.fd;
        stack.pop(); // now the caller's
      }
      return { loc: { dirFd, name, resolved: name === null ? resolved : [...resolved, name] }, rest };
    };
    let steps = 0;
    try {
      while (pending.length > 0) {
        // Links add components and a racing writer can make a step repeat: bound the walk.
        if (++steps > MAX_STEPS) throw errno('ELOOP', `cannot resolve ${JSON.stringify(components.join('/'))}: too many steps`);
        const c = pending.shift()!;
        if (c === '..') {
          if (stack.length > 1) closeSync(stack.pop()!.fd);
          continue;
        }
        const last = pending.length === 0;
        if (last && !opts.follow) return finish(c);
        const path = at(top().fd, c);
        if (last) {
          // The last component is followed only when it is a symlink: a folder or a file
          // is left to the caller, who opens it without following.
          const st = lstatOrNull(path);
          if (st?.isSymbolicLink()) {
            spend();
            const target = readlinkOrNull(path);
            if (target === null) pending.unshift(c); // changed meanwhile: look again
            else this.followLink(stack, pending, target);
            continue;
          }
          return finish(c);
        }
        let fd: number;
        try {
          fd = openSync(path, DIR_FLAGS);
        } catch (err) {
          const code = errnoCode(err);
          if (code === 'ENOENT') {
            if (opts.create) {
              // Made now (or by someone else meanwhile, which counts against the budget).
              if (!mkdirOwned(path, opts.create.owner)) spend();
              pending.unshift(c);
              continue;
            }
            if (lenient) return finish(null, [c, ...pending]);
            throw errno('ENOENT', `no such file or directory: ${JSON.stringify([...names(), c].join('/'))}`);
          }
          if (code !== 'ENOTDIR') throw err;
          const st = lstatOrNull(path);
          if (st === null || st.isDirectory()) {
            spend(); // changed meanwhile: look again
            pending.unshift(c);
            continue;
          }
          if (!st.isSymbolicLink()) {
            if (lenient) return finish(null, [c, ...pending]);
            throw errno('ENOTDIR', `not a directory: ${JSON.stringify([...names(), c].join('/'))}`);
          }
          spend();
          const target = readlinkOrNull(path);
          if (target === null) pending.unshift(c);
          else this.followLink(stack, pending, target);
          continue;
        }
        stack.push({ fd, name: c });
        opts.onStep?.(names());
      }
      return finish(null);
    } finally {
      for (const f of stack) if (f.fd !== this.fd) closeSync(f.fd);
    }
  }

  /** Continue the walk at a symlink's target: from the root when it is absolute. */
  private followLink(stack: Frame[], pending: string[], target: string): void {
    if (target.startsWith('/')) {
      while (stack.length > 1) closeSync(stack.pop()!.fd);
    }
    pending.unshift(...splitPath(target));
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') return null;
    throw err;
  }
}

/** The target of the symlink at `path`; null when it is no longer a symlink (or gone). */
function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EINVAL' || code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * mkdir at a fd path, 0755 whatever the umask, owned by `owner` when given. False when
 * something is there already (made meanwhile by someone else): the caller looks again.
 */
function mkdirOwned(path: string, owner: { uid: number; gid: number } | undefined): boolean {
  try {
    mkdirSync(path, 0o755);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  const fd = openSync(path, DIR_FLAGS);
  try {
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, 0o755);
  } finally {
    closeSync(fd);
  }
  return true;
}

// ---- operations on a located entry ---------------------------------------------------------

/** lstat of a location (fstat of the folder itself when it names one). */
export function lstatAt(loc: Pick<Location, 'dirFd' | 'name'>): Stats {
  return loc.name === null ? fstatSync(loc.dirFd) : lstatSync(at(loc.dirFd, loc.name));
}

/** Open the folder a location names, never through a symlink (ENOTDIR when it is not a folder). */
export function openDirAt(loc: Pick<Location, 'dirFd' | 'name'>): number {
  return openSync(loc.name === null ? fdPath(loc.dirFd) : at(loc.dirFd, loc.name), loc.name === null ? fsc.O_RDONLY | fsc.O_DIRECTORY : DIR_FLAGS);
}

/** Open entry `name` of `dirFd` with `flags` and O_NOFOLLOW (ELOOP when it is a symlink). */
export function openAt(dirFd: number, name: string, flags: number, mode?: number): number {
  return openSync(at(dirFd, name), flags | fsc.O_NOFOLLOW, mode);
}

/** fchown then fchmod (chown clears setuid and setgid, so the mode comes second). */
export function fchownAndMode(fd: number, uid: number, gid: number, mode: number): void {
  fchownSync(fd, uid, gid);
  fchmodSync(fd, mode & 0o7777);
}

/**
 * chmod of entry `name` of `dirFd` without following a symlink there: through an O_PATH fd
 * of the entry itself (what glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does). A symlink is left
 * alone (Linux gives symlinks no mode of their own).
 */
export function chmodNoFollow(dirFd: number, name: string, mode: number): void {
  const fd = openSync(at(dirFd, name), O_PATH | fsc.O_NOFOLLOW);
  try {
    if (fstatSync(fd).isSymbolicLink()) return;
    chmodSync(fdPath(fd), mode & 0o7777);
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove entry `name` of `dirFd` and, for a folder, everything under it, each folder opened
 * without following symlinks (a symlink is removed, never what it points to). Nothing there
 * is not an error.
 */
export function removeAllAt(dirFd: number, name: string): void {
  const path = at(dirFd, name);
  const st = lstatOrNull(path);
  if (st === null) return;
  if (!st.isDirectory()) {
    unlinkSync(path);
    return;
  }
  let fd: number;
  try {
    fd = openSync(path, DIR_FLAGS);
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') return removeAllAt(dirFd, name); // replaced meanwhile
    throw err;
  }
  try {
    for (const child of readdirSync(fdPath(fd))) removeAllAt(fd, child);
  } finally {
    closeSync(fd);
  }
  rmdirSync(path);
}
