import type { BuildCacheUsage } from '../build/builder.js';
import type { ContainerReader } from '../containers/containers.js';
import type { ImageService } from '../images/images.js';
import type { VolumeInfo } from '../volumes/volumes.js';


export interface DiskUsageDeps {
  images: ImageService;
  containers: ContainerReader;
  buildCache(): Promise<BuildCacheUsage[]>;
  /** The volumes part's usage, where there is one. */
  volumes?(): Promise<VolumeInfo[]>;
}

export type DiskUsageType = 'image' | 'container' | 'volume' | 'build-cache';

/**
 * `GET /system/df`: true figures, read from the store and the disk. An image's `Size` is the
 * sum of its layers' disk usage and its `SharedSize` the part of it in layers another image
 * also has; `LayersSize` counts each layer once. A container's `SizeRw` is the disk usage of
 * its writable layer, `SizeRootFs` that plus its image's. Reads only.
 */
export async function diskUsage(deps: DiskUsageDeps, types: ReadonlySet<DiskUsageType>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const images = await deps.images.list();
  const containers = deps.containers.all();
  if (types.has('image')) {
    const users = new Map<string, number>();
    for (const c of containers) users.set(c.Image, (users.get(c.Image) ?? 0) + 1);
    const layerOwners = new Map<string, number>();
    const layerSize = new Map<string, number>();
    for (const image of images) {
      image.chainIds.forEach((chain, i) => {
        layerOwners.set(chain, (layerOwners.get(chain) ?? 0) + 1);
        layerSize.set(chain, image.layerSizes[i] ?? 0);
      });
    }
    out.LayersSize = [...layerSize.values()].reduce((a, b) => a + b, 0);
    out.Images = images.map((image) => ({
      Id: image.id,
      ParentId: image.parent,
      RepoTags: image.repoTags,
      RepoDigests: image.repoDigests,
      Created: Math.floor(Date.parse(image.created || image.addedAt) / 1000),
      Size: image.size,
      SharedSize: image.chainIds.reduce((sum, chain, i) => sum + ((layerOwners.get(chain) ?? 0) > 1 ? (image.layerSizes[i] ?? 0) : 0), 0),
      Labels: null,
      Containers: users.get(image.id) ?? 0,
    }));
  }
  if (types.has('container')) {
    // The list's summaries, with sizes: SizeRw is the writable layer, SizeRootFs adds the image.
    const imageSize = new Map(images.map((i) => [i.id, i.size]));
    const list = await deps.containers.list({ all: true, limit: 0, size: true, filters: new Map() });
    out.Containers = list.map((c) => ({ ...c, SizeRootFs: ((c.SizeRw as number | undefined) ?? 0) + (imageSize.get(c.ImageID as string) ?? 0) }));
  }
  if (types.has('volume')) out.Volumes = deps.volumes ? await deps.volumes() : [];
  if (types.has('build-cache')) out.BuildCache = await deps.buildCache();
  return out;
}
