import type { IncomingMessage } from 'node:http';
import { ApiError, filtersParam, type Client } from '../client/client.js';
import { jsonMessages, JsonStreamError } from '../client/json-stream.js';
import type { ContainerInspect, ContainerSummary } from '../client/types.js';
import { ComposeError, LABEL, type Project, type Service } from './compose.js';
import { imageOf } from './spec.js';

/**
 * What the compose operations are given, and what they share: the project's containers,
 * networks and volumes as the daemon has them (found by Compose's labels, so projects made by
 * docker-compose are found too), images made present (built or pulled), and waits on a
 * container's state and health.
 */

/** Where progress goes (stderr, as Compose writes it) and where output goes (stdout). */
export interface Reporter {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: colours and prefixes may be used. */
  readonly tty: boolean;
}

export interface Deps {
  client: Client;
  reporter: Reporter;
  /** A build context as a tar stream (.dockerignore applied) and the Dockerfile's name in it. */
  contextTar(dir: string, dockerfile: string | undefined): Promise<{ stream: NodeJS.ReadableStream; dockerfile: string }>;
}

/** Compose's progress line: ` Container p-web-1  Started`. */
export function progress(d: Deps, kind: string, name: string, what: string): void {
  d.reporter.err(` ${kind} ${name}  ${what}\n`);
}

export const numberOf = (c: ContainerSummary): number => Number(c.Labels?.[LABEL.number] ?? '0');
export const serviceOf = (c: ContainerSummary): string => c.Labels?.[LABEL.service] ?? '';
export const nameOf = (c: ContainerSummary): string => (c.Names[0] ?? '').replace(/^\//, '');

/** The project's containers (stopped ones too), by number; `oneoff` undefined: service containers and one-off ones. */
export async function projectContainers(d: Deps, project: string, opts: { services?: readonly string[]; oneoff?: boolean } = {}): Promise<ContainerSummary[]> {
  const label = [`${LABEL.project}=${project}`];
  if (opts.oneoff !== undefined) label.push(`${LABEL.oneoff}=${opts.oneoff ? 'True' : 'False'}`);
  const list = await d.client.containerList({ all: true, filters: filtersParam({ label }) });
  return list.filter((c) => !opts.services || opts.services.includes(serviceOf(c))).sort((a, b) => serviceOf(a).localeCompare(serviceOf(b)) || numberOf(a) - numberOf(b));
}

// ---------------------------------------------------------------- networks and volumes

/** Create the project's networks the services use (or check the external ones exist). */
export async function ensureNetworks(d: Deps, p: Project, services: readonly Service[]): Promise<void> {
  const used = new Set(services.flatMap((s) => Object.keys(s.networks)));
  for (const key of [...used].sort()) {
    const n = p.networks[key]!;
    const found = (await d.client.networkList(filtersParam({ name: [n.name] }))).find((x) => x.Name === n.name);
    if (n.external) {
      if (!found) throw new ComposeError(`network ${n.name} declared as external, but could not be found`);
      continue;
    }
    if (found) {
      const labels = (found as { Labels?: Record<string, string> | null }).Labels ?? {};
      if (labels[LABEL.project] !== undefined && labels[LABEL.project] !== p.name) throw new ComposeError(`network ${n.name} belongs to project ${labels[LABEL.project]}`);
      continue;
    }
    await d.client.networkCreate({
      Name: n.name,
      Driver: n.driver ?? 'bridge',
      Internal: n.internal,
      Labels: { ...n.labels, [LABEL.project]: p.name, [LABEL.network]: key },
      Options: n.driver_opts,
      ...(n.ipam?.subnet ? { IPAM: { Driver: 'default', Config: [{ Subnet: n.ipam.subnet, ...(n.ipam.gateway ? { Gateway: n.ipam.gateway } : {}) }] } } : {}),
    });
    progress(d, 'Network', n.name, 'Created');
  }
}

interface VolumeInfo {
  Name: string;
  Labels: Record<string, string> | null;
}

/** Create the named volumes the services use, with Compose's labels (or check the external ones exist). */
export async function ensureVolumes(d: Deps, p: Project, services: readonly Service[]): Promise<void> {
  const used = new Set(services.flatMap((s) => s.volumes.filter((v) => v.type === 'volume' && v.source !== undefined).map((v) => v.source!)));
  for (const key of [...used].sort()) {
    const v = p.volumes[key]!;
    let existing: VolumeInfo | undefined;
    try {
      existing = (await d.client.request<VolumeInfo>('GET', `/volumes/${encodeURIComponent(v.name)}`)).body;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    if (v.external) {
      if (!existing) throw new ComposeError(`external volume "${v.name}" not found`);
      continue;
    }
    if (existing) continue;
    await d.client.request('POST', '/volumes/create', { body: { Name: v.name, Driver: v.driver ?? 'local', DriverOpts: v.driver_opts, Labels: { ...v.labels, [LABEL.project]: p.name, [LABEL.volume]: key } } });
    progress(d, 'Volume', v.name, 'Created');
  }
}

// ---------------------------------------------------------------- images

/** Read a JSON progress stream to its end; an error message in it throws. */
async function drain(stream: IncomingMessage): Promise<void> {
  for await (const _ of jsonMessages(stream)) {
    // progress is not shown: compose prints one line per image
  }
}

export async function imageId(d: Deps, ref: string): Promise<string | undefined> {
  try {
    return (await d.client.imageInspect(ref)).Id;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

export async function pullImage(d: Deps, s: Service, ref: string): Promise<void> {
  progress(d, 'Image', ref, 'Pulling');
  try {
    const at = ref.lastIndexOf(':');
    const hasTag = at > ref.lastIndexOf('/') && !ref.includes('@');
    await drain(await d.client.imagePull(hasTag ? ref.slice(0, at) : ref, { tag: hasTag ? ref.slice(at + 1) : ref.includes('@') ? undefined : 'latest' }));
  } catch (err) {
    if (err instanceof ApiError || err instanceof JsonStreamError) throw new ComposeError(`service "${s.name}": image ${ref} could not be pulled: ${err.message}`);
    throw err;
  }
  progress(d, 'Image', ref, 'Pulled');
}

/** Build a service's image (tagged with `imageOf`), resolving with its ID. */
export async function buildImage(d: Deps, p: Project, s: Service, opts: { noCache?: boolean; pull?: boolean } = {}): Promise<string> {
  const b = s.build!;
  const tag = imageOf(p, s);
  progress(d, 'Service', s.name, 'Building');
  const { stream, dockerfile } = await d.contextTar(b.context, b.dockerfile === undefined ? undefined : b.dockerfile.startsWith('/') ? b.dockerfile : `${b.context}/${b.dockerfile}`);
  const query = {
    t: tag,
    rm: '1',
    dockerfile,
    buildargs: JSON.stringify(b.args),
    labels: JSON.stringify({ ...b.labels, [LABEL.project]: p.name, [LABEL.service]: s.name }),
    target: b.target,
    nocache: opts.noCache,
    pull: opts.pull,
  };
  let id = '';
  let tail = '';
  try {
    const res = await d.client.stream('POST', '/build', { query, body: stream, headers: { 'Content-Type': 'application/x-tar' } });
    for await (const msg of jsonMessages(res)) {
      const aux = (msg as { aux?: { ID?: unknown } }).aux;
      if (typeof aux?.ID === 'string') id = aux.ID;
      const text = (msg as { stream?: unknown }).stream;
      if (typeof text === 'string') tail = (tail + text).slice(-2000);
    }
  } catch (err) {
    if (err instanceof ApiError || err instanceof JsonStreamError) {
      const last = tail.trimEnd().split('\n').slice(-5).join('\n');
      throw new ComposeError(`service "${s.name}" failed to build: ${err.message}${last ? `\n${last}` : ''}`);
    }
    throw err;
  }
  progress(d, 'Service', s.name, 'Built');
  return id || ((await imageId(d, tag)) ?? '');
}

// ---------------------------------------------------------------- waits

export type Readiness = { ok: true } | { ok: false; reason: string };

function healthOf(i: ContainerInspect): { Status: string; Log?: Array<{ Output?: string; ExitCode?: number }> } | undefined {
  return (i.State as { Health?: { Status: string; Log?: Array<{ Output?: string }> } }).Health ?? undefined;
}

/**
 * Wait until a container is what `condition` asks: `running` (running; healthy too when it
 * has a health check and `healthy` is asked), or `completed` (exited 0). Resolves with why
 * not when it can no longer become so (exited, unhealthy, removed), or after `timeoutMs`.
 */
export async function waitFor(d: Deps, id: string, condition: 'running' | 'healthy' | 'completed', timeoutMs = 300_000): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    let info: ContainerInspect;
    try {
      info = await d.client.containerInspect(id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { ok: false, reason: 'the container was removed' };
      throw err;
    }
    const st = info.State;
    const name = info.Name.replace(/^\//, '');
    if (condition === 'completed') {
      if (st.Status === 'exited' || st.Status === 'dead') return st.ExitCode === 0 ? { ok: true } : { ok: false, reason: `container ${name} exited (${st.ExitCode})` };
    } else {
      if (st.Status === 'exited' || st.Status === 'dead') return { ok: false, reason: `container ${name} exited (${st.ExitCode})` };
      const health = healthOf(info);
      if (st.Running && (condition === 'running' || !health)) return { ok: true };
      if (health?.Status === 'healthy') return { ok: true };
      if (health?.Status === 'unhealthy') {
        const last = health.Log?.[health.Log.length - 1]?.Output?.trim();
        return { ok: false, reason: `container ${name} is unhealthy${last ? ` (${last.split('\n')[0]})` : ''}` };
      }
    }
    if (Date.now() > deadline) return { ok: false, reason: `container ${name} was not ready after ${Math.round(timeoutMs / 1000)} s` };
    await new Promise((r) => setTimeout(r, delay));
  }
}
