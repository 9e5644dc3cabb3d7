import { join } from 'node:path';
import { z } from 'zod';
import type { ContentStore } from '../content/content.js';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import { KeyedMutex } from '../util/mutex.js';
import type { ImageIngester, ImageReader } from '../images/images.js';

/**
 * What pier remembers about layers it shipped (moby's v2metadata): for an uncompressed layer
 * (by DiffID) the compressed blob made for it, and for each compressed blob the repositories
 * (`registry/path`) known to hold it, for cross-repository mounts. Kept in
 * `<root>/distribution/layers.json`, written atomically; losing it only costs a recompression.
 *
 * The compressed blobs live in the content store, where no image references them: `collect`
 * removes those whose layer no image has any more (keeping their digests as hints).
 */

const FileSchema = z.object({
  compressed: z.record(z.string(), z.object({ digest: z.string(), size: z.number(), mediaType: z.string() })).default({}),
  repos: z.record(z.string(), z.array(z.string())).default({}),
});

/** How many digests of removed compressed blobs are kept as hints for later pushes. */
const MAX_HINTS = 1000;

export interface CompressedLayer {
  digest: string;
  size: number;
  mediaType: string;
}

export class LayerCache {
  private readonly path: string;
  private compressed = new Map<string, CompressedLayer>();
  private repos = new Map<string, string[]>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Collections and new compressed blobs, one at a time. */
  private readonly mutex = new KeyedMutex();
  /** A collection asked for and not started yet, which later asks join. */
  private pendingCollect: Promise<void> | undefined;

  constructor(root: string) {
    this.path = join(root, 'distribution', 'layers.json');
  }

  async init(): Promise<void> {
    try {
      const raw = await readJsonIfExists(this.path);
      if (raw === undefined) return;
      const file = FileSchema.parse(raw);
      this.compressed = new Map(Object.entries(file.compressed));
      this.repos = new Map(Object.entries(file.repos));
    } catch (err) {
      log.warn({ err, path: this.path }, 'unreadable layer cache ignored');
    }
  }

  /** The compressed blob made for an uncompressed layer, if any; it may be no longer stored (see `collect`). */
  compressedOf(diffId: string): CompressedLayer | undefined {
    return this.compressed.get(diffId);
  }

  /** Repositories (`registry/path`) known to hold a blob. */
  reposOf(digest: string): string[] {
    return [...(this.repos.get(digest) ?? [])];
  }

  /**
   * Remember the compressed blob made for a layer. The caller holds a lease on the blob until
   * this returns, so that a collection running meanwhile cannot remove it unremembered.
   */
  async rememberCompressed(diffId: string, layer: CompressedLayer): Promise<void> {
    await this.mutex.run('', async () => {
      this.compressed.set(diffId, layer);
      await this.save();
    });
  }

  /**
   * Remove the compressed blobs made for layers that no image has any more. Their digests stay
   * remembered as hints (`compressedOf` then names a blob that is not stored) while a registry
   * is known to hold them, the last MAX_HINTS of them, so pushing such a layer again asks the
   * registry before compressing (moby's v2metadata does the same); the others are forgotten.
   * The removal goes through the image store (`discardUnused`), so a blob that an image
   * references or an operation leases (a push uploading it) stays until a later collection.
   * Collections run one at a time; asks made while one waits join it.
   */
  collect(deps: { images: Pick<ImageReader, 'list'> & Pick<ImageIngester, 'discardUnused'>; content: Pick<ContentStore, 'has'> }): Promise<void> {
    if (this.pendingCollect) return this.pendingCollect;
    const run = this.mutex.run('', async () => {
      this.pendingCollect = undefined;
      await this.collectNow(deps);
    });
    this.pendingCollect = run;
    return run;
  }

  private async collectNow(deps: { images: Pick<ImageReader, 'list'> & Pick<ImageIngester, 'discardUnused'>; content: Pick<ContentStore, 'has'> }): Promise<void> {
    const used = new Set<string>();
    for (const image of await deps.images.list()) for (const d of image.diffIds) used.add(d);
    const unused = [...this.compressed].filter(([diffId]) => !used.has(diffId));
    const stored: string[] = [];
    for (const [, layer] of unused) if (await deps.content.has(layer.digest)) stored.push(layer.digest);
    if (stored.length > 0) await deps.images.discardUnused(stored, []);
    let changed = false;
    const hints: string[] = [];
    for (const [diffId, layer] of unused) {
      // Still there: an image references it or an operation leases it; a later collection will tell.
      if (await deps.content.has(layer.digest)) continue;
      if ((this.repos.get(layer.digest) ?? []).length > 0) {
        hints.push(diffId);
        continue;
      }
      this.compressed.delete(diffId);
      changed = true;
    }
    // The oldest hints go beyond the limit.
    for (const diffId of hints.slice(0, Math.max(0, hints.length - MAX_HINTS))) {
      this.repos.delete(this.compressed.get(diffId)!.digest);
      this.compressed.delete(diffId);
      changed = true;
    }
    if (stored.length > 0) log.debug({ removed: stored.length }, 'compressed layers of deleted images removed');
    if (changed) await this.save();
  }

  async rememberRepo(digest: string, repo: string): Promise<void> {
    const list = this.repos.get(digest) ?? [];
    if (list.includes(repo)) return;
    list.push(repo);
    if (list.length > 20) list.shift();
    this.repos.set(digest, list);
    await this.save();
  }

  private save(): Promise<void> {
    const run = this.queue.then(() => writeJsonAtomic(this.path, { compressed: Object.fromEntries(this.compressed), repos: Object.fromEntries(this.repos) }));
    this.queue = run.catch(() => undefined);
    return run;
  }
}
