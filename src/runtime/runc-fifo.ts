import { constants, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';

/**
 * Start a created runc container without spawning runc: what `runc start` does is read the
 * byte that the container's init writes into `exec.fifo` (which lets it exec the process) and
 * remove the fifo (runc then reports it running). `fifo` is the container's `exec.fifo` in runc's state folder. The
 * fifo is opened non-blocking and read as a pipe handle of the event loop, so the byte is
 * taken the moment it comes and an init that died never holds a thread; false (the caller
 * runs `runc start`) when the fifo is not there or no byte comes within 2 s.
 */
export async function startThroughFifo(fifo: string): Promise<boolean> {
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
