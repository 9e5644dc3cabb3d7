import { join } from 'node:path';
import { compareVersions } from '../api/streams.js';
import { invalid } from '../errors.js';
import type { Image, ListOptions } from './images.js';
import { familiarMatch, parseReference } from './reference.js';
import type { LocalImageService } from './store.js';
import { matchLabels, untilFilter } from '../util/filters.js';
import type { HistoryResponseItem, ImageConfig, ImageInspect, ImageSummary } from './types.js';

/** Docker's wire shapes of one image: inspect, history, and the list summaries. */

/** Unix seconds of an RFC3339 time; 0 when absent or unparsable. */
export function unixSeconds(time: string | undefined): number {
  if (!time) return 0;
  const t = Date.parse(time);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/** `GET /images/{name}/history`: newest first; IDs along the local parent chain, `<missing>` beyond. */
export async function historyOf(svc: LocalImageService, image: Image): Promise<HistoryResponseItem[]> {
  const cfg = await svc.config(image);
  const items: HistoryResponseItem[] = [];
  let layer = 0;
  for (const h of cfg.history ?? []) {
    let size = 0;
    if (!h.empty_layer) {
      size = image.layerSizes[layer] ?? 0;
      layer++;
    }
    items.unshift({ Id: '<missing>', Created: unixSeconds(h.created), CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' });
  }
  let current: Image | undefined = image;
  for (const item of items) {
    if (!current) break;
    item.Id = current.id;
    item.Tags = current.repoTags.length > 0 ? current.repoTags : null;
    if (current.parent === '') break;
    current = await svc.get(current.parent).catch(() => undefined);
  }
  return items;
}

const OCI_CONFIG_FIELDS = [
  'User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell',
] as const;

/**
 * The `Config` of image inspect. API 1.50+ shows the OCI fields that are set; older APIs
 * show Docker's container config shape with its empty defaults.
 */
export function inspectConfig(cfg: ImageConfig | null | undefined, apiVersion: string): Record<string, unknown> {
  const c: ImageConfig = cfg ?? {};
  const out: Record<string, unknown> = {};
  if (compareVersions(apiVersion, '1.50') >= 0) {
    for (const k of OCI_CONFIG_FIELDS) {
      const v = c[k];
      if (v === undefined || v === null || v === '' || v === false) continue;
      if (Array.isArray(v) && v.length === 0 && k !== 'Cmd' && k !== 'Entrypoint') continue;
      if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
      out[k] = v;
    }
    return out;
  }
  Object.assign(out, {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  });
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length > 0) out.ExposedPorts = c.ExposedPorts;
  Object.assign(out, { Tty: false, OpenStdin: false, StdinOnce: false, Env: c.Env ?? null, Cmd: c.Cmd ?? null });
  if (c.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c.ArgsEscaped) out.ArgsEscaped = true;
  Object.assign(out, {
    Image: '',
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
  });
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.Shell?.length) out.Shell = c.Shell;
  return out;
}

/** `GET /images/{name}/json`. */
export async function inspectOf(svc: LocalImageService, image: Image, apiVersion: string): Promise<ImageInspect> {
  const cfg = await svc.config(image);
  const chains = image.chainIds;
  let data: Record<string, string> | null = null;
  const top = chains.at(-1);
  if (top !== undefined) {
    const dir = svc.snapshotDir(top);
    data = {};
    const lowers = chains.slice(0, -1).reverse().map((c) => join(svc.snapshotDir(c), 'fs'));
    if (lowers.length > 0) data.LowerDir = lowers.join(':');
    Object.assign(data, { MergedDir: join(dir, 'merged'), UpperDir: join(dir, 'fs'), WorkDir: join(dir, 'work') });
  }
  const out: ImageInspect = {
    Id: image.id,
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Parent: image.parent,
    Comment: cfg.comment ?? '',
    Author: cfg.author ?? '',
    Config: inspectConfig(cfg.config, apiVersion),
    Architecture: cfg.architecture,
    Os: cfg.os,
    Size: image.size,
    GraphDriver: { Name: 'overlay2', Data: data },
    RootFS: { Type: 'layers', Layers: image.diffIds },
    Metadata: { LastTagTime: image.lastTagTime || '0001-01-01T00:00:00Z' },
  };
  if (cfg.created) out.Created = cfg.created;
  if (cfg.docker_version) out.DockerVersion = cfg.docker_version;
  if (cfg.variant) out.Variant = cfg.variant;
  if (cfg['os.version']) out.OsVersion = cfg['os.version'];
  if (compareVersions(apiVersion, '1.44') < 0) out.VirtualSize = image.size;
  if (compareVersions(apiVersion, '1.45') < 0) {
    // Fields of the classic builder, removed in API 1.45: empty for images pier makes.
    out.Container = '';
    out.ContainerConfig = inspectConfig({}, apiVersion);
    out.DockerVersion = cfg.docker_version ?? '';
  }
  // Keep Docker's key order: Created and DockerVersion come right after Comment.
  return orderKeys(out, ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Variant', 'Os', 'OsVersion', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata']);
}

function orderKeys<T extends object>(obj: T, order: readonly string[]): T {
  const out: Record<string, unknown> = {};
  const src = obj as Record<string, unknown>;
  for (const k of order) if (k in src) out[k] = src[k];
  for (const k of Object.keys(src)) if (!(k in out)) out[k] = src[k];
  return out as T;
}

const LIST_FILTERS = ['before', 'since', 'reference', 'dangling', 'label', 'label!', 'until'];

/** `GET /images/json` (Docker's Images(): filters, dangling rules, newest first). */
export async function summariesOf(svc: LocalImageService, opts: ListOptions): Promise<ImageSummary[]> {
  const filters = opts.filters ?? new Map<string, string[]>();
  for (const key of filters.keys()) if (!LIST_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`);
  const apiVersion = opts.apiVersion ?? '1.51';
  let danglingOnly = false;
  const dangling = filters.get('dangling');
  if (dangling !== undefined) {
    if (dangling.length === 1 && ['true', '1'].includes(dangling[0]!.toLowerCase())) danglingOnly = true;
    else if (!(dangling.length === 1 && ['false', '0'].includes(dangling[0]!.toLowerCase()))) {
      throw invalid(`invalid filter 'dangling=${dangling.join(',')}'`);
    }
  }
  const createdOf = async (name: string): Promise<number> => Date.parse((await svc.resolve(name)).created) || 0;
  let before: number | undefined;
  let since: number | undefined;
  for (const v of filters.get('before') ?? []) before = await createdOf(v);
  for (const v of filters.get('since') ?? []) since = await createdOf(v);
  const until = untilFilter(filters);
  const patterns = filters.get('reference') ?? [];

  const out: Array<{ summary: ImageSummary; created: number }> = [];
  for (const image of await svc.list()) {
    const created = Date.parse(image.created) || 0;
    if (before !== undefined && created >= before) continue;
    if (since !== undefined && created <= since) continue;
    if (until !== undefined && created > until) continue;
    const cfg = await svc.config(image);
    const labels = cfg.config?.Labels ?? null;
    if ((filters.has('label') || filters.has('label!')) && !matchLabels(filters, labels ?? {})) continue;
    const matches = (ref: string): boolean => patterns.length === 0 || patterns.some((p) => familiarMatch(p, parseReference(ref)));
    let repoTags = image.repoTags.filter(matches);
    let repoDigests = image.repoDigests.filter(matches);
    if (repoTags.length === 0 && repoDigests.length === 0) {
      if (!(opts.all || svc.children(image.id).length === 0)) continue;
      if (dangling !== undefined && !danglingOnly) continue;
      if (patterns.length > 0) continue;
      if (compareVersions(apiVersion, '1.44') < 0) {
        repoTags = ['<none>:<none>'];
        repoDigests = ['<none>@<none>'];
      }
    } else if (danglingOnly && image.repoTags.length > 0) continue;
    const summary: ImageSummary = {
      Containers: -1,
      Created: unixSeconds(image.created),
      Id: image.id,
      Labels: labels,
      ParentId: image.parent,
      RepoDigests: repoDigests,
      RepoTags: repoTags,
      SharedSize: -1,
      Size: image.size,
    };
    if (compareVersions(apiVersion, '1.44') < 0) summary.VirtualSize = image.size;
    out.push({ summary, created });
  }
  out.sort((a, b) => b.created - a.created);
  return out.map((o) => o.summary);
}
