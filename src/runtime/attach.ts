import { closeSync, openSync } from 'node:fs';
import { dirname, basename } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { log } from '../log.js';
import { calls, errno as lastErrno, errnoName, pollFd, type PollHandle } from '../util/libc.js';
import type { AttachStreams } from './runtime.js';

/**
 * Client of conmon's attach socket (`<bundle>/attach`, AF_UNIX SOCK_SEQPACKET, which node:net
 * cannot open). Found by reading conmon 2.1.6 (src/conn_sock.c, src/ctr_stdio.c) and by
 * experiment:
 *
 * - Each packet conmon sends is one read of the container's stdout or stderr: its first byte
 *   names the pipe (2 = stdout, 3 = stderr; with a TTY everything is 2), the rest (at most 8192
 *   bytes) is data. Only clients connected when the data is read get it: connect before start.
 * - What the client sends is written as is to the container's stdin (when conmon was started
 *   with `-i`). conmon reads at most 32767 bytes per packet and drops the rest of a bigger one,
 *   so stdin is sent in packets of at most 32767 bytes.
 * - A client's shutdown(SHUT_WR) reaches conmon as a zero-length read; conmon then closes the
 *   container's stdin, unless it runs with `--leave-stdin-open`.
 * - When the container exits, conmon drains its output to the clients, then closes them (a
 *   zero-length read here), before it writes the exit file.
 *
 * The socket is driven by a libuv poll handle (util/libc.ts `pollFd`) and non-blocking
 * recv/send, so an open attach costs no thread-pool thread.
 */

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOCK_NONBLOCK = 0o4000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SHUT_WR = 1;
const EAGAIN = 11;
const EINTR = 4;
const EPIPE = 32;
const ECONNRESET = 104;

/** conmon's pipe numbers in the first byte of a packet. */
export const STDOUT_PIPE = 2;
export const STDERR_PIPE = 3;

/** Largest packet conmon reads whole from an attach client (CONN_SOCK_BUF_SIZE - 1). */
export const MAX_STDIN_PACKET = 32767;
/** Room for the largest packet conmon sends (1 + STDIO_BUF_SIZE), with margin. */
const RECV_BUFFER = 32768;

function sysError(call: string, errno: number, path?: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${call}${path ? ` ${path}` : ''}: ${calls.strerror(errno)}`);
  err.errno = errno;
  err.syscall = call;
  const code = errnoName(errno);
  if (code) err.code = code;
  return err;
}

/**
 * Connect to the SOCK_SEQPACKET socket at `path`. The path is reached through
 * /proc/self/fd/<dir fd>/<name>, so its length is not limited by sockaddr_un (107 bytes).
 */
export function connectSeqpacket(path: string): number {
  const c = calls;
  // Non-blocking: a full listen backlog fails the connect (EAGAIN) instead of blocking the loop.
  const fd = c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw sysError('socket', lastErrno());
  let dirFd: number | undefined;
  try {
    dirFd = openSync(dirname(path), 'r');
    const short = `/proc/self/fd/${dirFd}/${basename(path)}`;
    if (Buffer.byteLength(short) > 107) throw new Error(`attach socket name too long: ${path}`);
    if (c.connect(fd, { sun_family: AF_UNIX, sun_path: short }, 110) < 0) throw sysError('connect', lastErrno(), path);
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

/** Open an attach connection to conmon's socket at `path` (`<bundle>/attach`). */
export function openAttach(path: string): AttachStreams {
  return new AttachConnection(connectSeqpacket(path));
}

class AttachConnection implements AttachStreams {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable;

  private fd: number;
  private readonly poll: PollHandle;
  private readonly buf = Buffer.allocUnsafe(RECV_BUFFER);
  /** A push returned false: stop reading until that stream asks for more. */
  private paused = false;
  private remoteClosed = false;
  private pendingWrite: { data: Buffer; cb: (err?: Error | null) => void } | undefined;
  private closed = false;
  private reading = false;

  constructor(fd: number) {
    this.fd = fd;
    const resume = () => {
      if (!this.paused || this.closed) return;
      this.paused = false;
      this.onReadable();
      this.updatePoll();
    };
    this.stdout = new Readable({ read: resume });
    this.stderr = new Readable({ read: resume });
    this.stdin = new Writable({
      highWaterMark: MAX_STDIN_PACKET,
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk, cb);
      },
      final: (cb) => {
        this.endStdin(cb);
      },
    });
    const handle = pollFd(
      fd,
      { readable: true },
      (status, events) => {
        this.onPoll(status, events);
      },
    );
    if (!handle) {
      calls.close(fd);
      throw new Error('attach: cannot poll the socket');
    }
    this.poll = handle;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poll.close();
    calls.close(this.fd);
    this.fd = -1;
    endReadable(this.stdout);
    endReadable(this.stderr);
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    pending?.cb();
  }

  private onPoll(status: number, events: { readable: boolean; writable: boolean }): void {
    if (this.closed) return;
    if (status < 0) {
      this.fail(new Error(`attach: poll: ${status}`));
      return;
    }
    if (events.readable) this.onReadable();
    if (events.writable && this.pendingWrite) {
      const { data, cb } = this.pendingWrite;
      this.pendingWrite = undefined;
      this.write(data, cb);
    }
    this.updatePoll();
  }

  private updatePoll(): void {
    if (this.closed) return;
    const readable = !this.paused && !this.remoteClosed;
    const writable = this.pendingWrite !== undefined;
    if (!readable && !writable) this.poll.stop();
    else
      this.poll.start({ readable, writable }, (status, events) => {
        this.onPoll(status, events);
      });
  }

  /** Read packets until the socket is empty, a stream is full, or conmon closed. */
  private onReadable(): void {
    if (this.reading) return;
    this.reading = true;
    try {
      this.readPackets();
    } finally {
      this.reading = false;
    }
  }

  private readPackets(): void {
    const c = calls;
    while (!this.paused && !this.remoteClosed && !this.closed) {
      const n = c.recv(this.fd, this.buf, this.buf.length, MSG_DONTWAIT);
      if (n < 0) {
        const errno = lastErrno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return;
        if (errno === ECONNRESET) {
          this.onRemoteClose();
          return;
        }
        this.fail(sysError('recv', errno));
        return;
      }
      if (n === 0) {
        this.onRemoteClose();
        return;
      }
      if (n === 1) continue;
      const data = Buffer.from(this.buf.subarray(1, n));
      const target = this.buf[0] === STDERR_PIPE ? this.stderr : this.stdout;
      if (!target.push(data)) this.paused = true;
    }
  }

  /** conmon closed the connection (the container exited): output ends. */
  private onRemoteClose(): void {
    this.remoteClosed = true;
    this.close();
  }

  private write(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.closed || this.remoteClosed) {
      cb();
      return;
    }
    const c = calls;
    let off = 0;
    while (off < chunk.length) {
      const piece = chunk.subarray(off, off + MAX_STDIN_PACKET);
      const n = c.send(this.fd, piece, piece.length, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        const errno = lastErrno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) {
          this.pendingWrite = { data: chunk.subarray(off), cb };
          this.updatePoll();
          return;
        }
        if (errno === EPIPE || errno === ECONNRESET) {
          // conmon is gone: the container exited; what it did not read is discarded.
          cb();
          return;
        }
        cb(sysError('send', errno));
        return;
      }
      off += n;
    }
    cb();
  }

  private endStdin(cb: (err?: Error | null) => void): void {
    if (this.closed || this.remoteClosed) {
      cb();
      return;
    }
    if (calls.shutdown(this.fd, SHUT_WR) < 0) {
      const errno = lastErrno();
      if (errno !== EPIPE && errno !== ECONNRESET && errno !== 107 /* ENOTCONN */) {
        cb(sysError('shutdown', errno));
        return;
      }
    }
    cb();
  }

  /**
   * The socket failed (a poll error, a failed recv): the output streams end with the error where
   * someone listens for it, else they end as at EOF and the error is logged. Never throws, and
   * never leaves an 'error' event nobody handles (that would end the daemon).
   */
  private fail(err: Error): void {
    if (this.closed) return;
    let told = false;
    for (const r of [this.stdout, this.stderr]) {
      if (r.listenerCount('error') > 0) {
        r.destroy(err);
        told = true;
      }
    }
    if (!told) log.warn({ err }, 'attach socket failed; its output ends here');
    this.close();
  }
}

function endReadable(r: Readable): void {
  if (!r.destroyed && !r.readableEnded) r.push(null);
}
