import { log } from '../log.js';
import { calls, errno as lastErrno, pollFd, sysError, type PollHandle } from './libc.js';

/**
 * Watching folders for a few kinds of change only, through inotify with a mask of the
 * caller's choosing (node's fs.watch asks for every write too, and a busy log writes
 * thousands of times a second). One inotify descriptor, driven by a libuv poll handle
 * (koffi's `node.poll`), serves every folder watched through one `FolderWatcher`.
 */

export const IN_CREATE = 0x100;
export const IN_MOVED_TO = 0x80;
const IN_Q_OVERFLOW = 0x4000;
const IN_IGNORED = 0x8000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const EAGAIN = 11;
const EINTR = 4;

/**
 * Called with the name of the entry an event is about; `name` is undefined when events were
 * lost (the kernel's queue overflowed): the caller looks at the folder again.
 */
export type FolderEvent = (name: string | undefined, mask: number) => void;

export class FolderWatcher {
  private fd = -1;
  private poll: PollHandle | undefined;
  private readonly byWd = new Map<number, FolderEvent>();
  private readonly buf = Buffer.alloc(64 * 1024);

  /**
   * Watch `dir` for the events of `mask` (IN_CREATE, IN_MOVED_TO, ...); returns the function
   * that stops it. Throws (ENOENT, ...) when the folder cannot be watched.
   */
  watch(dir: string, mask: number, onEvent: FolderEvent): () => void {
    this.open();
    const wd = calls.inotify_add_watch(this.fd, dir, mask);
    if (wd < 0) throw sysError('inotify_add_watch', dir);
    // Watching a folder twice gives the same descriptor: the later callback wins.
    this.byWd.set(wd, onEvent);
    return () => {
      if (this.byWd.get(wd) !== onEvent) return;
      this.byWd.delete(wd);
      // The descriptor stays open with no watch left: closing it makes the kernel wait for
      // its marks to be reaped (fsnotify_destroy_group), 7 to 15 ms of a blocked event loop,
      // which each container's exit would pay when it was the last one watched.
      if (this.fd >= 0) calls.inotify_rm_watch(this.fd, wd);
    };
  }

  /** Stop every watch and close the descriptor (at shutdown: this costs the kernel's reaping of the marks). */
  close(): void {
    this.poll?.close();
    this.poll = undefined;
    if (this.fd >= 0) calls.close(this.fd);
    this.fd = -1;
    this.byWd.clear();
  }

  private open(): void {
    if (this.fd >= 0) return;
    const fd = calls.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw sysError('inotify_init1', '');
    const handle = pollFd(fd, { readable: true }, () => {
      try {
        this.onReadable();
      } catch (err) {
        // Not thrown into libuv's callback: the watches go on, their owners look again on their own.
        log.error({ err }, 'reading inotify events');
      }
    });
    if (!handle) {
      calls.close(fd);
      throw new Error('inotify: cannot poll its descriptor');
    }
    this.fd = fd;
    this.poll = handle;
  }

  private onReadable(): void {
    for (;;) {
      if (this.fd < 0) return;
      const n = calls.read(this.fd, this.buf, this.buf.length);
      if (n < 0) {
        const errno = lastErrno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return;
        throw sysError('read', 'inotify', errno);
      }
      if (n === 0) return;
      // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
      for (let at = 0; at + 16 <= n; ) {
        const wd = this.buf.readInt32LE(at);
        const mask = this.buf.readUInt32LE(at + 4);
        const len = this.buf.readUInt32LE(at + 12);
        const raw = this.buf.subarray(at + 16, at + 16 + len);
        const end = raw.indexOf(0);
        const name = raw.toString('utf8', 0, end < 0 ? raw.length : end);
        at += 16 + len;
        if (mask & IN_Q_OVERFLOW) {
          for (const cb of [...this.byWd.values()]) cb(undefined, mask);
          continue;
        }
        if (mask & IN_IGNORED) {
          this.byWd.delete(wd);
          continue;
        }
        this.byWd.get(wd)?.(name, mask);
      }
    }
  }
}
