import { spawn as nodeSpawn } from 'node:child_process';
import { closeSync, constants } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { log } from '../log.js';
import { dupCloexecAbove, pidfdOpen, pipeCloexec, pollFd, posixSpawn, waitpidNoHang, type SpawnAction } from './libc.js';

/**
 * Spawning the short-lived helpers on the path of every container operation (conmon, the
 * runtime's delete and kill) without forking the daemon. Node's spawn forks: with the daemon's
 * 55 to 90 MB mapped that is 1.5 to 2 ms of blocked event loop per process, paid once or
 * twice by every `run` and `exec`. `spawnLight` uses posix_spawn (glibc's vfork-like clone:
 * 0.25 ms here) and watches the child's end through a pidfd on the event loop; where the
 * kernel has no pidfd (before Linux 5.3) it falls back to Node's spawn, with the same result.
 */

/** What the child's descriptor `i` is: /dev/null, or a pipe the daemon reads (`read`) or writes (`write`). */
export type ChildFd = 'ignore' | 'read' | 'write';

export interface LightChild {
  pid: number;
  /** By the child's descriptor number: a Readable for `read`, a Writable for `write`, null for `ignore`. */
  stdio: Array<Readable | Writable | null>;
  /** Settles once the process has ended (and is reaped): its exit code, or 128 + its signal. Never rejects. */
  exit: Promise<number>;
}

export interface LightSpawnOptions {
  /** The child's whole environment; the daemon's own by default. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Descriptors 0, 1, 2, 3, ... of the child; any other descriptor of the daemon is closed on exec (Node opens every one with O_CLOEXEC). */
  stdio: ChildFd[];
}

let pidfdWorks: boolean | undefined;

/**
 * Run `file` (searched in the daemon's PATH when it has no slash) with `args`. Throws an
 * fs-style error (`ENOENT`, `EACCES`, ...) when it cannot be run; nothing is left open then.
 */
export function spawnLight(file: string, args: string[], opts: LightSpawnOptions): LightChild {
  if (pidfdWorks === false) return viaNode(file, args, opts);
  const parentEnds: Array<number | undefined> = [];
  const childEnds: number[] = [];
  const actions: SpawnAction[] = [];
  try {
    for (const [i, kind] of opts.stdio.entries()) {
      if (kind === 'ignore') {
        parentEnds.push(undefined);
        actions.push({ open: [i, '/dev/null', constants.O_RDWR] });
        continue;
      }
      const [r, w] = pipeCloexec();
      const [mine, theirs] = kind === 'read' ? [r, w] : [w, r];
      parentEnds.push(mine);
      // An end numbered below the child's descriptors could be dup2'ed onto itself, which keeps
      // O_CLOEXEC: such an end is moved above them first.
      const end = theirs < opts.stdio.length ? moveAbove(theirs, opts.stdio.length) : theirs;
      childEnds.push(end);
      actions.push({ dup2: [end, i] });
    }
    if (opts.cwd) actions.push({ chdir: opts.cwd });
    const env = Object.entries(opts.env ?? process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
    const pid = posixSpawn(file, [file, ...args], env, actions);
    for (const fd of childEnds.splice(0)) closeQuietly(fd);
    const exit = watchExit(pid);
    if (!exit) {
      // No pidfd on this kernel: this child is waited for by polling, the next ones go through Node.
      pidfdWorks = false;
      log.info('spawn: no pidfd_open on this kernel; helpers are spawned through Node');
    } else pidfdWorks = true;
    const stdio = opts.stdio.map((kind, i) => {
      const fd = parentEnds[i];
      if (fd === undefined) return null;
      return new Socket({ fd, readable: kind === 'read', writable: kind === 'write' });
    });
    return { pid, stdio, exit: exit ?? pollExit(pid) };
  } catch (err) {
    for (const fd of [...childEnds, ...parentEnds]) if (fd !== undefined) closeQuietly(fd);
    throw err;
  }
}

/** A copy of `fd` numbered `min` or above (close-on-exec), the original closed. */
function moveAbove(fd: number, min: number): number {
  try {
    return dupCloexecAbove(fd, min);
  } finally {
    closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closed already.
  }
}

/** The child's exit through a pidfd polled on the event loop; undefined when the kernel gives no pidfd. */
function watchExit(pid: number): Promise<number> | undefined {
  const pidfd = pidfdOpen(pid);
  if (pidfd < 0) return undefined;
  return new Promise<number>((resolve) => {
    const done = (code: number): void => {
      handle?.close();
      closeQuietly(pidfd);
      resolve(code);
    };
    const handle = pollFd(pidfd, { readable: true }, () => {
      const code = waitpidNoHang(pid);
      if (code !== undefined) done(code);
    });
    // No poll handle (cannot happen with a pidfd on Linux): wait by polling instead.
    if (!handle) void pollExit(pid).then(done);
  });
}

/** The child's exit by asking every 10 ms (the fallback where no pidfd can be had). */
function pollExit(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const code = waitpidNoHang(pid);
      if (code === undefined) return;
      clearInterval(timer);
      resolve(code);
    }, 10);
  });
}

/** Node's spawn behind the same interface; a child that cannot run exits with 127 here (Node tells that late, as an event). */
function viaNode(file: string, args: string[], opts: LightSpawnOptions): LightChild {
  const child = nodeSpawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: opts.stdio.map((k) => (k === 'ignore' ? 'ignore' : 'pipe')) });
  const exit = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      log.warn({ err, file }, 'spawn failed');
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  return { pid: child.pid ?? 0, stdio: child.stdio.map((s) => s ?? null), exit };
}

/** All that `stream` gives until it ends, as UTF-8 text; never rejects (a failed read ends the text). */
export function readText(stream: Readable): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => (text += d));
  return new Promise((resolve) => {
    stream.once('end', () => resolve(text));
    stream.once('error', () => resolve(text));
  });
}
