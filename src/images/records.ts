import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ContentStore } from '../content/content.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import type { Image, ImageEvent, ImageEventFn, ImageUsage, ImageUsageFn, TagHistoryEntry } from './images.js';
import { familiarName, parseReference } from './reference.js';
import { OciImageSchema, parseJsonAs, type OciImage } from './types.js';

/**
 * The image records on the local disk and in memory:
 *   <root>/images/meta/<hex>.json    one record per image (ImageRecord)
 *   <root>/images/references.json    every reference (tag or digest) → image ID, and each
 *                                    tag's history of moves
 * Both are written atomically and loaded into memory at start. Every change goes through one
 * queue (`exclusive`), so readers see either the state before or after a change. Blobs live in
 * the content store, unpacked layers in the snapshotter; this module owns neither, it only
 * records which image uses which.
 */

const RecordDescriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string(),
  size: z.number(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const RecordSchema = z.object({
  id: z.string(),
  parent: z.string().default(''),
  manifest: RecordDescriptorSchema,
  layers: z.array(RecordDescriptorSchema),
  diffIds: z.array(z.string()),
  layerSizes: z.array(z.number()),
  created: z.string().default(''),
  addedAt: z.string(),
  lastTagTime: z.string().default(''),
  os: z.string(),
  architecture: z.string(),
  variant: z.string().optional(),
  /** Deleted by the user while a container still used it: hidden, its layers kept until gc. */
  retained: z.boolean().optional(),
});
export type ImageRecord = z.infer<typeof RecordSchema>;

const HistoryEntrySchema = z.object({
  image: z.string().nullable(),
  previous: z.string().nullable(),
  time: z.string(),
  cause: z.enum(['import', 'load', 'build', 'pull', 'tag', 'commit', 'rollback', 'untag']),
});
const ReferencesFileSchema = z.object({
  refs: z.record(z.string(), z.string()).default({}),
  history: z.record(z.string(), z.array(HistoryEntrySchema)).default({}),
});

export interface ImageRecordsOptions {
  /** The engine's root; records are written under `<root>/images/`. */
  root: string;
  content: ContentStore;
  snapshots: Snapshotter;
  emit?: ImageEventFn;
  usage?: ImageUsageFn;
  /** Previous versions of each tag kept from pruning (default 5). */
  versionsKept?: number;
}

const noUsage: ImageUsage = { any: false, running: false, containerIds: [] };

/**
 * The state every image operation reads and changes: records, references, tag histories and
 * leases. Operations (resolve.ts, tags.ts, ingest.ts, remove.ts, gc.ts) are functions over it;
 * a change runs inside `exclusive` and saves what it changed before it returns.
 */
export class ImageRecords {
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  readonly versionsKept: number;
  usage: ImageUsageFn;

  readonly records = new Map<string, ImageRecord>();
  /** Normalized reference (`docker.io/library/busybox:latest`, `…@sha256:…`) → image ID. */
  readonly refs = new Map<string, string>();
  /** Normalized tag → its moves, oldest first. */
  readonly tagMoves = new Map<string, TagHistoryEntry[]>();
  /** Blob digest / chain ID → how many leases hold it. */
  readonly leasedBlobs = new Map<string, number>();
  readonly leasedSnapshots = new Map<string, number>();

  private readonly root: string;
  private readonly metaDir: string;
  private readonly refsPath: string;
  private readonly emitFn: ImageEventFn;
  private readonly configCache = new Map<string, OciImage>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ImageRecordsOptions) {
    this.root = opts.root;
    this.metaDir = join(opts.root, 'images', 'meta');
    this.refsPath = join(opts.root, 'images', 'references.json');
    this.content = opts.content;
    this.snapshots = opts.snapshots;
    this.emitFn = opts.emit ?? (() => undefined);
    this.usage = opts.usage ?? (() => noUsage);
    this.versionsKept = opts.versionsKept ?? 5;
  }

  /** Load the records and references from disk; an unreadable record is logged and skipped. */
  async init(): Promise<void> {
    await mkdir(this.metaDir, { recursive: true });
    for (const name of await readdir(this.metaDir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      const path = join(this.metaDir, name);
      try {
        const rec = RecordSchema.parse(await readJsonIfExists(path));
        this.records.set(rec.id, rec);
      } catch (err) {
        log.error({ err, path }, 'unreadable image record skipped');
      }
    }
    const raw = await readJsonIfExists(this.refsPath);
    if (raw !== undefined) {
      const file = ReferencesFileSchema.parse(raw);
      for (const [ref, id] of Object.entries(file.refs)) {
        const rec = this.records.get(id);
        if (rec && !rec.retained) this.refs.set(ref, id);
        else log.warn({ ref, id }, 'reference to a missing image dropped');
      }
      for (const [ref, entries] of Object.entries(file.history)) this.tagMoves.set(ref, entries);
    }
  }

  /** Run one change at a time; a failed change does not block the next. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The record of a live image (not retained for containers only), or undefined. */
  live(id: string): ImageRecord | undefined {
    const rec = this.records.get(id);
    return rec && !rec.retained ? rec : undefined;
  }

  isLive(id: string): boolean {
    return this.live(id) !== undefined;
  }

  /** All live images whose parent is `id` (Docker's child images). */
  children(id: string): string[] {
    return [...this.records.values()].filter((r) => !r.retained && r.parent === id).map((r) => r.id);
  }

  /** The references (normalized) that point at an image, in the order Docker lists them: by familiar form. */
  refsOf(id: string): string[] {
    const keys = [...this.refs].filter(([, v]) => v === id).map(([k]) => k);
    return keys.map((k) => [familiarName(k), k] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, k]) => k);
  }

  /** The parsed config blob of an image, cached; callers never change what it returns. */
  async configOf(id: string): Promise<OciImage> {
    const cached = this.configCache.get(id);
    if (cached) return cached;
    const cfg = parseJsonAs(OciImageSchema, await this.content.read(id), `image config ${id}`);
    this.configCache.set(id, cfg);
    return cfg;
  }

  forgetConfig(id: string): void {
    this.configCache.delete(id);
  }

  /** The root directory of the snapshot of a chain (for GraphDriver data), by the snapshotter's layout. */
  snapshotDir(chainId: string): string {
    return join(this.root, 'snapshots', chainId.replace(/^sha256:/, ''));
  }

  /** The image as the rest of the engine sees it: plain data, references in familiar form. */
  toImage(rec: ImageRecord): Image {
    const repoTags: string[] = [];
    const repoDigests: string[] = [];
    for (const r of this.refsOf(rec.id)) {
      const parsed = parseReference(r);
      if (parsed.digest !== undefined) repoDigests.push(familiarName(parsed));
      else repoTags.push(familiarName(parsed));
    }
    // Docker lists references sorted by their familiar form.
    repoTags.sort();
    repoDigests.sort();
    const image: Image = {
      id: rec.id,
      repoTags,
      repoDigests,
      parent: rec.parent,
      manifest: rec.manifest,
      layers: rec.layers,
      diffIds: rec.diffIds,
      chainIds: chainIds(rec.diffIds),
      layerSizes: rec.layerSizes,
      size: rec.layerSizes.reduce((a, b) => a + b, 0),
      created: rec.created,
      addedAt: rec.addedAt,
      lastTagTime: rec.lastTagTime,
      os: rec.os,
      architecture: rec.architecture,
    };
    if (rec.variant !== undefined) image.variant = rec.variant;
    return image;
  }

  async saveRecord(rec: ImageRecord): Promise<void> {
    await writeJsonAtomic(this.recordPath(rec.id), rec);
  }

  /** Forget a record in memory and on disk. */
  async dropRecord(id: string): Promise<void> {
    this.records.delete(id);
    await rm(this.recordPath(id), { force: true });
  }

  async saveRefs(): Promise<void> {
    await writeJsonAtomic(this.refsPath, { refs: Object.fromEntries(this.refs), history: Object.fromEntries(this.tagMoves) });
  }

  /** Image events carry the image's labels and `name`, as Docker's LogImageEvent does. */
  async emit(action: ImageEvent['Action'], id: string, name: string): Promise<void> {
    let labels: Record<string, string> = {};
    try {
      labels = (await this.configOf(id)).config?.Labels ?? {};
    } catch {
      // The config is gone (a delete); the event goes out without labels.
    }
    this.emitFn({ Type: 'image', Action: action, Actor: { ID: id, Attributes: { ...labels, name } } });
  }

  private recordPath(id: string): string {
    return join(this.metaDir, `${id.replace(/^sha256:/, '')}.json`);
  }
}
