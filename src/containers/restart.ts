import { log } from '../log.js';
import type { ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';

/**
 * Restart policies, as Docker applies them (moby `restartmanager`):
 *
 * - `no` (or none): never; `on-failure[:N]`: after a non-zero exit, at most N times (N = 0: no
 *   limit); `always` and `unless-stopped`: after every exit.
 * - A stop, kill or restart by a user cancels the policy for that exit.
 * - When pierd starts, a container that had run and is stopped is started again by `always`
 *   even if a user stopped it, by `unless-stopped` only if no user did, by `on-failure` if its
 *   last exit failed and retries are left.
 * - Back-off between restarts: 100 ms, doubling with each restart, at most a minute; back to
 *   100 ms once the container had run for 10 s.
 */
export class RestartPolicies {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly core: ContainerCore,
    /** Start the container again (the lifecycle's start under the lock). */
    private readonly startAgain: (rec: ContainerRecord) => Promise<void>,
  ) {}

  /** Whether the policy restarts the container after the exit its record shows. */
  shouldRestart(rec: ContainerRecord): boolean {
    if (rec.State.StoppedByUser) return false;
    return policyAllows(rec);
  }

  /** Whether the policy starts this stopped container when pierd starts. */
  shouldStartOnBoot(rec: ContainerRecord): boolean {
    if (rec.State.StartedAt.startsWith('0001-')) return false;
    const name = rec.HostConfig.RestartPolicy?.Name ?? '';
    if (name === 'always') return true;
    return !rec.State.StoppedByUser && policyAllows(rec);
  }

  /** Mark the container `restarting` and start it after the back-off (the caller saves the record). */
  schedule(rec: ContainerRecord): void {
    const ranMs = Date.parse(rec.State.FinishedAt) - Date.parse(rec.State.StartedAt);
    const attempt = ranMs > 10_000 ? 0 : Math.min(rec.RestartCount, 10);
    const delay = Math.min(100 * 2 ** attempt, 60_000);
    rec.State.Status = 'restarting';
    this.cancel(rec.Id);
    const timer = setTimeout(() => {
      this.timers.delete(rec.Id);
      this.core
        .locked(rec, async () => {
          if (rec.State.Status !== 'restarting' || !this.core.current(rec)) return;
          rec.RestartCount++;
          await this.startAgain(rec);
          this.core.emit('restart', rec);
        })
        .catch((err: unknown) => log.error({ err, id: rec.Id }, 'restart by policy failed'));
    }, delay);
    timer.unref();
    this.timers.set(rec.Id, timer);
  }

  /** Forget a pending restart (a user's stop, start or removal). */
  cancel(id: string): void {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
  }

  shutdown(): void {
    for (const id of [...this.timers.keys()]) this.cancel(id);
  }
}

function policyAllows(rec: ContainerRecord): boolean {
  const policy = rec.HostConfig.RestartPolicy;
  switch (policy?.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return rec.State.ExitCode !== 0 && (policy.MaximumRetryCount === 0 || rec.RestartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}
