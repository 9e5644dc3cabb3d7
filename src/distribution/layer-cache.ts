import { join } from 'node:path';
import { z } from 'zod';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';

/**
 * What pier remembers about layers it shipped (moby's v2metadata): for an uncompressed layer
 * (by DiffID) the compressed blob made for it, and for each compressed blob the repositories
 * (`registry/path`) known to hold it, for cross-repository mounts. Kept in
 * `<root>/distribution/layers.json`, written atomically; losing it only costs a recompression.
 */

const FileSchema = z.object({
  compressed: z.record(z.string(), z.object({ digest: z.string(), size: z.number(), mediaType: z.string() })).default({}),
  repos: z.record(z.string(), z.array(z.string())).default({}),
});

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

  /** The compressed blob made for an uncompressed layer, if any. */
  compressedOf(diffId: string): CompressedLayer | undefined {
    return this.compressed.get(diffId);
  }

  /** Repositories (`registry/path`) known to hold a blob. */
  reposOf(digest: string): string[] {
    return [...(this.repos.get(digest) ?? [])];
  }

  async rememberCompressed(diffId: string, layer: CompressedLayer): Promise<void> {
    this.compressed.set(diffId, layer);
    await this.save();
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
