import type { Image } from '../images/images.js';
import { shortId } from '../images/reference.js';
import type { OciImage } from '../images/types.js';
import type { BuildImages } from './build.js';
import { BuildCache } from './cache.js';
import { historyEntry } from './step-image.js';
import { stateOf, type CacheFromProbe, type StageState } from './step.js';

/**
 * The cache as one build's steps use it: a step's key is its parent image and what decides
 * its result (`BuildCache.key`); a hit gives the cached image, a miss runs the step and
 * records its image. With `--cache-from`, the step is taken only from the images named, when
 * one was built by the same instructions (Docker's classic builder's rule). One StepCache
 * belongs to one build.
 */
export class StepCache {
  private cacheSources: Promise<Array<{ image: Image; config: OciImage }>> | undefined;

  constructor(
    private readonly deps: {
      images: BuildImages;
      cache: BuildCache;
      noCache: boolean;
      cacheFrom: readonly string[];
      say: (text: string) => void;
    },
  ) {}

  /** StepContext.cached: the step's result from the cache when its key is known, else from `make`. */
  async cached(
    state: StageState,
    key: unknown,
    make: () => Promise<Image>,
    carry: Pick<StageState, 'args' | 'cmdSet'> = state,
    probe?: CacheFromProbe,
  ): Promise<StageState> {
    const { images, cache, say } = this.deps;
    const k = BuildCache.key({ parent: state.imageId, key });
    if (!this.deps.noCache) {
      // With --cache-from, only the images named are cache sources (Docker's classic builder):
      // steps of earlier builds count when one of those images carries them.
      const hit = this.deps.cacheFrom.length === 0 ? cache.get(k) : undefined;
      let image = hit ? await images.get(hit).catch(() => undefined) : undefined;
      if (!image && probe) {
        image = await this.fromCacheSources(state, probe);
        if (image) await cache.put(k, image.id);
      }
      if (image) {
        say(' ---> Using cache\n');
        say(` ---> ${shortId(image.id)}\n`);
        const next = await stateOf(images, image);
        return { ...next, args: carry.args, cmdSet: carry.cmdSet };
      }
    }
    const image = await make();
    await cache.put(k, image.id);
    say(` ---> ${shortId(image.id)}\n`);
    const next = await stateOf(images, image);
    return { ...next, args: carry.args, cmdSet: carry.cmdSet };
  }

  /**
   * `--cache-from`: a local image whose history and layers start as this stage's do, and whose
   * next history entry was made by the same instruction, gives the step's result (its layer
   * and history entry; the config is the one this step computes).
   */
  private async fromCacheSources(state: StageState, probe: CacheFromProbe): Promise<Image | undefined> {
    const { images, cacheFrom } = this.deps;
    if (cacheFrom.length === 0) return undefined;
    this.cacheSources ??= (async () => {
      const out: Array<{ image: Image; config: OciImage }> = [];
      for (const name of cacheFrom) {
        const image = await images.resolve(name).catch(() => undefined);
        if (image) out.push({ image, config: await images.config(image) });
      }
      return out;
    })();
    const history = state.config.history ?? [];
    const diffIds = state.config.rootfs.diff_ids;
    for (const { image, config } of await this.cacheSources) {
      const h = config.history ?? [];
      const d = config.rootfs.diff_ids;
      if (h.length <= history.length || d.length < diffIds.length) continue;
      if (!history.every((e, i) => e.created_by === h[i]!.created_by && !!e.empty_layer === !!h[i]!.empty_layer)) continue;
      if (!diffIds.every((id, i) => id === d[i])) continue;
      const entry = h[history.length]!;
      const emptyLayer = !!entry.empty_layer;
      if (entry.created_by !== probe.createdBy || (probe.emptyLayer !== undefined && emptyLayer !== probe.emptyLayer)) continue;
      if (!emptyLayer && d.length <= diffIds.length) continue;
      const next: OciImage = structuredClone(probe.config);
      next.created = entry.created;
      next.history = [...history, historyEntry(entry, entry.created ?? '')];
      const layers = [...state.layers];
      if (!emptyLayer) {
        next.rootfs = { type: 'layers', diff_ids: [...diffIds, d[diffIds.length]!] };
        layers.push(image.layers[diffIds.length]!);
      }
      return images.createImage({ config: next, layers, ...(state.imageId ? { parent: state.imageId } : {}) });
    }
    return undefined;
  }
}
