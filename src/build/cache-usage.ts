import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image } from '../images/images.js';
import { log } from '../log.js';
import type { BuildCacheUsage, BuildImages } from './build.js';
import type { BuildCache } from './cache.js';

/**
 * BuildCacheAdmin over the step cache and the `RUN --mount=type=cache` folders: what
 * `GET /system/df` shows of them, and `POST /build/prune`. A tagged image is never deleted.
 */

export interface CacheUsageDeps {
  images: BuildImages;
  cache: BuildCache;
  /** The cache mounts' folder, one folder a mount. */
  mountsDir: string;
}

/** Each untagged step image the cache keeps (its own layer's size) and each cache mount's folder. */
export async function cacheUsage(deps: CacheUsageDeps): Promise<BuildCacheUsage[]> {
  const out: BuildCacheUsage[] = [];
  for (const id of deps.cache.images()) {
    const image = await deps.images.get(id).catch(() => undefined);
    if (!image || image.repoTags.length > 0) continue;
    out.push({
      ID: id.replace(/^sha256:/, '').slice(0, 25),
      Parent: image.parent.replace(/^sha256:/, '').slice(0, 25) || null,
      Type: 'regular',
      Description: 'a build step',
      InUse: false,
      Shared: false,
      Size: image.layerSizes.at(-1) ?? 0,
      CreatedAt: image.addedAt,
      LastUsedAt: null,
      UsageCount: 0,
    });
  }
  const mounts = deps.mountsDir;
  for (const name of await readdir(mounts).catch(() => [] as string[])) {
    const st = await lstat(join(mounts, name));
    out.push({ ID: name.slice(0, 25), Parent: null, Type: 'exec.cachemount', Description: 'cached mount', InUse: false, Shared: true, Size: await duOf(join(mounts, name)), CreatedAt: st.birthtime.toISOString(), LastUsedAt: st.mtime.toISOString(), UsageCount: 0 });
  }
  return out;
}

/** Forget the cache and delete the untagged images only it kept, and the cache mounts' folders. */
export async function pruneCache(deps: CacheUsageDeps): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
  const ids = await deps.cache.prune();
  // RUN --mount=type=cache folders go with the cache.
  const mounts = deps.mountsDir;
  let reclaimedMounts = 0;
  for (const name of await readdir(mounts).catch(() => [] as string[])) {
    reclaimedMounts += await duOf(join(mounts, name));
    await rm(join(mounts, name), { recursive: true, force: true });
  }
  const deleted: string[] = [];
  let reclaimed = 0;
  // Children first: a step's image is the parent of the next one.
  for (const id of ids.reverse()) {
    let image: Image;
    try {
      image = await deps.images.get(id);
    } catch {
      continue;
    }
    if (image.repoTags.length > 0 || image.repoDigests.length > 0) continue;
    try {
      await deps.images.delete(id, { noprune: true });
      deleted.push(id);
      reclaimed += image.layerSizes.at(-1) ?? 0;
    } catch (err) {
      log.debug({ err, id }, 'build cache image kept');
    }
  }
  return { CachesDeleted: deleted, SpaceReclaimed: reclaimed + reclaimedMounts };
}

/** The bytes of the files under `path` (0 when it is gone). */
async function duOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await duOf(join(path, name));
  return total;
}
