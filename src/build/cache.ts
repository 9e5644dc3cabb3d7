import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';

/**
 * The build cache: a content-addressed key per step (the parent image, the instruction with
 * its arguments after expansion, the build args it sees, the checksums of the files COPY and
 * ADD take) mapped to the image that step produced. Kept in `<root>/build/cache.json`
 * (written atomically after each new entry), so it survives daemon restarts. An entry whose
 * image is gone is a miss; `prune` forgets every entry.
 */

const CacheFileSchema = z.object({ version: z.literal(1), entries: z.record(z.string(), z.string()) });

export class BuildCache {
  private entries = new Map<string, string>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  async load(): Promise<void> {
    const raw = await readJsonIfExists(this.path());
    if (raw === undefined) return;
    const parsed = CacheFileSchema.safeParse(raw);
    if (!parsed.success) {
      log.warn({ path: this.path() }, 'build cache file is unreadable; starting with an empty cache');
      return;
    }
    this.entries = new Map(Object.entries(parsed.data.entries));
  }

  private path(): string {
    return join(this.dir, 'cache.json');
  }

  /** The key of a step: every part that decides its result, hashed. */
  static key(parts: unknown): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  /** The images the cache names, each once. */
  images(): string[] {
    return [...new Set(this.entries.values())];
  }

  /** Record a step's image; persisted before the returned promise settles. */
  async put(key: string, imageId: string): Promise<void> {
    this.entries.set(key, imageId);
    await this.persist();
  }

  /** Forget entries (all, or those whose image `keep` rejects); returns the images they named. */
  async prune(keep?: (imageId: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const [k, id] of this.entries) {
      if (keep?.(id)) continue;
      this.entries.delete(k);
      removed.push(id);
    }
    await this.persist();
    return [...new Set(removed)];
  }

  get size(): number {
    return this.entries.size;
  }

  private persist(): Promise<void> {
    // Writes are chained so that the file always ends with the newest state.
    const next = this.writing.then(() => writeJsonAtomic(this.path(), { version: 1, entries: Object.fromEntries(this.entries) }));
    this.writing = next.catch(() => undefined);
    return next;
  }
}
