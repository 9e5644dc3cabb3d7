import { ApiError, filtersParam } from '../client/client.js';
import type { ContainerSummary } from '../client/types.js';
import { LABEL, type Project } from './compose.js';
import { nameOf, progress, projectContainers, serviceOf, type Deps } from './engine.js';
import { startOrder } from './finish.js';
import { imageOf } from './spec.js';

/**
 * `down`: stop and remove the project's containers (dependents first), then its networks;
 * with `volumes` its named volumes (not external ones) and the containers' anonymous ones;
 * with `rmi` the images it built (`local`) or every image it uses (`all`). What is already
 * gone is not an error: `down` twice in a row succeeds.
 */

export interface DownOptions {
  volumes?: boolean;
  rmi?: 'local' | 'all';
  removeOrphans?: boolean;
  timeout?: number;
}

const gone = (err: unknown): boolean => err instanceof ApiError && err.status === 404;

/** Stop containers, dependents before what they depend on (reverse start order). */
export async function stopContainers(d: Deps, p: Project, containers: ContainerSummary[], timeout?: number): Promise<void> {
  const order = startOrder(p.services).reverse();
  const rank = (c: ContainerSummary): number => {
    const i = order.indexOf(serviceOf(c));
    return i < 0 ? -1 : i;
  };
  const levels = new Map<number, ContainerSummary[]>();
  for (const c of containers) levels.set(rank(c), [...(levels.get(rank(c)) ?? []), c]);
  for (const level of [...levels.keys()].sort((a, b) => a - b)) {
    await Promise.all(
      levels.get(level)!.filter((c) => c.State === 'running' || c.State === 'restarting' || c.State === 'paused').map(async (c) => {
        progress(d, 'Container', nameOf(c), 'Stopping');
        try {
          await d.client.containerStop(c.Id, { timeout: timeout ?? p.services[serviceOf(c)]?.stop_grace_period });
        } catch (err) {
          if (!gone(err)) throw err;
        }
        progress(d, 'Container', nameOf(c), 'Stopped');
      }),
    );
  }
}

export async function down(d: Deps, p: Project, o: DownOptions): Promise<void> {
  const all = await projectContainers(d, p.name);
  const known = (c: ContainerSummary): boolean => !!p.services[serviceOf(c)] || p.disabled.includes(serviceOf(c));
  const orphans = all.filter((c) => !known(c));
  if (orphans.length > 0 && !o.removeOrphans) {
    d.reporter.err(`WARN Found orphan containers ([${orphans.map(nameOf).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n`);
  }
  const doomed = o.removeOrphans ? all : all.filter(known);
  await stopContainers(d, p, doomed, o.timeout);
  await Promise.all(
    doomed.map(async (c) => {
      progress(d, 'Container', nameOf(c), 'Removing');
      try {
        await d.client.containerRemove(c.Id, { force: true, volumes: o.volumes });
      } catch (err) {
        if (!gone(err)) throw err;
      }
      progress(d, 'Container', nameOf(c), 'Removed');
    }),
  );
  const nets = await d.client.networkList(filtersParam({ label: [`${LABEL.project}=${p.name}`] }));
  for (const n of nets) {
    const key = (n as { Labels?: Record<string, string> | null }).Labels?.[LABEL.network];
    if (key && p.networks[key]?.external) continue;
    progress(d, 'Network', n.Name, 'Removing');
    try {
      await d.client.networkRemove(n.Id);
    } catch (err) {
      if (!gone(err)) throw err;
    }
    progress(d, 'Network', n.Name, 'Removed');
  }
  if (o.volumes) {
    const res = await d.client.request<{ Volumes: Array<{ Name: string; Labels: Record<string, string> | null }> | null }>('GET', '/volumes', { query: { filters: filtersParam({ label: [`${LABEL.project}=${p.name}`] }) } });
    const declared = new Set(Object.values(p.volumes).filter((v) => !v.external).map((v) => v.name));
    for (const v of res.body.Volumes ?? []) {
      if (!declared.has(v.Name) && !v.Labels?.[LABEL.volume]) continue;
      try {
        await d.client.request('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
      } catch (err) {
        if (!gone(err)) throw err;
      }
      progress(d, 'Volume', v.Name, 'Removed');
    }
  }
  if (o.rmi) {
    const images = new Set(Object.values(p.services).filter((s) => o.rmi === 'all' || (s.build && !s.image)).map((s) => imageOf(p, s)));
    for (const ref of images) {
      try {
        await d.client.imageRemove(ref);
        progress(d, 'Image', ref, 'Removed');
      } catch (err) {
        if (!gone(err)) throw err;
      }
    }
  }
}
