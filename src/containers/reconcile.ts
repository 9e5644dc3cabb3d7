import { log } from '../log.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { ContainerCore } from './core.js';
import type { Lifecycle } from './lifecycle.js';
import type { ContainerRecord } from './types.js';

const RECONCILE_CONCURRENCY = 8;

/**
 * What pierd does with the containers it finds when it starts (its containers kept running
 * under conmon while it was away):
 *
 * - a container the runtime still runs gets its exit watched again;
 * - one that exited meanwhile gets its exit recorded, and what follows an exit (its release,
 *   its restart policy, its auto-removal) happens as if pierd had seen it;
 * - a removal that pierd's end interrupted is finished;
 * - a stopped container that its restart policy starts at boot is started;
 * - runtime state that no container record explains is removed.
 *
 * Never rejects: a container that cannot be reconciled is logged and left as it is.
 */
export async function reconcile(core: ContainerCore, runtime: ContainerRuntime, lifecycle: Lifecycle): Promise<void> {
  const boot: ContainerRecord[] = [];
  // A few at a time: each is mostly waiting (a state read, a record saved, an exit recorded),
  // and a thousand of them one by one kept the API answering late.
  const queue = core.store.all();
  const worker = async (): Promise<void> => {
    for (let rec = queue.shift(); rec; rec = queue.shift()) {
      const r = rec;
      await core.locked(r, () => reconcileOne(r)).catch((err: unknown) => log.error({ err, id: r.Id }, 'reconcile failed'));
    }
  };
  await Promise.all(Array.from({ length: RECONCILE_CONCURRENCY }, worker));
  await runtime.removeLeftovers(new Set(core.store.all().map((r) => r.Id))).catch((err: unknown) => log.warn({ err }, 'removing leftover runtime state'));
  for (const rec of boot) {
    core
      .locked(rec, async () => {
        if (!core.current(rec) || (rec.State.Status !== 'exited' && rec.State.Status !== 'created')) return;
        log.info({ id: rec.Id, policy: rec.HostConfig.RestartPolicy?.Name }, 'starting a container by its restart policy');
        // Started again: a user's earlier stop no longer holds its policy back.
        rec.State.StoppedByUser = false;
        await lifecycle.startLocked(rec);
      })
      .catch((err: unknown) => log.error({ err, id: rec.Id }, 'starting a container by its restart policy failed'));
  }

  async function reconcileOne(rec: ContainerRecord): Promise<void> {
    const status = rec.State.Status;
    if (status === 'removing') {
      // A removal that the daemon's end interrupted: finish it.
      await lifecycle.removeLocked(rec, false);
      return;
    }
    if (status === 'restarting') {
      // Its restart timer died with pierd: the policy decides again, as at any boot.
      rec.State.Status = 'exited';
      await core.store.save(rec);
    } else if (status === 'running' || status === 'paused') {
      const state = await runtime.state(rec.Id).catch(() => ({ status: 'unknown' as const, pid: 0 }));
      if (state.status === 'running' || state.status === 'paused') {
        log.info({ id: rec.Id, pid: state.pid }, 'container still running: watching it again');
        rec.State.Status = state.status;
        lifecycle.watchExit(rec);
        core.started(rec);
        return;
      }
      const exit = (await runtime.exitStatus(rec.Id).catch(() => undefined)) ?? { exitCode: 255, finishedAt: new Date(), oomKilled: false };
      log.info({ id: rec.Id, exitCode: exit.exitCode }, 'container exited while pierd was down');
      // Its exit (and the restart policy) is handled as if seen live, once this lock is free.
      lifecycle.recordExit(rec, exit);
      return;
    }
    if (lifecycle.restarts.shouldStartOnBoot(rec)) boot.push(rec);
  }
}
