import { constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { conflict, errnoCode, notFound } from '../errors.js';
import { log } from '../log.js';
import type { BundlePaths } from './bundle.js';

/** What pierd tells a running conmon besides its command line (its log level, TTY resizes through its `ctl` fifo), and whether it still runs. */

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

/** The pid conmon wrote for the container of `paths`; undefined when it wrote none. */
function conmonPid(paths: BundlePaths): number | undefined {
  try {
    const n = Number(readFileSync(paths.conmonPidFile, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the container's conmon still runs (a live one has the bundle on its command line). */
export function conmonAlive(paths: BundlePaths): boolean {
  const pid = conmonPid(paths);
  if (pid === undefined) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(paths.bundle);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Wait, at most about 5 s each, for `gone` (the close of the sync pipe of a conmon this daemon
 * started), then until no conmon of the container is in /proc. Logs and resolves when late.
 */
export async function waitConmonGone(paths: BundlePaths, gone: Promise<void> | undefined): Promise<void> {
  if (gone) {
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([gone.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 5000)))]);
    clearTimeout(timer);
    if (!late) return;
  }
  const deadline = Date.now() + 5000;
  while (conmonAlive(paths)) {
    if (Date.now() > deadline) {
      log.warn({ bundle: paths.bundle }, 'conmon still running after delete');
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
