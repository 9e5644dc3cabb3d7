import { jsonMessages, JsonStreamError } from '../client/json-stream.js';
import { imagePath } from '../client/client.js';
import type { ContainerSummary } from '../client/types.js';
import { ComposeError, LABEL, type Project } from './compose.js';
import { buildImage, nameOf, progress, projectContainers, pullImage, serviceOf, type Deps } from './engine.js';
import { startOrder } from './finish.js';
import { stopContainers } from './down.js';
import { imageOf } from './spec.js';
import { selection } from './up.js';

/** The commands that act on existing containers or on images: start, stop, restart, build, pull, push; and the rows of ps and ls. */

function check(p: Project, services: readonly string[]): void {
  for (const s of services) if (!p.services[s]) throw new ComposeError(`no such service: ${s}`);
}

export async function start(d: Deps, p: Project, services: string[]): Promise<void> {
  check(p, services);
  const all = await projectContainers(d, p.name, { oneoff: false });
  const order = startOrder(p.services, services.length > 0 ? services : undefined);
  for (const name of order) {
    for (const c of all.filter((x) => serviceOf(x) === name && x.State !== 'running')) {
      progress(d, 'Container', nameOf(c), 'Starting');
      await d.client.containerStart(c.Id);
      progress(d, 'Container', nameOf(c), 'Started');
    }
  }
}

export async function stop(d: Deps, p: Project, services: string[], timeout?: number): Promise<void> {
  check(p, services);
  const all = await projectContainers(d, p.name, { oneoff: false, services: services.length > 0 ? services : undefined });
  await stopContainers(d, p, all, timeout);
}

export async function restart(d: Deps, p: Project, services: string[], timeout?: number): Promise<void> {
  check(p, services);
  const all = await projectContainers(d, p.name, { oneoff: false, services: services.length > 0 ? services : undefined });
  for (const name of startOrder(p.services)) {
    await Promise.all(
      all.filter((c) => serviceOf(c) === name).map(async (c) => {
        progress(d, 'Container', nameOf(c), 'Restarting');
        await d.client.containerRestart(c.Id, { timeout: timeout ?? p.services[name]?.stop_grace_period });
        progress(d, 'Container', nameOf(c), 'Started');
      }),
    );
  }
}

/** Build every named service that has a build section (all when none named), in parallel. */
export async function build(d: Deps, p: Project, services: string[], o: { noCache?: boolean; pull?: boolean }): Promise<void> {
  const names = selection(p, services, true).filter((n) => p.services[n]!.build);
  await Promise.all(names.map((n) => buildImage(d, p, p.services[n]!, o)));
}

/** Pull the images of the named services that are not built here. */
export async function pull(d: Deps, p: Project, services: string[], o: { ignoreFailures?: boolean }): Promise<void> {
  const names = selection(p, services, true).filter((n) => p.services[n]!.image && !p.services[n]!.build);
  const results = await Promise.allSettled(names.map((n) => pullImage(d, p.services[n]!, imageOf(p, p.services[n]!))));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0 && !o.ignoreFailures) throw failed[0]!.reason;
  for (const f of failed) d.reporter.err(`WARN ${(f.reason as Error).message}\n`);
}

/** Push the images of the named services that are built here and have an `image` to push to. */
export async function push(d: Deps, p: Project, services: string[], registryAuth: (ref: string) => Promise<string | undefined>): Promise<void> {
  const names = selection(p, services, true).filter((n) => p.services[n]!.build && p.services[n]!.image);
  for (const n of names) {
    const ref = p.services[n]!.image!;
    progress(d, 'Image', ref, 'Pushing');
    const at = ref.lastIndexOf(':');
    const hasTag = at > ref.lastIndexOf('/');
    const auth = await registryAuth(ref);
    try {
      const res = await d.client.stream('POST', `/images/${imagePath(hasTag ? ref.slice(0, at) : ref)}/push`, { query: { tag: hasTag ? ref.slice(at + 1) : 'latest' }, headers: auth ? { 'X-Registry-Auth': auth } : {} });
      for await (const _ of jsonMessages(res)) {
        // one line per image
      }
    } catch (err) {
      if (err instanceof JsonStreamError) throw new ComposeError(`service "${n}": push of ${ref} failed: ${err.message}`);
      throw err;
    }
    progress(d, 'Image', ref, 'Pushed');
  }
}

export interface ProjectRow {
  name: string;
  status: string;
  configFiles: string;
}

/** `ls`: the projects with containers on the daemon, with their states counted as Compose writes them (`running(2), exited(1)`). */
export async function listProjects(d: Deps, all: boolean): Promise<ProjectRow[]> {
  const containers = await d.client.containerList({ all: true, filters: JSON.stringify({ label: { [LABEL.project]: true } }) });
  const byProject = new Map<string, ContainerSummary[]>();
  for (const c of containers) {
    const name = c.Labels?.[LABEL.project] ?? '';
    byProject.set(name, [...(byProject.get(name) ?? []), c]);
  }
  const rows: ProjectRow[] = [];
  for (const [name, list] of [...byProject].sort(([a], [b]) => a.localeCompare(b))) {
    const counts = new Map<string, number>();
    for (const c of list) counts.set(c.State, (counts.get(c.State) ?? 0) + 1);
    if (!all && !counts.has('running')) continue;
    rows.push({ name, status: [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}(${n})`).join(', '), configFiles: list[0]!.Labels?.[LABEL.configFiles] ?? '' });
  }
  return rows;
}
