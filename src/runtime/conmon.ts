import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { EngineError, errnoCode, internal, invalid } from '../errors.js';
import { CommandError } from './runtime.js';
import { type ChildFd, type LightChild, spawnLight } from '../util/spawn.js';
import { mark } from '../util/trace.js';

/**
 * Launching conmon 2.1.6, the per-container monitor. What it does, read from its source
 * (src/conmon.c, ctr_exit.c, oom.c, conn_sock.c, ctrl.c at v2.1.6) and checked by experiment:
 *
 * - The process we spawn forks at once; the parent writes `--conmon-pidfile` and exits 0, the
 *   child calls setsid and lives on (it is not our child: it outlives pierd and keeps logging).
 * - The child creates `<bundle>/attach` (SOCK_SEQPACKET, `--full-attach`), the fifos
 *   `<bundle>/ctl` and `<bundle>/winsz`, then runs `<runtime> <runtime-args> create --bundle
 *   <bundle> --pid-file <pidfile> [--console-socket <sock>] <id>` and waits for it.
 * - On the sync pipe (the fd named by `_OCI_SYNCPIPE`) it then writes one line, `{"data": <pid>}`
 *   once the container is created, or `{"data": -1, "message": "<runtime stderr>"}` when create
 *   failed (the runtime's stderr: with `--log-format=json`, JSON lines with `msg`). Nothing else
 *   is written for a container (exit codes go there only for exec).
 * - It writes "-1000" to its own oom_score_adj, which fails without CAP_SYS_RESOURCE (harmless,
 *   logged on stderr before it detaches: "failed to write to /proc/self/oom_score_adj").
 * - When the container's first process exits it drains stdout/stderr into the log and the
 *   attach clients, closes the attach clients, then writes the exit code as decimal text to
 *   `<persist-dir>/exit` and then `<exit-dir>/<id>`, each through a temp file renamed into
 *   place (an fs.watch on the exit dir sees `<id>.XXXXXX` created, then renamed to `<id>`).
 *   A process killed by a signal is written as 128+signal (SIGKILL: "137"); a process that
 *   exits normally, as its exit code (tini as PID 1 exits 128+signal when its child was killed,
 *   so `docker stop` of a shell under --init gives 143).
 * - OOM: on cgroup v1 it registers an eventfd on memory.oom_control; on an OOM kill it creates
 *   `<persist-dir>/oom` and `oom` in its working directory. v1 races with the exit (the kill
 *   event may be read after the exit), so readers also check the cgroup's oom_kill counter.
 * - The log (`-l k8s-file:<path>`) gets lines `<RFC3339Nano with +00:00> stdout|stderr F|P <data>`
 *   (P: partial line, more follows); `-l none` keeps no log. With `--log-size-max N` it counts
 *   the bytes it wrote since its start or last rotation and, before a line would take that
 *   past N, closes the file, opens `<path>.tmp` (O_TRUNC|O_CREAT) and renames it over
 *   `<path>` (src/ctr_logging.c: write_k8s_log, reopen_k8s_file).
 * - `ctl` accepts `1 <height> <width>\n` (resize the TTY) and `2 0 0\n` (reopen the log: the
 *   same `.tmp` and rename, without resetting that count).
 */

export interface ConmonOptions {
  conmonPath: string;
  runtimePath: string;
  /** Global arguments for the runtime (`--root=...`, `--log-format=json`). */
  runtimeArgs: string[];
  id: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  persistDir: string;
  /** Where conmon writes the output (k8s-file); null: nowhere. */
  logPath: string | null;
  /** conmon's `--log-size-max`: the size at which it goes on in a new file. */
  logSizeMax?: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** `-i`: keep a pipe to the container's stdin for attach clients. */
  stdin: boolean;
  /** Keep stdin open when an attach client ends its input (Docker's StdinOnce = false). */
  leaveStdinOpen: boolean;
  tty: boolean;
  /** conmon's working directory (it drops an `oom` file there). */
  cwd: string;
}

/** conmon's arguments, in podman's style. */
export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-r', o.runtimePath,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-n', o.id,
    '--exit-dir', o.exitDir,
    '--persist-dir', o.persistDir,
    '--full-attach',
    '-l', o.logPath === null ? 'none' : `k8s-file:${o.logPath}`,
    '--log-level', o.logLevel,
    '--conmon-pidfile', o.conmonPidFile,
    '--socket-dir-path', o.bundle,
    // No fsync of the log between the container's end and its exit file (Docker's json-file
    // logs are not synced either): about a millisecond off every exit, more on a busy disk.
    '--no-sync-log',
  ];
  if (o.logPath !== null && o.logSizeMax !== undefined && o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));
  if (o.stdin) args.push('-i');
  if (o.tty) args.push('-t');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);
  return args;
}

/** How long conmon may take to report the runtime's `create` or `exec`. */
const CREATE_TIMEOUT_MS = 120_000;
const PATH_DEFAULT = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Spawn conmon and wait for its report of `<runtime> create`. Resolves with the container's
 * PID and the (surviving) conmon's PID; rejects with the runtime's own message when create
 * failed (kind `invalid` for a missing or non-executable command, bad working directory or
 * mount, as Docker answers 400 there; `internal` otherwise).
 */
export async function runConmon(o: ConmonOptions): Promise<{ pid: number; conmonPid: number; gone: Promise<void> }> {
  const c = launch(o.conmonPath, conmonArgs(o), o.cwd, {});
  mark(o.id, 'conmon: spawned');
  let ok = false;
  try {
    const msg = await c.report(o.id, `${o.runtimePath} create`);
    if (msg.data < 0) throw createError(msg.message ?? `${o.runtimePath} create failed`);
    const conmonPid = Number(readFileSync(o.conmonPidFile, 'utf8').trim());
    ok = true;
    // The monitor holds the sync pipe until it exits: its closing tells us conmon is gone.
    return { pid: msg.data, conmonPid, gone: c.sync.closed() };
  } finally {
    if (!ok) c.sync.destroy();
  }
}

export interface ConmonExecOptions {
  conmonPath: string;
  runtimePath: string;
  runtimeArgs: string[];
  /** The container's id. */
  id: string;
  /** The exec session's id (conmon's `-u`). */
  execId: string;
  /** The session folder: conmon makes `attach`, `ctl`, `winsz` there. */
  dir: string;
  processSpec: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  logLevel: ConmonOptions['logLevel'];
  stdin: boolean;
  tty: boolean;
  /**
   * Attach: called once conmon's attach socket exists and before the process is started
   * (conmon's `--exec-attach` with the _OCI_ATTACHPIPE / _OCI_STARTPIPE handshake).
   */
  beforeStart?: () => void;
}

/** conmon's arguments for an exec session. */
export function conmonExecArgs(o: ConmonExecOptions): string[] {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.execId,
    '-r', o.runtimePath,
    '-b', o.dir,
    '-p', o.pidFile,
    '-n', o.id,
    '--exit-dir', o.exitDir,
    '--full-attach',
    '-l', 'none',
    '--log-level', o.logLevel,
    '--conmon-pidfile', o.conmonPidFile,
    '--socket-dir-path', o.dir,
    '--exec',
    '--exec-process-spec', o.processSpec,
  ];
  if (o.beforeStart) args.push('--exec-attach');
  if (o.stdin) args.push('-i');
  // As Docker: a TTY exec's stdin stays open when its client goes (a detach); a plain one's closes.
  if (o.stdin && o.tty) args.push('--leave-stdin-open');
  if (o.tty) args.push('-t');
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);
  return args;
}

/**
 * Run `<runtime> exec` under conmon. For an exec, conmon reports twice on the sync pipe: the
 * process's PID once it runs, then its exit code. Resolves after the first; `exit` settles with
 * the second. Rejects like `runConmon` when the process cannot start.
 */
export async function runConmonExec(o: ConmonExecOptions): Promise<{ pid: number; exit: Promise<number> }> {
  // fd 3: sync (conmon → us); fd 4: start (us → conmon); fd 5: attach ready (conmon → us).
  const env: Record<string, string> = o.beforeStart ? { _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' } : {};
  const c = launch(o.conmonPath, conmonExecArgs(o), o.dir, env, o.beforeStart !== undefined);
  let started = false;
  let handshake = false;
  try {
    if (o.beforeStart) {
      handshake = true;
      const pipes = c.child.stdio;
      const start = pipes[4] as Writable;
      const attachPipe = new LineReader(pipes[5] as Readable);
      // conmon blocks on a first start message before it forks.
      start.write('0');
      const ready = await attachPipe.next(CREATE_TIMEOUT_MS);
      attachPipe.destroy();
      if (ready.data < 0) throw internal(`conmon exec in ${o.id}: attach failed: ${ready.message ?? ready.data}`);
      o.beforeStart();
      // The second message lets conmon's runtime child go on to `exec`.
      start.end('0', () => start.destroy());
      handshake = false;
    }
    const msg = await c.report(o.id, `${o.runtimePath} exec`);
    if (msg.data < 0) throw createError(msg.message ?? `${o.runtimePath} exec failed`);
    started = true;
    const exit = c.sync
      .next(0)
      .then(
        (m) => m.data,
        (err: unknown) => Promise.reject(internal(`conmon exec in ${o.id}: no exit code: ${err instanceof Error ? err.message : String(err)}`, err)),
      )
      .finally(() => {
        c.sync.destroy();
      });
    return { pid: msg.data, exit };
  } finally {
    if (!started) c.sync.destroy();
    // Failed in the middle of the handshake: conmon waits for a start that must not come.
    if (handshake) await killConmon(o.conmonPidFile);
  }
}

async function killConmon(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, 'utf8')).trim());
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
}

/** A spawned conmon: its sync pipe, its stderr and the first process's exit. */
function launch(path: string, args: string[], cwd: string, env: Record<string, string>, startPipes = false) {
  // fd 2: stderr and fd 3: sync (conmon → us); with `startPipes`, fd 4: start (us → conmon), fd 5: attach ready (conmon → us).
  const stdio: ChildFd[] = ['ignore', 'ignore', 'read', 'read'];
  if (startPipes) stdio.push('write', 'read');
  let child: LightChild;
  try {
    child = spawnLight(path, args, { stdio, env: { PATH: process.env.PATH ?? PATH_DEFAULT, _OCI_SYNCPIPE: '3', ...env }, cwd });
  } catch (err) {
    throw internal(`cannot run conmon (${path}): ${(err as Error).message}`, err);
  }
  const stderr = child.stdio[2] as Readable;
  let stderrText = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (d: string) => {
    if (stderrText.length < 8192) stderrText += d;
  });
  // conmon's stderr is ours until it detaches; then it closes and we drop it.
  stderr.once('end', () => stderr.destroy());
  const parentExit = child.exit;
  const sync = new LineReader(child.stdio[3] as Readable);

  /** The first sync message, once the first process has exited too (its pidfile is written). */
  const report = async (id: string, what: string): Promise<SyncMessage> => {
    const [code, msg] = await Promise.all([
      parentExit,
      sync.next(CREATE_TIMEOUT_MS).catch(async (err: unknown) => {
        // A report that never comes is explained by the first process's exit code and stderr.
        const c = await parentExit.catch(() => -1);
        if (c !== 0) throw internal(`conmon for ${id} exited with ${c}: ${lastLines(stderrText)}`);
        throw internal(`conmon for ${id}: no report of ${what}: ${err instanceof Error ? err.message : String(err)}${stderrText ? ` (${lastLines(stderrText)})` : ''}`, err);
      }),
    ]);
    if (code !== 0) throw internal(`conmon for ${id} exited with ${code}: ${lastLines(stderrText)}`);
    return msg;
  };
  return { child, sync, report };
}

/** conmon's JSON lines on a pipe, one at a time. */
class LineReader {
  private text = '';
  private waiting: { resolve: (m: SyncMessage) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;

  constructor(private readonly stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      this.text += d;
      this.deliver();
    });
    stream.once('end', () => {
      this.fail(new Error('pipe closed'));
    });
    stream.once('error', (err) => {
      this.fail(err);
    });
  }

  /** The next message; rejects when the pipe ends first or after `timeoutMs` (0: no limit). */
  next(timeoutMs: number): Promise<SyncMessage> {
    return new Promise((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`nothing after ${timeoutMs / 1000}s`));
      }, timeoutMs) : undefined;
      this.waiting = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.deliver();
    });
  }

  destroy(): void {
    this.stream.destroy();
  }

  /**
   * Settles once the other end has closed the pipe (every process holding it has exited),
   * reading and dropping whatever else comes. The pipe no longer keeps the event loop alive.
   */
  closed(): Promise<void> {
    const stream = this.stream as Readable & { unref?: () => void };
    stream.unref?.();
    return new Promise((resolve) => {
      if (stream.destroyed || stream.readableEnded) resolve();
      stream.once('close', () => resolve());
      stream.once('end', () => stream.destroy());
    });
  }

  private deliver(): void {
    if (!this.waiting) return;
    const nl = this.text.indexOf('\n');
    if (nl < 0) {
      if (this.ended) {
        const w = this.waiting;
        this.waiting = undefined;
        w.reject(this.ended);
      }
      return;
    }
    const line = this.text.slice(0, nl);
    this.text = this.text.slice(nl + 1);
    const w = this.waiting;
    this.waiting = undefined;
    try {
      w.resolve(parseSyncMessage(line));
    } catch (err) {
      w.reject(new Error(`bad message ${JSON.stringify(line)}`, { cause: err }));
    }
  }

  private fail(err: Error): void {
    this.ended ??= err;
    this.deliver();
  }
}

interface SyncMessage {
  data: number;
  message?: string;
}

export function parseSyncMessage(line: string): SyncMessage {
  const v = JSON.parse(line) as unknown;
  if (typeof v !== 'object' || v === null || !('data' in v) || typeof v.data !== 'number') throw new Error('no data');
  const message = 'message' in v && typeof v.message === 'string' ? v.message : undefined;
  return message === undefined ? { data: v.data } : { data: v.data, message };
}

/**
 * The runtime's error message from its stderr: `msg` of its JSON log lines (runc and crun with
 * `--log-format=json`), or of logrus text lines (`level=error msg="..."`), else the text.
 */
export function runtimeMessage(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith('{')) {
      try {
        const v = JSON.parse(t) as { msg?: unknown; level?: unknown };
        if (typeof v.msg === 'string' && (v.level === undefined || v.level === 'error' || v.level === 'fatal')) msgs.push(v.msg);
        continue;
      } catch {
        // not JSON: taken as text below
      }
    }
    const m = /level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(t);
    if (m) {
      try {
        msgs.push(JSON.parse(`"${m[1]!}"`) as string);
      } catch {
        msgs.push(m[1]!);
      }
      continue;
    }
    msgs.push(t);
  }
  return msgs.join(': ');
}

/** An error from the runtime's create/start, with Docker's kind for it. */
export function createError(stderr: string): EngineError {
  // crun words a missing command differently from runc: Docker's (runc's) words are the ones users know.
  const msg = runtimeMessage(stderr).replace(/^executable file `(.*)` not found in \$PATH: No such file or directory$/, 'exec: "$1": executable file not found in $PATH');
  const lower = msg.toLowerCase();
  if (lower.includes('executable file not found') || lower.includes('no such file or directory')) return new CommandError('notFound', msg);
  if (lower.includes('permission denied')) return new CommandError('notExecutable', msg);
  if (lower.includes('not a directory')) return invalid(msg);
  return internal(msg);
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ');
}
