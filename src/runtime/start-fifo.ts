import { constants, closeSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { errnoCode } from '../errors.js';

/**
 * Starting a created container without spawning its runtime. Both runtimes leave the
 * container's init blocked on a fifo, `exec.fifo` in the container's state folder, until
 * their `start` releases it; pier, which configures neither hooks nor a notify socket, can
 * do what `start` does itself and save a process (a fork of the daemon and the runtime's
 * own start) on the path of every `run`. Each function returns false, leaving the fifo as it
 * was, when the fifo is not there or the init is not waiting on it: the caller then runs the
 * runtime's `start`, whose error says why.
 */

/**
 * runc's init writes one byte into the fifo and waits until it is read: `runc start` reads it
 * and removes the fifo (runc then reports the container running). The fifo is opened
 * non-blocking and read as a pipe handle of the event loop, so the byte is taken the moment
 * it comes and an init that died never holds a thread; false when no byte comes within 2 s.
 */
export async function startRuncThroughFifo(fifo: string): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  const got = await new Promise<boolean>((resolve) => {
    const pipe = new Socket({ fd, readable: true, writable: false });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      pipe.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 2000);
    pipe.once('data', () => done(true));
    pipe.once('end', () => done(false));
    pipe.once('error', () => done(false));
  });
  if (got) rmSync(fifo, { force: true });
  return got;
}

/**
 * crun's init holds the fifo open for reading and waits for one byte: `crun start` (crun 1.8,
 * libcrun_status_write_exec_fifo) opens it for writing, removes it (crun then reports the
 * container running) and writes a zero byte. Here the open is non-blocking, so that an init
 * that is gone (no reader: ENXIO) gives false at once; a few system calls, no wait.
 */
export function startCrunThroughFifo(fifo: string): boolean {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENXIO') return false;
    throw err;
  }
  try {
    unlinkSync(fifo);
    writeSync(fd, Buffer.alloc(1));
    return true;
  } finally {
    closeSync(fd);
  }
}
