import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { conflict, errnoCode, notFound } from '../errors.js';

/** What pierd tells a running conmon besides its command line: its log level, TTY resizes through its `ctl` fifo. */

/** conmon's --log-level for pier's log level. */
export function conmonLogLevel(l: string): 'debug' | 'info' | 'warn' | 'error' {
  if (l === 'trace' || l === 'debug') return 'debug';
  if (l === 'info') return 'info';
  if (l === 'warn') return 'warn';
  return 'error';
}

/** Tell conmon (through its `ctl` fifo) to resize the TTY. */
export async function writeResize(ctl: string, what: string, height: number, width: number): Promise<void> {
  let fh;
  try {
    // Non-blocking: with no conmon reading, the open fails (ENXIO) instead of hanging.
    fh = await open(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw notFound(`no such ${what}`);
    if (code === 'ENXIO') throw conflict(`${what} is not running`);
    throw err;
  }
  try {
    await fh.write(`1 ${Math.trunc(height)} ${Math.trunc(width)}\n`);
  } finally {
    await fh.close();
  }
}
