import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { EngineError, internal, invalid } from '../errors.js';

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
 *   (P: partial line, more follows).
 * - `ctl` accepts `1 <height> <width>\n` (resize the TTY) and `2 0 0\n` (reopen the log).
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
  logPath: string;
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
    '-l', `k8s-file:${o.logPath}`,
    '--log-level', o.logLevel,
    '--conmon-pidfile', o.conmonPidFile,
    '--socket-dir-path', o.bundle,
  ];
  if (o.stdin) args.push('-i');
  if (o.tty) args.push('-t');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);
  return args;
}

/** How long conmon may take to report the runtime's `create`. */
const CREATE_TIMEOUT_MS = 120_000;

/**
 * Spawn conmon and wait for its report of `<runtime> create`. Resolves with the container's
 * PID and the (surviving) conmon's PID; rejects with the runtime's own message when create
 * failed (kind `invalid` for a missing or non-executable command, bad working directory or
 * mount, as Docker answers 400 there; `internal` otherwise).
 */
export async function runConmon(o: ConmonOptions): Promise<{ pid: number; conmonPid: number }> {
  const child = spawn(o.conmonPath, conmonArgs(o), {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
    cwd: o.cwd,
  });
  const stderr = child.stderr as Readable;
  const sync = child.stdio[3] as Readable;
  let stderrText = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (d: string) => {
    if (stderrText.length < 8192) stderrText += d;
  });

  const parentExit = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolve(code ?? (signal ? 128 : 1));
    });
  });

  const report = new Promise<SyncMessage>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      reject(internal(`conmon for ${o.id}: no report from ${o.runtimePath} create after ${CREATE_TIMEOUT_MS / 1000}s`));
    }, CREATE_TIMEOUT_MS);
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(parseSyncMessage(text.slice(0, nl)));
      } catch (err) {
        reject(internal(`conmon for ${o.id}: bad sync message ${JSON.stringify(text.slice(0, nl))}`, err));
      }
    });
    sync.once('end', () => {
      clearTimeout(timer);
      reject(internal(`conmon for ${o.id} ended without a report${stderrText ? `: ${lastLines(stderrText)}` : ''}`));
    });
    sync.once('error', (err) => {
      clearTimeout(timer);
      reject(internal(`conmon for ${o.id}: sync pipe: ${err.message}`, err));
    });
  });

  try {
    const [code, msg] = await Promise.all([
      parentExit,
      report.catch(async (err: unknown) => {
        // A report that never comes is explained by the parent's exit code and stderr.
        const c = await parentExit.catch(() => -1);
        if (c !== 0) throw internal(`conmon for ${o.id} exited with ${c}: ${lastLines(stderrText)}`);
        throw err;
      }),
    ]);
    if (code !== 0) throw internal(`conmon for ${o.id} exited with ${code}: ${lastLines(stderrText)}`);
    if (msg.data < 0) throw createError(msg.message ?? `${o.runtimePath} create failed`);
    const conmonPid = Number((await readFile(o.conmonPidFile, 'utf8')).trim());
    return { pid: msg.data, conmonPid };
  } finally {
    sync.destroy();
    stderr.destroy();
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
  const msg = runtimeMessage(stderr);
  const lower = msg.toLowerCase();
  if (
    lower.includes('executable file not found') ||
    lower.includes('no such file or directory') ||
    lower.includes('permission denied') ||
    lower.includes('not a directory')
  )
    return invalid(msg);
  return internal(msg);
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ');
}
