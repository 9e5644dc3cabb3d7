import { invalid } from '../errors.js';
import { matchLabels, type Filters } from '../util/filters.js';
import type { ContainerView } from './containers.js';

/** The filters of `GET /containers/json` (Docker's `docker ps --filter`). */
export const LIST_FILTERS = ['status', 'name', 'id', 'label', 'label!', 'ancestor', 'exited', 'before', 'since', 'network', 'volume', 'health', 'isolation', 'publish', 'expose', 'is-task'];

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const HEALTH = ['starting', 'healthy', 'unhealthy', 'none'];

/** What the filters need from outside the list: image IDs by name, and containers' creation times by reference. */
export interface FilterContext {
  imageIdOf(name: string): Promise<string | undefined>;
  createdOf(ref: string): string;
}

/** The containers of `list` that every filter selects; `invalid` for a filter value Docker refuses. */
export async function filterContainers(list: ContainerView[], f: Filters, ctx: FilterContext): Promise<ContainerView[]> {
  for (const key of f.keys()) if (!LIST_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`);
  const statuses = f.get('status') ?? [];
  for (const s of statuses) if (!STATUSES.includes(s)) throw invalid(`invalid filter 'status=${s}'`);
  const health = f.get('health') ?? [];
  for (const h of health) if (!HEALTH.includes(h)) throw invalid(`Unrecognised filter value for health: ${h}`);
  const ancestors: string[] = [];
  for (const a of f.get('ancestor') ?? []) ancestors.push((await ctx.imageIdOf(a)) ?? a);
  const refTime = (key: string): string | undefined => {
    const v = f.get(key)?.[0];
    return v === undefined ? undefined : ctx.createdOf(v);
  };
  const before = refTime('before');
  const since = refTime('since');
  const names = (f.get('name') ?? []).map((n) => new RegExp(n.replace(/^\//, '')));
  return list.filter((c) => {
    if (statuses.length > 0 && !statuses.includes(c.State.Status)) return false;
    if (names.length > 0 && !names.some((n) => n.test(c.Name))) return false;
    const ids = f.get('id') ?? [];
    if (ids.length > 0 && !ids.some((i) => c.Id.startsWith(i))) return false;
    if (!matchLabels(f, c.Config.Labels)) return false;
    const exited = f.get('exited') ?? [];
    if (exited.length > 0 && !(c.State.Status === 'exited' && exited.includes(String(c.State.ExitCode)))) return false;
    if (ancestors.length > 0 && !ancestors.some((a) => c.Image === a || c.Config.Image === a)) return false;
    if (before !== undefined && c.Created >= before) return false;
    if (since !== undefined && c.Created <= since) return false;
    const networks = f.get('network') ?? [];
    if (networks.length > 0) {
      const mine = [c.HostConfig.NetworkMode ?? '', ...Object.keys(c.NetworkSettings.Networks), ...Object.values(c.NetworkSettings.Networks).map((n) => n.NetworkID)];
      if (!networks.some((n) => mine.some((m) => m === n || (n.length >= 12 && m.startsWith(n))))) return false;
    }
    const exposes = f.get('expose') ?? [];
    if (exposes.length > 0 && !exposes.some((p) => portKey(p) in (c.Config.ExposedPorts ?? {}))) return false;
    const publishes = f.get('publish') ?? [];
    if (publishes.length > 0 && !publishes.some((p) => (c.HostConfig.PortBindings?.[portKey(p)] ?? null) !== null)) return false;
    const volumes = f.get('volume') ?? [];
    if (volumes.length > 0 && !volumes.some((v) => mountNames(c).includes(v))) return false;
    if (health.length > 0 && !health.includes(c.State.Health?.Status ?? 'none')) return false;
    return true;
  });
}

/** The volume names (a bind's source), and the destinations of a container's mounts: what the `volume` filter matches, as Docker's. */
function mountNames(c: ContainerView): string[] {
  return (c.MountPoints ?? []).flatMap((m) => [m.Name || m.Source, m.Destination]);
}

/** `80` → `80/tcp`, as Docker's port filters read it. */
function portKey(p: string): string {
  return p.includes('/') ? p : `${p}/tcp`;
}
