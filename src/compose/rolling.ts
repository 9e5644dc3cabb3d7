import { ApiError } from '../client/client.js';
import type { ContainerSummary } from '../client/types.js';
import { ComposeError, type Project, type Service } from './compose.js';
import { nameOf, numberOf, progress, waitFor, type Deps } from './engine.js';
import { containerName } from './spec.js';
import { createReplica } from './up.js';

/**
 * Replace a service's outdated containers, `deploy.update_config.parallelism` at a time,
 * `delay` between batches, in the order the service asks:
 *
 * - `stop-first` (Compose's way): the old container is stopped and removed, then its
 *   successor created and started under the same name.
 * - `start-first`: the successor is created under a temporary name and started, and waited
 *   for: healthy when it has a health check (its own or its image's), else running. Only then
 *   does the old container leave its networks (its peers' hosts files stop naming it, so the
 *   service's name no longer resolves to it), is stopped and removed, and the successor takes
 *   its name. A successor that does not become ready is removed and the update stops there:
 *   the replicas not yet replaced keep serving, and the error says so.
 */
export async function replace(d: Deps, p: Project, s: Service, image: string, stale: ContainerSummary[]): Promise<void> {
  const { parallelism, delay, order } = s.deploy.update_config;
  const batches: ContainerSummary[][] = [];
  for (let i = 0; i < stale.length; i += parallelism) batches.push(stale.slice(i, i + parallelism));
  let done = 0;
  for (const [i, batch] of batches.entries()) {
    if (i > 0 && delay > 0) await new Promise((r) => setTimeout(r, delay / 1e6));
    if (order === 'start-first') {
      const results = await Promise.allSettled(batch.map((old) => startFirst(d, p, s, image, old)));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      done += results.length - failed.length;
      if (failed.length > 0) {
        const reasons = failed.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('; ');
        throw new ComposeError(`service "${s.name}": update stopped: ${reasons}; ${done} of ${stale.length} replicas updated, ${stale.length - done} still run the previous version`);
      }
    } else {
      for (const old of batch) await stopFirst(d, p, s, image, old);
      done += batch.length;
    }
  }
}

async function stopFirst(d: Deps, p: Project, s: Service, image: string, old: ContainerSummary): Promise<void> {
  const name = nameOf(old);
  progress(d, 'Container', name, 'Recreate');
  await d.client.containerStop(old.Id, { timeout: s.stop_grace_period });
  await d.client.containerRemove(old.Id, { force: true });
  await createReplica(d, p, s, numberOf(old), image);
  progress(d, 'Container', name, 'Recreated');
}

async function startFirst(d: Deps, p: Project, s: Service, image: string, old: ContainerSummary): Promise<void> {
  const n = numberOf(old);
  const name = containerName(p, s, n);
  const temp = `${old.Id.slice(0, 12)}_${name}`;
  const id = await createReplica(d, p, s, n, image, { name: temp });
  progress(d, 'Container', temp, 'Waiting');
  const ready = await waitFor(d, id, 'healthy');
  if (!ready.ok) {
    progress(d, 'Container', temp, 'Removing');
    await d.client.containerRemove(id, { force: true });
    progress(d, 'Container', temp, 'Removed');
    throw new ComposeError(`the successor of ${name} did not become ready: ${ready.reason}; it was removed and ${name} keeps serving`);
  }
  progress(d, 'Container', temp, 'Healthy');
  // Leave the networks first: peers stop resolving the service's name to the old replica
  // before it stops answering.
  const info = await d.client.containerInspect(old.Id);
  const networks = Object.keys(((info.NetworkSettings as { Networks?: Record<string, unknown> } | undefined)?.Networks) ?? {});
  for (const net of networks) {
    try {
      await d.client.networkDisconnect(net, old.Id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  progress(d, 'Container', name, 'Stopping');
  await d.client.containerStop(old.Id, { timeout: s.stop_grace_period });
  await d.client.containerRemove(old.Id, { force: true });
  progress(d, 'Container', name, 'Removed');
  await d.client.containerRename(id, name);
  progress(d, 'Container', name, 'Replaced');
}
