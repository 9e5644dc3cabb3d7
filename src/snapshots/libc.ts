import koffi from 'koffi';
import fs from 'node:fs';
import { getSystemErrorName } from 'node:util';

/**
 * The few libc calls that Node's fs lacks, through koffi: mknod, extended attributes,
 * mount/umount2, syncfs and inode flags (chattr). Each wrapper throws an Error carrying
 * `code` (`ENOENT`, ...), `errno`, `syscall` and `path` like Node's own fs errors, so
 * `errnoCode()` works on them.
 * The calls are synchronous (a few microseconds each) except `syncfs`, which runs on a
 * worker thread.
 */

const libc = koffi.load('libc.so.6');

const c = {
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
  lgetxattr: libc.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
  llistxattr: libc.func('long llistxattr(const char *path, _Out_ void *list, size_t size)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
  syncfs: libc.func('int syncfs(int fd)'),
  // ioctl(2) is variadic; FS_IOC_[GS]ETFLAGS pass one int by address.
  ioctlInt: libc.func('int ioctl(int fd, unsigned long request, _Inout_ int *arg)'),
};

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export function sysError(syscall: string, path: string, errno = koffi.errno()): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** Linux's makedev: the dev_t of a device number (major, minor). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** Linux's major() and minor() of a dev_t (as Node's `Stats.rdev` gives it). */
export function devNumbers(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/** mknod(2): `mode` holds the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
export function mknod(path: string, mode: number, dev: bigint = 0n): void {
  if ((c.mknod(path, mode, dev) as number) !== 0) throw sysError('mknod', path);
}

/** lsetxattr(2): set an extended attribute without following a symlink at `path`. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  if ((c.lsetxattr(path, name, value, value.byteLength, 0) as number) !== 0) throw sysError('lsetxattr', path);
}

// Large enough for any xattr list or value Linux allows (XATTR_LIST_MAX, XATTR_SIZE_MAX: 64 KiB).
const xattrBuf = Buffer.alloc(65536);

/** lgetxattr(2): the value, or undefined when the attribute is not set (or xattrs are unsupported). */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const n = Number(c.lgetxattr(path, name, xattrBuf, xattrBuf.length));
  if (n < 0) {
    const err = sysError('lgetxattr', path);
    if (err.code === 'ENODATA' || err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUP') return undefined;
    throw err;
  }
  return Buffer.from(xattrBuf.subarray(0, n));
}

/** llistxattr(2): the names of the attributes of `path` (not following a symlink). */
export function llistxattr(path: string): string[] {
  const n = Number(c.llistxattr(path, xattrBuf, xattrBuf.length));
  if (n < 0) {
    const err = sysError('llistxattr', path);
    if (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUP') return [];
    throw err;
  }
  if (n === 0) return [];
  return xattrBuf.toString('utf8', 0, n - 1).split('\0');
}

/** mount(2). `data` is the filesystem's option string (at most a page, 4095 bytes, on Linux). */
export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
  if ((c.mount(source, target, fstype, flags, data) as number) !== 0) throw sysError('mount', target);
}

/** umount2(2). */
export function umount2(target: string, flags: number): void {
  if ((c.umount2(target, flags) as number) !== 0) throw sysError('umount2', target);
}

/** FS_IOC_GETFLAGS and FS_IOC_SETFLAGS of linux/fs.h (lsattr, chattr). */
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
/** chattr +T: the folder is the top of directory hierarchies (ext2/3/4's Orlov allocator). */
export const FS_TOPDIR_FL = 0x00020000;

/**
 * Add `flags` to the inode flags of the folder `dir` (chattr +flags). Throws where its
 * filesystem has no such flags (ENOTTY, EOPNOTSUPP, EINVAL).
 */
export function addInodeFlags(dir: string, flags: number): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const value = [0];
    if ((c.ioctlInt(fd, FS_IOC_GETFLAGS, value) as number) !== 0) throw sysError('ioctl FS_IOC_GETFLAGS', dir);
    if ((value[0]! & flags) === flags) return;
    value[0] = value[0]! | flags;
    if ((c.ioctlInt(fd, FS_IOC_SETFLAGS, value) as number) !== 0) throw sysError('ioctl FS_IOC_SETFLAGS', dir);
  } finally {
    fs.closeSync(fd);
  }
}

/** The inode flags of the folder `dir` (lsattr -d). */
export function inodeFlags(dir: string): number {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const value = [0];
    if ((c.ioctlInt(fd, FS_IOC_GETFLAGS, value) as number) !== 0) throw sysError('ioctl FS_IOC_GETFLAGS', dir);
    return value[0]!;
  } finally {
    fs.closeSync(fd);
  }
}

/** syncfs(2) on the filesystem holding the open file `fd`, off the event loop. */
export function syncfs(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    c.syncfs.async(fd, (err: unknown, res: number) => {
      if (err) reject(err instanceof Error ? err : new Error('syncfs failed'));
      else if (res !== 0) reject(new Error(`syncfs failed on fd ${fd}`));
      else resolve();
    });
  });
}
