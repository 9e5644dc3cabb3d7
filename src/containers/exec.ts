import { randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { CommandError, type ContainerRuntime, type ExecSession } from '../runtime/runtime.js';
import type { ContainerExec, ExecConfig, ExecInspect, ExecStarted } from './containers.js';
import type { ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';

/** How long a finished exec stays inspectable (Docker clients read its exit code after the stream ends). */
const KEEP_FINISHED_MS = 10 * 60_000;

interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  /** Set once started (an exec starts at most once). */
  session?: ExecSession;
  starting: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

/**
 * `docker exec`: a process started in a running container, under a conmon of its own
 * (runtime.exec). Exec instances live in memory, as Docker's do: created, started once, then
 * kept a while after their end so that clients can read the exit code; all of a container's
 * go with it. Events: `exec_create: <cmd>`, `exec_start: <cmd>`, `exec_die` (with `exitCode`).
 */
export class Execs implements ContainerExec {
  private readonly execs = new Map<string, ExecRecord>();

  constructor(
    private readonly core: ContainerCore,
    private readonly runtime: ContainerRuntime,
  ) {}

  createExec(ref: string, config: ExecConfig): Promise<{ Id: string }> {
    const rec = this.core.store.get(ref);
    if (!config.Cmd || config.Cmd.length === 0) return Promise.reject(invalid('No exec command specified'));
    checkRunning(rec);
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, { id, containerId: rec.Id, config, starting: false, running: false, exitCode: null, pid: 0 });
    this.core.emit(`exec_create: ${config.Cmd.join(' ')}`, rec, { execID: id });
    return Promise.resolve({ Id: id });
  }

  async startExec(execId: string, opts: { detach: boolean; consoleSize?: [number, number] | null }): Promise<ExecStarted> {
    const ex = this.record(execId);
    if (ex.starting || ex.session) throw conflict(`Error: Exec command ${execId} has already run`);
    const rec = this.core.store.get(ex.containerId);
    checkRunning(rec);
    if (!this.runtime.exec) throw conflict('this runtime cannot exec');
    const tty = ex.config.Tty ?? false;
    const attach = !opts.detach && !!(ex.config.AttachStdin || ex.config.AttachStdout || ex.config.AttachStderr);
    ex.starting = true;
    let session: ExecSession;
    try {
      session = await this.runtime.exec(rec.Id, {
        args: ex.config.Cmd,
        env: mergeEnv(rec.Config.Env, ex.config.Env ?? []),
        cwd: ex.config.WorkingDir || rec.Config.WorkingDir || '',
        user: ex.config.User || '',
        tty,
        openStdin: attach && !!ex.config.AttachStdin,
        attach,
        privileged: ex.config.Privileged ?? false,
      });
    } catch (err) {
      // Started and failed, as Docker records it: 127 or 126 for a command that cannot run.
      ex.exitCode = err instanceof CommandError ? err.exitCode : 126;
      this.core.emit('exec_die', rec, { execID: execId, exitCode: String(ex.exitCode) });
      setTimeout(() => this.execs.delete(execId), KEEP_FINISHED_MS).unref();
      throw err;
    }
    ex.session = session;
    ex.running = true;
    ex.pid = session.pid;
    const size = opts.consoleSize ?? ex.config.ConsoleSize;
    if (tty && size && size[0] > 0 && size[1] > 0) {
      session.resize(size[0], size[1]).catch((err: unknown) => log.debug({ err, exec: execId }, 'initial exec resize'));
    }
    this.core.emit(`exec_start: ${ex.config.Cmd.join(' ')}`, rec, { execID: execId });
    const exited = session.exited.then((result) => {
      if (result.error) log.warn({ exec: execId, container: rec.Id, error: result.error }, 'exec ended without an exit code');
      ex.running = false;
      ex.exitCode = result.exitCode;
      this.core.emit('exec_die', rec, { execID: execId, exitCode: String(result.exitCode) });
      setTimeout(() => this.execs.delete(execId), KEEP_FINISHED_MS).unref();
      return result.exitCode;
    });
    return { tty, streams: session.streams, exited };
  }

  async resizeExec(execId: string, height: number, width: number): Promise<void> {
    const ex = this.record(execId);
    if (!ex.session || !ex.running) throw conflict(`Exec ${execId} is not running`);
    await ex.session.resize(height, width);
  }

  inspectExec(execId: string): ExecInspect {
    const ex = this.record(execId);
    const rec = this.core.store.find(ex.containerId);
    const [entrypoint = '', ...args] = ex.config.Cmd;
    return {
      ID: ex.id,
      Running: ex.running,
      ExitCode: ex.exitCode,
      ProcessConfig: { tty: ex.config.Tty ?? false, entrypoint, arguments: args, privileged: ex.config.Privileged ?? false, user: ex.config.User ?? '' },
      OpenStdin: ex.config.AttachStdin ?? false,
      OpenStderr: ex.config.AttachStderr ?? false,
      OpenStdout: ex.config.AttachStdout ?? false,
      CanRemove: !ex.running,
      ContainerID: rec?.Id ?? ex.containerId,
      DetachKeys: ex.config.DetachKeys ?? '',
      Pid: ex.pid,
    };
  }

  /** The exec sessions of a container (inspect's ExecIDs): null when there is none. */
  idsOf(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
    return ids.length > 0 ? ids : null;
  }

  /** A container is gone: so are its exec instances. */
  forget(containerId: string): void {
    for (const [id, e] of this.execs) if (e.containerId === containerId) this.execs.delete(id);
  }

  private record(execId: string): ExecRecord {
    const ex = this.execs.get(execId);
    if (!ex) throw notFound(`No such exec instance: ${execId}`);
    return ex;
  }
}

function checkRunning(rec: ContainerRecord): void {
  if (rec.State.Status === 'paused') throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
  if (rec.State.Status !== 'running') throw conflict(`Container ${rec.Id} is not running`);
}

/** The container's environment, then the exec's: a name given again takes the later value. */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const env = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const i = e.indexOf('=');
    env.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...env.values()];
}
