import { closeSync, openSync, readFileSync, write } from 'node:fs';
import { join } from 'node:path';
import { log } from '../log.js';
import { controllerPath, type CgroupLayout } from './cgroups.js';

/**
 * Keeps the kernel's cgroup migration lock warm while runtimes put new processes into cgroups.
 *
 * Moving a process into a cgroup (a write to `cgroup.procs`, which runc does for every
 * container's init and every exec) takes the kernel's global `cgroup_threadgroup_rwsem` for
 * writing. Unless the hierarchy is mounted with `favordynmods`, the first writer after a quiet
 * while waits for an RCU grace period, on the path of every container start. Writers that follow within a grace period of the last one do
 * not wait. So while a runtime is creating a container, pierd rewrites its own PID into its own
 * cgroup (a migration that moves nothing) every few milliseconds on a thread of the pool: the
 * first of those writes waits for the grace period side by side with conmon's and runc's
 * start-up, and runc's own write then finds the lock warm. Between container starts nothing
 * is written, and the lock's fast path for fork and exit is back.
 *
 * `PIER_CGROUP_WARM=0` turns it off. Any failure (no such file, permission) turns it off for
 * the daemon's lifetime: it is a speed-up, never a requirement.
 */
export class MigrationWarmer {
  private holders = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private fd: number | undefined;
  private off: boolean;
  private readonly pid = Buffer.from(String(process.pid));

  /** `procsPath`: the `cgroup.procs` of the cgroup pierd is in; undefined turns it off. */
  constructor(
    private readonly procsPath: string | undefined,
    private readonly periodMs = 3,
  ) {
    this.off = procsPath === undefined;
  }

  /** Warm while held: call when a runtime starts to put a process into cgroups; call the result when it is done. */
  hold(): () => void {
    if (this.off) return () => undefined;
    this.holders++;
    if (this.holders === 1) {
      this.kick();
      this.timer = setInterval(() => this.kick(), this.periodMs);
      this.timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Whether warming is on (false once a write failed). */
  get enabled(): boolean {
    return !this.off;
  }

  private kick(): void {
    if (this.off || this.writing) return;
    try {
      this.fd ??= openSync(this.procsPath!, 'w');
    } catch (err) {
      this.disable(err);
      return;
    }
    this.writing = true;
    const fd = this.fd;
    write(fd, this.pid, (err) => {
      this.writing = false;
      if (err) this.disable(err);
    });
  }

  private disable(err: unknown): void {
    if (this.off) return;
    this.off = true;
    clearInterval(this.timer);
    log.debug({ err, path: this.procsPath }, 'cgroup migration warming off');
    // Never during a write: called when opening failed or from a write's callback.
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The `cgroup.procs` of the cgroup this process is in, in one hierarchy of `layout` (the
 * unified one on v2; a v1 one otherwise: all share the lock). `procSelfCgroup`: the text of
 * /proc/self/cgroup. Undefined when none can be found.
 */
export function ownProcsPath(layout: CgroupLayout, procSelfCgroup: string): string | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , controllers, path] = m as unknown as [string, string, string, string];
    if (layout.mode === 'v2') {
      if (controllers === '') return join(controllerPath(layout, '', path), 'cgroup.procs');
      continue;
    }
    const controller = controllers.split(',').find((c) => layout.controllers.includes(c));
    if (controller) return join(controllerPath(layout, controller, path), 'cgroup.procs');
  }
  return undefined;
}

/** The warmer for this daemon on `layout` (off with PIER_CGROUP_WARM=0). */
export function daemonMigrationWarmer(layout: CgroupLayout): MigrationWarmer {
  if (process.env.PIER_CGROUP_WARM === '0') return new MigrationWarmer(undefined);
  let text: string;
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return new MigrationWarmer(undefined);
  }
  return new MigrationWarmer(ownProcsPath(layout, text));
}
