import { ApiError } from '../client/client.js';
import type { ContainerSummary } from '../client/types.js';
import { ComposeError, LABEL, type Project, type Service } from './compose.js';
import { buildImage, ensureNetworks, ensureVolumes, imageId, nameOf, numberOf, progress, projectContainers, pullImage, serviceOf, waitFor, type Deps } from './engine.js';
import { startOrder } from './finish.js';
import { configHash } from './render.js';
import { replace } from './rolling.js';
import { containerBody, containerName, imageOf } from './spec.js';

/**
 * `up`: make the daemon's containers what the model says, service by service in dependency
 * order. Images are made present first (built or pulled), for every service concerned,
 * before any container is touched: an image that cannot be had stops `up` with nothing
 * removed. A container whose config hash or image changed is replaced (`rolling.ts`), the
 * others are kept as they are (started if stopped); replicas are added or removed to match.
 */

export interface UpOptions {
  /** Services named on the command line (all when empty). */
  services: string[];
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  build?: boolean;
  noBuild?: boolean;
  /** `--scale svc=N`. */
  scale: Record<string, number>;
  wait?: boolean;
  waitTimeoutMs?: number;
  removeOrphans?: boolean;
  noStart?: boolean;
}

/** The services `services` names (all when empty), with what they depend on unless `noDeps`. */
export function selection(p: Project, services: readonly string[], noDeps = false): string[] {
  for (const s of services) if (!p.services[s]) throw new ComposeError(`no such service: ${s}`);
  if (services.length === 0) return startOrder(p.services);
  return noDeps ? startOrder(p.services).filter((n) => services.includes(n)) : startOrder(p.services, services);
}

/** Make each service's image present; resolves with the image IDs by service. */
export async function prepareImages(d: Deps, p: Project, names: readonly string[], o: { build?: boolean; noBuild?: boolean }): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const toBuild: Service[] = [];
  for (const name of names) {
    const s = p.services[name]!;
    const ref = imageOf(p, s);
    const id = await imageId(d, ref);
    if (s.build && (o.build || (!id && !o.noBuild))) toBuild.push(s);
    else if (id && s.pull_policy !== 'always') ids.set(name, id);
    else if (s.build && !s.image) throw new ComposeError(`service "${name}": image ${ref} not built (run without --no-build)`);
    else if (s.pull_policy === 'never') throw new ComposeError(`service "${name}": image ${ref} is not present and pull_policy is never`);
    else {
      await pullImage(d, s, ref);
      ids.set(name, (await imageId(d, ref)) ?? '');
    }
  }
  // services are built in parallel, as `compose build` does
  const built = await Promise.all(toBuild.map(async (s) => [s.name, await buildImage(d, p, s)] as const));
  for (const [name, id] of built) ids.set(name, id);
  return ids;
}

export async function up(d: Deps, p: Project, o: UpOptions): Promise<void> {
  const names = selection(p, o.services, o.noDeps);
  const services = names.map((n) => p.services[n]!);
  const images = await prepareImages(d, p, names, o);
  const existing = await projectContainers(d, p.name, { oneoff: false });
  const orphans = existing.filter((c) => !p.services[serviceOf(c)] && !p.disabled.includes(serviceOf(c)));
  if (orphans.length > 0 && !o.removeOrphans) {
    d.reporter.err(`WARN Found orphan containers ([${orphans.map(nameOf).join(' ')}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n`);
  }
  await ensureNetworks(d, p, services);
  await ensureVolumes(d, p, services);
  for (const c of o.removeOrphans ? orphans : []) {
    progress(d, 'Container', nameOf(c), 'Removing');
    await d.client.containerRemove(c.Id, { force: true });
    progress(d, 'Container', nameOf(c), 'Removed');
  }
  for (const s of services) {
    await waitForDependencies(d, p, s, o.noDeps ? names : undefined);
    await converge(d, p, s, images.get(s.name) ?? '', o, existing.filter((c) => serviceOf(c) === s.name));
  }
  if (o.wait) {
    for (const s of services) {
      for (const c of await projectContainers(d, p.name, { services: [s.name], oneoff: false })) {
        const r = await waitFor(d, c.Id, 'healthy', o.waitTimeoutMs);
        if (!r.ok) throw new ComposeError(`service "${s.name}" is not ready: ${r.reason}`);
        progress(d, 'Container', nameOf(c), 'Healthy');
      }
    }
  }
}

/** Wait for what `s` depends on to be as its conditions ask (only those in `among`, when given). */
async function waitForDependencies(d: Deps, p: Project, s: Service, among?: readonly string[]): Promise<void> {
  for (const [dep, spec] of Object.entries(s.depends_on)) {
    if (among && !among.includes(dep)) continue;
    const containers = await projectContainers(d, p.name, { services: [dep], oneoff: false });
    if (containers.length === 0 && spec.required && !among) throw new ComposeError(`service "${s.name}" depends on "${dep}", which has no container`);
    for (const c of containers) {
      const condition = spec.condition === 'service_healthy' ? 'healthy' : spec.condition === 'service_completed_successfully' ? 'completed' : 'running';
      if (condition === 'running') continue;
      progress(d, 'Container', nameOf(c), 'Waiting');
      const r = await waitFor(d, c.Id, condition);
      if (!r.ok) throw new ComposeError(`dependency failed to start: ${r.reason}`);
      progress(d, 'Container', nameOf(c), condition === 'healthy' ? 'Healthy' : 'Exited');
    }
  }
}

/** The container of `network_mode: service:x`'s x (its first replica). */
async function networkContainer(d: Deps, p: Project, s: Service): Promise<string | undefined> {
  if (!s.network_mode?.startsWith('service:')) return undefined;
  const target = s.network_mode.slice('service:'.length);
  const c = (await projectContainers(d, p.name, { services: [target], oneoff: false }))[0];
  if (!c) throw new ComposeError(`service "${s.name}" uses the network stack of "${target}", which has no container`);
  return c.Id;
}

/** Create and start (unless `noStart`) replica `n` of `s`. */
export async function createReplica(d: Deps, p: Project, s: Service, n: number, image: string, opts: { name?: string; noStart?: boolean } = {}): Promise<string> {
  const body = containerBody(p, s, { number: n, imageId: image, networkContainer: await networkContainer(d, p, s) });
  const name = opts.name ?? containerName(p, s, n);
  progress(d, 'Container', name, 'Creating');
  let id: string;
  try {
    id = (await d.client.containerCreate(body, { name })).Id;
  } catch (err) {
    if (err instanceof ApiError) throw new ComposeError(`service "${s.name}": cannot create ${name}: ${err.message}`);
    throw err;
  }
  progress(d, 'Container', name, 'Created');
  if (!opts.noStart) {
    progress(d, 'Container', name, 'Starting');
    try {
      await d.client.containerStart(id);
    } catch (err) {
      if (err instanceof ApiError) throw new ComposeError(`service "${s.name}": cannot start ${name}: ${err.message}`);
      throw err;
    }
    progress(d, 'Container', name, 'Started');
  }
  return id;
}

async function converge(d: Deps, p: Project, s: Service, image: string, o: UpOptions, current: ContainerSummary[]): Promise<void> {
  const want = o.scale[s.name] ?? s.deploy.replicas ?? 1;
  const hash = configHash(s);
  const keep = current.filter((c) => numberOf(c) >= 1 && numberOf(c) <= want);
  const extra = current.filter((c) => !keep.includes(c)).sort((a, b) => numberOf(b) - numberOf(a));
  for (const c of extra) {
    progress(d, 'Container', nameOf(c), 'Stopping');
    await d.client.containerStop(c.Id, { timeout: s.stop_grace_period });
    await d.client.containerRemove(c.Id, { force: true });
    progress(d, 'Container', nameOf(c), 'Removed');
  }
  const outdated = (c: ContainerSummary): boolean =>
    !o.noRecreate && (o.forceRecreate || c.Labels?.[LABEL.configHash] !== hash || (image !== '' && c.Labels?.[LABEL.image] !== undefined && c.Labels[LABEL.image] !== image));
  const stale = keep.filter(outdated);
  if (stale.length > 0 && !o.noStart) await replace(d, p, s, image, stale);
  for (const c of keep.filter((x) => !stale.includes(x))) {
    if (c.State === 'running' || o.noStart) {
      progress(d, 'Container', nameOf(c), 'Running');
      continue;
    }
    progress(d, 'Container', nameOf(c), 'Starting');
    await d.client.containerStart(c.Id);
    progress(d, 'Container', nameOf(c), 'Started');
  }
  const taken = new Set(keep.map(numberOf));
  for (let n = 1; n <= want; n++) if (!taken.has(n)) await createReplica(d, p, s, n, image, { noStart: o.noStart });
}
