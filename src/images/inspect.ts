import { join } from 'node:path';
import { matchLabels, untilFilter } from '../util/filters.js';
import { listFilters } from './filters.js';
import type { Image, ImageReader, ListOptions } from './images.js';
import { familiarMatch, parseReference } from './reference.js';
import type { HistoryResponseItem, ImageInspect, ImageSummary, OciImage } from './types.js';

/**
 * Docker's wire shapes of one image, as of the newest API version: inspect, history, and the
 * list summaries. Older API versions are the API layer's business (src/api/image-versions.ts
 * adapts these answers); nothing here knows of versions.
 */

/** Unix seconds of an RFC3339 time; 0 when absent or unparsable. */
export function unixSeconds(time: string | undefined): number {
  if (!time) return 0;
  const t = Date.parse(time);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

/** `GET /images/{name}/history`: newest first; IDs along the local parent chain, `<missing>` beyond. */
export async function historyOf(svc: Pick<ImageReader, 'config' | 'get'>, image: Image): Promise<HistoryResponseItem[]> {
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

/**
 * `GET /images/{name}/json`, with `Config` the image's config as stored (the API shapes it
 * per version). `snapshotDir` gives the directory of a chain's snapshot.
 */
export function inspectOf(image: Image, cfg: OciImage, snapshotDir: (chainId: string) => string): ImageInspect {
  const chains = image.chainIds;
  let data: Record<string, string> | null = null;
  const top = chains.at(-1);
  if (top !== undefined) {
    const dir = snapshotDir(top);
    data = {};
    const lowers = chains.slice(0, -1).reverse().map((c) => join(snapshotDir(c), 'fs'));
    if (lowers.length > 0) data.LowerDir = lowers.join(':');
    Object.assign(data, { MergedDir: join(dir, 'merged'), UpperDir: join(dir, 'fs'), WorkDir: join(dir, 'work') });
  }
  // Docker's key order.
  return {
    Id: image.id,
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Parent: image.parent,
    Comment: cfg.comment ?? '',
    ...(cfg.created ? { Created: cfg.created } : {}),
    ...(cfg.docker_version ? { DockerVersion: cfg.docker_version } : {}),
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    ...(cfg['os.version'] ? { OsVersion: cfg['os.version'] } : {}),
    Size: image.size,
    GraphDriver: { Name: 'overlay2', Data: data },
    RootFS: { Type: 'layers', Layers: image.diffIds },
    Metadata: { LastTagTime: image.lastTagTime || '0001-01-01T00:00:00Z' },
  };
}

/**
 * `GET /images/json` (Docker's Images(): filters, dangling rules, newest first). A dangling
 * image's summary has empty RepoTags and RepoDigests. `children` lists an image's child images.
 */
export async function summariesOf(
  svc: Pick<ImageReader, 'resolve' | 'list' | 'config'>,
  children: (id: string) => string[],
  opts: ListOptions,
): Promise<ImageSummary[]> {
  const filters = opts.filters ?? new Map<string, string[]>();
  const { dangling, patterns } = listFilters(filters);
  const danglingOnly = dangling === true;
  const createdOf = async (name: string): Promise<number> => Date.parse((await svc.resolve(name)).created) || 0;
  let before: number | undefined;
  let since: number | undefined;
  for (const v of filters.get('before') ?? []) before = await createdOf(v);
  for (const v of filters.get('since') ?? []) since = await createdOf(v);
  const until = untilFilter(filters);

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
    const repoTags = image.repoTags.filter(matches);
    const repoDigests = image.repoDigests.filter(matches);
    if (repoTags.length === 0 && repoDigests.length === 0) {
      if (!(opts.all || children(image.id).length === 0)) continue;
      if (dangling !== undefined && !danglingOnly) continue;
      if (patterns.length > 0) continue;
    } else if (danglingOnly && image.repoTags.length > 0) continue;
    const summary: ImageSummary = {
      Containers: -1,
      Created: unixSeconds(image.created),
      Id: image.id,
      Labels: labels ?? {},
      ParentId: image.parent,
      RepoDigests: repoDigests,
      RepoTags: repoTags,
      SharedSize: -1,
      Size: image.size,
    };
    out.push({ summary, created });
  }
  out.sort((a, b) => b.created - a.created);
  return out.map((o) => o.summary);
}
