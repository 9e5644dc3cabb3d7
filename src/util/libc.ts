import koffi from 'koffi';
import fs from 'node:fs';
import { getSystemErrorName } from 'node:util';

/**
 * pier's one binding of libc, through koffi (the only module that loads libc.so.6): the calls
 * Node lacks. Wrappers for the file-system calls (mknod, extended attributes, mount/umount2,
 * syncfs, inode flags) throw an Error carrying `code` (`ENOENT`, ...), `errno`, `syscall` and
 * `path` like Node's own fs errors, so `errnoCode()` works on them. The raw calls (`calls`)
 * return what libc returns; their caller reads `errno()` right after a failure. Every call is
 * synchronous except `syncfs`, which runs on a worker thread.
 */

const lib = koffi.load('libc.so.6');
const sockaddrUn = koffi.struct('pier_sockaddr_un', { sun_family: 'uint16', sun_path: koffi.array('char', 108) });
// struct mount_attr of mount_setattr(2).
koffi.struct('pier_mount_attr', { attr_set: 'uint64', attr_clr: 'uint64', propagation: 'uint64', userns_fd: 'uint64' });

const c = {
  mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
  lgetxattr: lib.func('long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
  llistxattr: lib.func('long llistxattr(const char *path, _Out_ void *list, size_t size)'),
  mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: lib.func('int umount2(const char *target, int flags)'),
  syncfs: lib.func('int syncfs(int fd)'),
  // ioctl(2) is variadic; FS_IOC_[GS]ETFLAGS pass one int by address.
  ioctlInt: lib.func('int ioctl(int fd, unsigned long request, _Inout_ int *arg)'),
};

/** The raw calls, typed: each returns libc's result (negative or -1 on failure, then see `errno()`). */
export const calls = {
  unshare: lib.func('int unshare(int flags)') as (flags: number) => number,
  setns: lib.func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number,
  open_tree: lib.func('int open_tree(int dfd, const char *path, unsigned int flags)') as (dfd: number, path: string, flags: number) => number,
  mount_setattr: lib.func('int mount_setattr(int dfd, const char *path, unsigned int flags, pier_mount_attr *attr, size_t size)') as (
    dfd: number,
    path: string,
    flags: number,
    attr: { attr_set: number | bigint; attr_clr: number | bigint; propagation: number | bigint; userns_fd: number | bigint },
    size: number,
  ) => number,
  move_mount: lib.func('int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)') as (
    fromDfd: number,
    fromPath: string,
    toDfd: number,
    toPath: string,
    flags: number,
  ) => number,
  mount: c.mount as (source: string, target: string, fstype: string | null, flags: number, data: string | null) => number,
  umount2: c.umount2 as (target: string, flags: number) => number,
  socket: lib.func('int socket(int domain, int type, int protocol)') as (domain: number, type: number, protocol: number) => number,
  connect: lib.func('connect', 'int', ['int', koffi.pointer(sockaddrUn), 'uint32']) as (fd: number, addr: { sun_family: number; sun_path: string }, len: number) => number,
  /** ioctl(2) with a buffer argument (a struct ifreq). */
  ioctlBuffer: lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)') as (fd: number, request: number, arg: Uint8Array) => number,
  send: lib.func('long send(int fd, const uint8_t *buf, size_t len, int flags)') as (fd: number, buf: Uint8Array, len: number, flags: number) => number,
  recv: lib.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)') as (fd: number, buf: Uint8Array, len: number, flags: number) => number,
  shutdown: lib.func('int shutdown(int fd, int how)') as (fd: number, how: number) => number,
  close: lib.func('int close(int fd)') as (fd: number) => number,
  strerror: lib.func('const char *strerror(int errnum)') as (errnum: number) => string,
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *ifname)') as (name: string) => number,
  sync_file_range: lib.func('int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags)') as (fd: number, offset: number, nbytes: number, flags: number) => number,
  inotify_init1: lib.func('int inotify_init1(int flags)') as (flags: number) => number,
  inotify_add_watch: lib.func('int inotify_add_watch(int fd, const char *path, uint32_t mask)') as (fd: number, path: string, mask: number) => number,
  inotify_rm_watch: lib.func('int inotify_rm_watch(int fd, int wd)') as (fd: number, wd: number) => number,
  read: lib.func('long read(int fd, _Out_ void *buf, size_t len)') as (fd: number, buf: Buffer, len: number) => number,
  malloc_trim: lib.func('int malloc_trim(size_t pad)') as (pad: number) => number,
  mallopt: lib.func('int mallopt(int param, int value)') as (param: number, value: number) => number,
};

/** The errno of the last failed call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/** The name of an errno value (`ECONNRESET`), or undefined when libc has no name for it. */
export function errnoName(value: number): string | undefined {
  try {
    return getSystemErrorName(-value);
  } catch {
    return undefined;
  }
}

/** koffi's poll callback gets (status, events); its typings say (events). */
export type PollCallback = (status: number, events: { readable: boolean; writable: boolean; disconnect: boolean }) => void;
export interface PollHandle {
  start(opts: { readable?: boolean; writable?: boolean }, cb: PollCallback): void;
  stop(): void;
  close(): void;
}

/** A libuv poll handle on `fd` (koffi's `node.poll`), or null when koffi cannot make one. */
export function pollFd(fd: number, opts: { readable?: boolean; writable?: boolean }, cb: PollCallback): PollHandle | null {
  return (koffi.node.poll as unknown as (fd: number, opts: object, cb: PollCallback) => PollHandle | null)(fd, opts, cb);
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** An fs-style error of a failed call (`ENOENT: mknod '/x'`), `errno` the failure's (default the last). */
export function sysError(syscall: string, path: string, value = koffi.errno()): NodeJS.ErrnoException {
  const code = errnoName(value) ?? `E${value}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  err.code = code;
  err.errno = -value;
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

// ---- posix_spawn ---------------------------------------------------------------------------

const spawnCalls = {
  posix_spawnp: lib.func('int posix_spawnp(_Out_ int *pid, const char *file, void *actions, void *attr, const char **argv, const char **envp)'),
  actionsInit: lib.func('int posix_spawn_file_actions_init(void *actions)'),
  actionsDestroy: lib.func('int posix_spawn_file_actions_destroy(void *actions)'),
  addDup2: lib.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)'),
  addOpen: lib.func('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, uint32_t mode)'),
  addChdir: lib.func('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)'),
  attrInit: lib.func('int posix_spawnattr_init(void *attr)'),
  attrDestroy: lib.func('int posix_spawnattr_destroy(void *attr)'),
  attrSetFlags: lib.func('int posix_spawnattr_setflags(void *attr, short flags)'),
  attrSetSigMask: lib.func('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
  attrSetSigDefault: lib.func('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
  sigemptyset: lib.func('int sigemptyset(void *set)'),
  sigfillset: lib.func('int sigfillset(void *set)'),
  pipe2: lib.func('int pipe2(_Inout_ uint8_t *fds, int flags)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
  pidfd_open: lib.func('int pidfd_open(int pid, unsigned int flags)'),
  waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)'),
};

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_CLOEXEC = 0o2000000;
const F_DUPFD_CLOEXEC = 1030;
const WNOHANG = 1;
// Larger than glibc's posix_spawn_file_actions_t (80 bytes), posix_spawnattr_t (336) and sigset_t (128).
const ACTIONS_SIZE = 256;
const ATTR_SIZE = 512;
const SIGSET_SIZE = 256;

/** What the child's descriptor table gets, in order, before it executes. */
export type SpawnAction = { dup2: [from: number, to: number] } | { open: [fd: number, path: string, flags: number] } | { chdir: string };

/**
 * posix_spawnp(3): run `file` (searched in the daemon's PATH when it has no slash) with `argv`
 * and `envp`, after `actions`, with every signal's default action and an empty signal mask
 * (what libuv's spawn gives its children; Node ignores SIGPIPE). glibc spawns with
 * CLONE_VFORK: no copy of the daemon's page tables, the caller blocked only until the exec.
 * Returns the child's PID; throws an fs-style error (`ENOENT`, ...) when it cannot run. The
 * caller reaps the child (`pidfdOpen`, `waitpidNoHang`): no one else does.
 */
export function posixSpawn(file: string, argv: string[], envp: string[], actions: SpawnAction[]): number {
  // Native memory (glibc keeps pointers into the file actions between calls; a JS buffer may move).
  const fa: unknown = koffi.alloc('uint8_t', ACTIONS_SIZE);
  const attr: unknown = koffi.alloc('uint8_t', ATTR_SIZE);
  const all: unknown = koffi.alloc('uint8_t', SIGSET_SIZE);
  const none: unknown = koffi.alloc('uint8_t', SIGSET_SIZE);
  let faReady = false;
  let attrReady = false;
  try {
    const check = (rc: number, what: string): void => {
      if (rc !== 0) throw sysError(what, file, rc);
    };
    check(spawnCalls.actionsInit(fa) as number, 'posix_spawn_file_actions_init');
    faReady = true;
    for (const a of actions) {
      if ('dup2' in a) check(spawnCalls.addDup2(fa, a.dup2[0], a.dup2[1]) as number, 'posix_spawn_file_actions_adddup2');
      else if ('open' in a) check(spawnCalls.addOpen(fa, a.open[0], a.open[1], a.open[2], 0) as number, 'posix_spawn_file_actions_addopen');
      else check(spawnCalls.addChdir(fa, a.chdir) as number, 'posix_spawn_file_actions_addchdir_np');
    }
    check(spawnCalls.attrInit(attr) as number, 'posix_spawnattr_init');
    attrReady = true;
    spawnCalls.sigfillset(all);
    spawnCalls.sigemptyset(none);
    check(spawnCalls.attrSetSigDefault(attr, all) as number, 'posix_spawnattr_setsigdefault');
    check(spawnCalls.attrSetSigMask(attr, none) as number, 'posix_spawnattr_setsigmask');
    check(spawnCalls.attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) as number, 'posix_spawnattr_setflags');
    const pid = [0];
    check(spawnCalls.posix_spawnp(pid, file, fa, attr, [...argv, null], [...envp, null]) as number, 'posix_spawn');
    return pid[0] as number;
  } finally {
    if (faReady) spawnCalls.actionsDestroy(fa);
    if (attrReady) spawnCalls.attrDestroy(attr);
    for (const p of [fa, attr, all, none]) koffi.free(p);
  }
}

/** pipe2(2) with O_CLOEXEC: [read end, write end]. */
export function pipeCloexec(): [number, number] {
  const fds = Buffer.alloc(8);
  if ((spawnCalls.pipe2(fds, O_CLOEXEC) as number) !== 0) throw sysError('pipe2', '');
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/** fcntl(F_DUPFD_CLOEXEC): a copy of `fd` numbered `min` or above. */
export function dupCloexecAbove(fd: number, min: number): number {
  const copy = spawnCalls.fcntl(fd, F_DUPFD_CLOEXEC, 'int', min) as number;
  if (copy < 0) throw sysError('fcntl', '');
  return copy;
}

/** pidfd_open(2): a descriptor that turns readable when the process `pid` has ended; -1 when the kernel has none (before 5.3). */
export function pidfdOpen(pid: number): number {
  return spawnCalls.pidfd_open(pid, 0) as number;
}

/**
 * waitpid(pid, WNOHANG): undefined while the child runs; once it has ended (it is reaped
 * then), its exit code, or 128 + the signal that ended it.
 */
export function waitpidNoHang(pid: number): number | undefined {
  const status = [0];
  const r = spawnCalls.waitpid(pid, status, WNOHANG) as number;
  if (r === 0) return undefined;
  if (r < 0) throw sysError('waitpid', String(pid));
  const s = status[0] as number;
  return (s & 0x7f) === 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
}
