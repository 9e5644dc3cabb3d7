import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { internal } from '../errors.js';
import { controllerPath, type CgroupLayout } from './cgroups.js';
import type { RuntimeState } from './runtime.js';

/**
 * A container's state as `crun state` or `runc state` would give it, read the way they read it
 * (their state file, the kernel's process table, the freezer) without starting the runtime's
 * binary: pierd's start checks every container it finds, and a thousand runtime processes took
 * most of that time.
 *
 * - The runtime's state file names the container's init: its pid and its start time in clock
 *   ticks since boot (crun's `status`: `pid`, `process-start-time`; runc's `state.json`:
 *   `init_process_pid`, `init_process_start`).
 * - A pid that is gone, a zombie, or a process that started at another time (the pid was
 *   reused) is a stopped container.
 * - A live init with the runtime's `exec.fifo` still there has not been started: created.
 * - A frozen cgroup (v1 `freezer.state` FROZEN, v2 `cgroup.freeze` 1) is a paused one.
 *
 * Returns undefined whenever a file it needs is missing or says something else than expected,
 * so that the caller asks the runtime itself. Reads only; never changes anything.
 */
export function kernelState(runtime: string, stateDir: string, layout: CgroupLayout, cgroupsPath: string): RuntimeState | undefined {
  const init = initOf(runtime, stateDir);
  if (!init) return undefined;
  const proc = procStat(init.pid);
  if (!proc || proc.state === 'Z' || proc.state === 'X' || proc.startTime !== init.startTime) return { status: 'stopped', pid: 0 };
  if (existsSync(join(stateDir, 'exec.fifo'))) return { status: 'created', pid: init.pid };
  const frozen = isFrozen(layout, cgroupsPath);
  if (frozen === undefined) return undefined;
  return { status: frozen ? 'paused' : 'running', pid: init.pid };
}

/** The init's pid and start time from the runtime's state file; undefined when unknown. */
function initOf(runtime: string, stateDir: string): { pid: number; startTime: number } | undefined {
  const [file, pidKey, startKey] =
    runtime === 'crun' ? ['status', 'pid', 'process-start-time'] : runtime === 'runc' ? ['state.json', 'init_process_pid', 'init_process_start'] : [];
  if (!file || !pidKey || !startKey) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(readFileSync(join(stateDir, file), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const pid = v[pidKey];
  const start = typeof v[startKey] === 'string' ? Number(v[startKey]) : v[startKey];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || typeof start !== 'number' || !Number.isFinite(start)) return undefined;
  return { pid, startTime: start };
}

/** The state letter and start time (field 22, clock ticks since boot) of /proc/<pid>/stat. */
export function procStat(pid: number): { state: string; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** The state letter and start time of the text of a /proc/<pid>/stat. */
export function parseProcStat(text: string): { state: string; startTime: number } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const startTime = Number(fields[19]);
  if (!fields[0] || !Number.isFinite(startTime)) return undefined;
  return { state: fields[0], startTime };
}

/** Whether the cgroup is frozen; undefined when its freezer cannot be read. */
function isFrozen(layout: CgroupLayout, cgroupsPath: string): boolean | undefined {
  try {
    if (layout.mode === 'v2') return readFileSync(join(controllerPath(layout, '', cgroupsPath), 'cgroup.freeze'), 'utf8').trim() === '1';
    if (!layout.controllers.includes('freezer')) return false;
    const state = readFileSync(join(controllerPath(layout, 'freezer', cgroupsPath), 'freezer.state'), 'utf8').trim();
    return state === 'FROZEN' ? true : state === 'THAWED' ? false : undefined;
  } catch {
    return undefined;
  }
}

/** The answer of `<runtime> state <id>` (`what` names the command in an error). */
export function parseStateOutput(stdout: string, what: string): RuntimeState {
  let v: { status?: unknown; pid?: unknown };
  try {
    v = JSON.parse(stdout) as { status?: unknown; pid?: unknown };
  } catch (err) {
    throw internal(`${what}: bad JSON`, err);
  }
  const known = ['created', 'running', 'paused', 'stopped'] as const;
  const status = known.find((s) => s === v.status) ?? 'unknown';
  return { status, pid: typeof v.pid === 'number' ? v.pid : 0 };
}
