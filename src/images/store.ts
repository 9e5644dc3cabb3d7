import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { ContentStore, Descriptor } from '../content/content.js';
import { conflict, internal, invalid, isKind, notFound } from '../errors.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import { matchLabels, untilFilter } from '../util/filters.js';
import { loadArchive, saveArchive } from './archive.js';
import type {
  CreateImageOptions,
  DeleteOptions,
  Filters,
  Image,
  ImageEvent,
  ImageEventFn,
  ImageService,
  ImageUsage,
  ImageUsageFn,
  ImportOptions,
  IngestedLayer,
  Lease,
  ListOptions,
  LoadedImage,
  RollbackResult,
  TagCause,
  TagHistoryEntry,
  TagVersion,
} from './images.js';
import { importImage } from './import.js';
import { historyOf, inspectOf, summariesOf } from './inspect.js';
import {
  familiarName,
  fullImageId,
  isFullImageId,
  parseReference,
  type Reference,
  referenceString,
  shortId,
  withDefaultTag,
} from './reference.js';
import { decompressed, drain, tee } from './streams.js';
import { previousVersion, tagVersions } from './versions.js';
import {
  ManifestSchema,
  MediaType,
  OciImageSchema,
  parseJsonAs,
  type DeleteResponseItem,
  type HistoryResponseItem,
  type ImageInspect,
  type ImageSummary,
  type OciImage,
  type OciManifest,
  type PruneReport,
} from './types.js';

/**
 * The image store on the local disk:
 *   <root>/images/meta/<hex>.json    one record per image (ImageRecord)
 *   <root>/images/references.json    every reference (tag or digest) → image ID, and each
 *                                    tag's history of moves
 * Both are written atomically and loaded into memory at start; every change goes through one
 * queue, so readers see either the state before or after a change. Blobs live in the content
 * store, unpacked layers in the snapshotter.
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
type ImageRecord = z.infer<typeof RecordSchema>;

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

/** How many moves of one tag are remembered. */
const HISTORY_LIMIT = 1000;

export interface LocalImageServiceOptions {
  /** The engine's root; images write under `<root>/images/`. */
  root: string;
  content: ContentStore;
  snapshots: Snapshotter;
  emit?: ImageEventFn;
  usage?: ImageUsageFn;
  /** Previous versions of each tag kept from pruning (default 5). */
  versionsKept?: number;
}

const noUsage: ImageUsage = { any: false, running: false, containerIds: [] };

export class LocalImageService implements ImageService {
  private readonly dir: string;
  private readonly metaDir: string;
  private readonly refsPath: string;
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  private readonly root: string;
  private readonly emitFn: ImageEventFn;
  private usageFn: ImageUsageFn;
  private readonly versionsKept: number;

  private readonly records = new Map<string, ImageRecord>();
  /** Normalized reference (`docker.io/library/busybox:latest`, `…@sha256:…`) → image ID. */
  private readonly refs = new Map<string, string>();
  private readonly tagMoves = new Map<string, TagHistoryEntry[]>();
  private readonly configCache = new Map<string, OciImage>();
  private readonly leasedBlobs = new Map<string, number>();
  private readonly leasedSnapshots = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: LocalImageServiceOptions) {
    this.root = opts.root;
    this.dir = join(opts.root, 'images');
    this.metaDir = join(this.dir, 'meta');
    this.refsPath = join(this.dir, 'references.json');
    this.content = opts.content;
    this.snapshots = opts.snapshots;
    this.emitFn = opts.emit ?? (() => undefined);
    this.usageFn = opts.usage ?? (() => noUsage);
    this.versionsKept = opts.versionsKept ?? 5;
  }

  /** Load the records and references from disk. Call once before use. */
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

  setUsage(usage: ImageUsageFn): void {
    this.usageFn = usage;
  }

  /** The root directory of the snapshot of a chain (for GraphDriver data), by the snapshotter's layout. */
  snapshotDir(chainId: string): string {
    return join(this.root, 'snapshots', chainId.replace(/^sha256:/, ''));
  }

  // ---------------------------------------------------------------- lookup

  resolve(nameOrId: string): Promise<Image> {
    // A throw in the executor (notFound, invalid) rejects the promise.
    return new Promise((resolve) => resolve(this.toImage(this.resolveRecord(nameOrId))));
  }

  private resolveRecord(nameOrId: string): ImageRecord {
    if (isFullImageId(nameOrId)) {
      const rec = this.records.get(fullImageId(nameOrId));
      if (rec && !rec.retained) return rec;
      throw notFound(`No such image: ${nameOrId}`);
    }
    const ref = parseReference(nameOrId);
    const id = this.lookupRef(ref);
    if (id) return this.records.get(id)!;
    const byPrefix = this.searchPrefix(nameOrId);
    if (byPrefix) return byPrefix;
    throw notFound(`No such image: ${familiarName(withDefaultTag(ref))}`);
  }

  private lookupRef(ref: Reference): string | undefined {
    const key = refKey(ref);
    const id = this.refs.get(key);
    if (id) return id;
    if (ref.digest !== undefined) {
      // A digest reference also finds an image of that repository whose manifest has that digest.
      const repo = `${ref.domain}/${ref.path}`;
      for (const [k, v] of this.refs) {
        const rec = this.records.get(v);
        if (rec?.manifest.digest === ref.digest && k.startsWith(`${repo}:`)) return v;
      }
    }
    return undefined;
  }

  /** A unique image whose ID starts with `s` (hex, optionally `sha256:`-prefixed). */
  private searchPrefix(s: string): ImageRecord | undefined {
    const hex = s.replace(/^sha256:/, '');
    if (!/^[a-f0-9]+$/.test(hex)) return undefined;
    let found: ImageRecord | undefined;
    for (const rec of this.records.values()) {
      if (rec.retained || !rec.id.startsWith(`sha256:${hex}`)) continue;
      if (found) return undefined; // ambiguous
      found = rec;
    }
    return found;
  }

  get(id: string): Promise<Image> {
    const rec = this.records.get(fullImageId(id));
    if (!rec || rec.retained) return Promise.reject(notFound(`No such image: ${id}`));
    return Promise.resolve(this.toImage(rec));
  }

  list(): Promise<Image[]> {
    return Promise.resolve([...this.records.values()].filter((r) => !r.retained).map((r) => this.toImage(r)));
  }

  topChainId(image: Image): string | null {
    return image.chainIds.at(-1) ?? null;
  }

  async config(image: Image): Promise<OciImage> {
    // A copy: callers may edit it (commit, build) without touching the cache.
    return structuredClone(await this.configOf(image.id));
  }

  private async configOf(id: string): Promise<OciImage> {
    const cached = this.configCache.get(id);
    if (cached) return cached;
    const cfg = parseJsonAs(OciImageSchema, await this.content.read(id), `image config ${id}`);
    this.configCache.set(id, cfg);
    return cfg;
  }

  async manifest(image: Image): Promise<OciManifest> {
    return parseJsonAs(ManifestSchema, await this.content.read(image.manifest.digest), `manifest of ${image.id}`);
  }

  /** All images whose parent is `id` (Docker's child images). */
  children(id: string): string[] {
    return [...this.records.values()].filter((r) => !r.retained && r.parent === id).map((r) => r.id);
  }

  /** The references (normalized) that point at an image. */
  private refsOf(id: string): string[] {
    const keys = [...this.refs].filter(([, v]) => v === id).map(([k]) => k);
    // In the order Docker lists them: by familiar form.
    return keys.map((k) => [familiarName(k), k] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, k]) => k);
  }

  private toImage(rec: ImageRecord): Image {
    const refs = this.refsOf(rec.id);
    const repoTags: string[] = [];
    const repoDigests: string[] = [];
    for (const r of refs) {
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

  // ---------------------------------------------------------------- references

  async setTag(reference: string, imageId: string, cause: TagCause): Promise<void> {
    await this.exclusive(() => this.setTagLocked(parseReference(reference), imageId, cause));
  }

  private async setTagLocked(parsed: Reference, imageId: string, cause: TagCause): Promise<void> {
    const rec = this.records.get(fullImageId(imageId));
    if (!rec || rec.retained) throw notFound(`No such image: ${imageId}`);
    const ref = parsed.digest !== undefined ? { domain: parsed.domain, path: parsed.path, digest: parsed.digest } : withDefaultTag(parsed);
    const key = referenceString(ref);
    const previous = this.refs.get(key) ?? null;
    const now = new Date().toISOString();
    this.refs.set(key, rec.id);
    if (ref.digest === undefined && previous !== rec.id) {
      this.appendHistory(key, { image: rec.id, previous, time: now, cause });
    }
    await this.saveRefs();
    rec.lastTagTime = now;
    await this.saveRecord(rec);
    await this.emit('tag', rec.id, familiarName(ref));
  }

  async removeTag(reference: string): Promise<string> {
    return this.exclusive(() => this.removeRefLocked(refKey(parseReference(reference))));
  }

  /** Remove one reference (normalized key); records the untag and emits the event. */
  private async removeRefLocked(key: string): Promise<string> {
    const id = this.refs.get(key);
    if (!id) throw notFound(`No such image: ${familiarName(key)}`);
    this.refs.delete(key);
    if (parseReference(key).digest === undefined) {
      this.appendHistory(key, { image: null, previous: id, time: new Date().toISOString(), cause: 'untag' });
    }
    await this.saveRefs();
    await this.emit('untag', id, id);
    return id;
  }

  tagHistory(reference: string): TagHistoryEntry[] {
    return [...(this.tagMoves.get(refKey(parseReference(reference))) ?? [])];
  }

  versions(reference: string): TagVersion[] {
    const key = refKey(parseReference(reference));
    const history = this.tagMoves.get(key) ?? [];
    if (history.length === 0) throw notFound(`No versions of ${familiarName(key)}: the tag never existed here`);
    return tagVersions(history, this.refs.get(key), (id) => this.isLive(id), this.versionsKept);
  }

  async rollback(reference: string, to?: string): Promise<RollbackResult> {
    const parsed = parseReference(reference);
    if (parsed.digest !== undefined) throw invalid(`cannot roll back a digest reference (${reference}): name a tag`);
    const key = refKey(parsed);
    const name = familiarName(key);
    return this.exclusive(async () => {
      const history = this.tagMoves.get(key) ?? [];
      if (history.length === 0) throw notFound(`No versions of ${name}: the tag never existed here`);
      const current = this.refs.get(key);
      const versions = tagVersions(history, current, (id) => this.isLive(id), this.versionsKept);
      let target: TagVersion | undefined;
      if (to === undefined || to === '') {
        const id = previousVersion(history, current, (i) => this.isLive(i));
        if (id === undefined) throw notFound(`${name} has no previous version to roll back to`);
        target = versions.find((v) => v.image === id);
      } else if (/^\d{1,6}$/.test(to)) {
        target = versions.find((v) => v.version === Number(to));
        if (!target) throw notFound(`${name} has no version ${to} (versions 1 to ${versions.length})`);
      } else {
        const hex = to.replace(/^sha256:/, '');
        const matches = versions.filter((v) => v.image.slice('sha256:'.length).startsWith(hex));
        if (matches.length === 0) throw notFound(`${to} is not a version of ${name}`);
        if (matches.length > 1) throw invalid(`${to} matches several versions of ${name}`);
        target = matches[0];
      }
      if (!target) throw notFound(`${name} has no previous version to roll back to`);
      if (!target.available) throw notFound(`version ${target.version} of ${name} (${shortId(target.image)}) was deleted; it cannot be rolled back to`);
      if (target.image === current) throw conflict(`${name} already points to version ${target.version} (${shortId(target.image)})`);
      await this.setTagLocked(parsed, target.image, 'rollback');
      return { reference: name, from: current ?? null, to: target.image, version: target.version };
    });
  }

  /** The previous versions of the tags that exist, kept from pruning: image ID → why. */
  private keptVersions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, history] of this.tagMoves) {
      const current = this.refs.get(key);
      if (current === undefined) continue;
      for (const v of tagVersions(history, current, (id) => this.isLive(id), this.versionsKept)) {
        if (!v.kept || out.has(v.image)) continue;
        out.set(v.image, `version ${v.version} of ${familiarName(key)}, kept for rollback (the last ${this.versionsKept} previous versions of a tag are kept)`);
      }
    }
    return out;
  }

  private isLive(id: string): boolean {
    const rec = this.records.get(id);
    return rec !== undefined && !rec.retained;
  }

  private appendHistory(key: string, entry: TagHistoryEntry): void {
    const list = this.tagMoves.get(key) ?? [];
    list.push(entry);
    if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
    this.tagMoves.set(key, list);
  }

  // ---------------------------------------------------------------- creation

  lease(): Lease {
    const blobs: string[] = [];
    const snaps: string[] = [];
    let released = false;
    const inc = (m: Map<string, number>, k: string): void => {
      m.set(k, (m.get(k) ?? 0) + 1);
    };
    const dec = (m: Map<string, number>, k: string): void => {
      const n = (m.get(k) ?? 0) - 1;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    };
    return {
      addBlob: (digest) => {
        if (released) throw internal('lease used after release');
        blobs.push(digest);
        inc(this.leasedBlobs, digest);
      },
      addSnapshot: (chainId) => {
        if (released) throw internal('lease used after release');
        snaps.push(chainId);
        inc(this.leasedSnapshots, chainId);
      },
      release: () => {
        if (released) return;
        released = true;
        for (const d of blobs) dec(this.leasedBlobs, d);
        for (const c of snaps) dec(this.leasedSnapshots, c);
      },
    };
  }

  async ingestLayer(parent: string | null, tar: Readable, opts: { lease?: Lease; expectedDiffId?: string } = {}): Promise<IngestedLayer> {
    const { lease, expectedDiffId } = opts;
    const { stream } = await decompressed(tar);
    const [toContent, toSnapshot] = tee(stream);
    const applying = this.snapshots.applyLayer(parent, toSnapshot, expectedDiffId).then((applied) => {
      drain(toSnapshot);
      return applied;
    });
    const storing = this.content.ingest(toContent, expectedDiffId !== undefined ? { expectedDigest: expectedDiffId } : undefined);
    let applied;
    let blob;
    try {
      [applied, blob] = await Promise.all([applying, storing]);
    } catch (err) {
      toContent.destroy();
      toSnapshot.destroy();
      stream.destroy();
      // Let the other side settle before reporting, and drop what it stored for nothing.
      const [a, b] = await Promise.allSettled([applying, storing]);
      await this.discardUnused(b.status === 'fulfilled' ? [b.value.digest] : [], a.status === 'fulfilled' ? [a.value.chainId] : []);
      // The unpacker's reason (a broken tar, a DiffID mismatch) is the one to report; the
      // other side only saw its stream stop.
      if (a.status === 'rejected') throw a.reason as Error;
      throw err;
    }
    if (blob.digest !== applied.diffId) {
      throw internal(`layer digest ${blob.digest} differs from its DiffID ${applied.diffId}`);
    }
    lease?.addBlob(blob.digest);
    lease?.addSnapshot(applied.chainId);
    const size = await this.snapshots.usage(applied.chainId);
    return {
      descriptor: { mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size },
      diffId: applied.diffId,
      chainId: applied.chainId,
      size,
    };
  }

  async createImage(opts: CreateImageOptions): Promise<Image> {
    if ((opts.config === undefined) === (opts.configDigest === undefined)) {
      throw internal('createImage needs exactly one of config and configDigest');
    }
    const lease = this.lease();
    try {
      let id: string;
      let configSize: number;
      if (opts.config !== undefined) {
        const info = await this.content.put(JSON.stringify(opts.config));
        id = info.digest;
        configSize = info.size;
      } else {
        id = opts.configDigest!;
        configSize = (await this.content.info(id)).size;
      }
      lease.addBlob(id);
      const config = await this.configOf(id);
      const diffIds = config.rootfs.diff_ids;
      if (opts.layers.length !== diffIds.length) {
        throw invalid(`image ${shortId(id)}: ${opts.layers.length} layers for ${diffIds.length} diff_ids`);
      }
      for (const layer of opts.layers) {
        if (!(await this.content.has(layer.digest))) throw invalid(`image ${shortId(id)}: layer blob ${layer.digest} is missing`);
      }
      const chains = chainIds(diffIds);
      for (const chain of chains) {
        if (!(await this.snapshots.has(chain))) throw invalid(`image ${shortId(id)}: layer ${chain} is not unpacked`);
      }
      let manifest: Descriptor;
      if (opts.manifest) {
        const m = parseJsonAs(ManifestSchema, await this.content.read(opts.manifest.digest), `manifest ${opts.manifest.digest}`);
        if (m.config.digest !== id) throw invalid(`manifest ${opts.manifest.digest} is not the manifest of image ${id}`);
        manifest = { mediaType: opts.manifest.mediaType, digest: opts.manifest.digest, size: opts.manifest.size };
      } else {
        const m = {
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: { mediaType: MediaType.ociConfig, digest: id, size: configSize },
          layers: opts.layers.map((l) => descriptorOf(l)),
        };
        const info = await this.content.put(JSON.stringify(m));
        manifest = { mediaType: MediaType.ociManifest, digest: info.digest, size: info.size };
      }
      lease.addBlob(manifest.digest);
      const layerSizes = await Promise.all(chains.map((c) => this.snapshots.usage(c)));
      return await this.exclusive(async () => {
        const existing = this.records.get(id);
        if (existing && !existing.retained) return this.toImage(existing);
        const rec: ImageRecord = {
          id,
          parent: opts.parent ?? existing?.parent ?? '',
          manifest,
          layers: opts.layers.map((l) => descriptorOf(l)),
          diffIds,
          layerSizes,
          created: config.created ?? '',
          addedAt: new Date().toISOString(),
          lastTagTime: '',
          os: config.os,
          architecture: config.architecture,
        };
        if (config.variant !== undefined) rec.variant = config.variant;
        await this.saveRecord(rec);
        this.records.set(id, rec);
        return this.toImage(rec);
      });
    } finally {
      lease.release();
    }
  }

  // ---------------------------------------------------------------- endpoints

  async importImage(rootfs: Readable, opts: ImportOptions): Promise<Image> {
    return importImage(this, rootfs, opts);
  }

  async load(archive: Readable, onLoaded?: (image: LoadedImage) => void): Promise<LoadedImage[]> {
    return loadArchive(this, archive, onLoaded);
  }

  async save(names: string[]): Promise<Readable> {
    return saveArchive(this, names);
  }

  async history(nameOrId: string): Promise<HistoryResponseItem[]> {
    return historyOf(this, await this.resolve(nameOrId));
  }

  async inspect(nameOrId: string, apiVersion: string): Promise<ImageInspect> {
    return inspectOf(this, await this.resolve(nameOrId), apiVersion);
  }

  async summaries(opts: ListOptions): Promise<ImageSummary[]> {
    return summariesOf(this, opts);
  }

  // ---------------------------------------------------------------- delete, prune, gc

  async delete(nameOrId: string, opts: DeleteOptions = {}): Promise<DeleteResponseItem[]> {
    return this.exclusive(() => this.deleteLocked(nameOrId, opts.force ?? false, !(opts.noprune ?? false)));
  }

  /** Docker's ImageDelete (daemon/images/image_delete.go), in the same order of checks. */
  private async deleteLocked(nameOrId: string, force: boolean, prune: boolean): Promise<DeleteResponseItem[]> {
    const rec = this.resolveRecord(nameOrId);
    const id = rec.id;
    const records: DeleteResponseItem[] = [];
    let repoRefs = this.refsOf(id);
    const usage = await this.usageFn(id);
    let removedRepositoryRef = false;

    if (!isIdPrefix(id, nameOrId)) {
      const parsed = parseReference(nameOrId);
      if (!force && isSingleReference(repoRefs) && usage.any) {
        throw conflict(
          `conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${shortId(usage.containerIds[0] ?? '')} is using its referenced image ${shortId(id)}`,
        );
      }
      const key = refKey(parsed);
      if (!this.refs.has(key)) throw notFound(`No such image: ${familiarName(withDefaultTag(parsed))}`);
      await this.removeRefLocked(key);
      records.push({ Untagged: familiarName(key) });
      repoRefs = this.refsOf(id);
      if (parsed.digest === undefined) {
        // A tag went: when no tag of that repository remains, its digest references go too.
        const repo = `${parsed.domain}/${parsed.path}`;
        const sameRepo = (r: string): boolean => repoOf(r) === repo;
        if (!repoRefs.some((r) => sameRepo(r) && !r.includes('@'))) {
          for (const r of repoRefs.filter((r) => sameRepo(r) && r.includes('@'))) {
            await this.removeRefLocked(r);
            records.push({ Untagged: familiarName(r) });
          }
          repoRefs = this.refsOf(id);
        }
      }
      if (repoRefs.length > 0) return records;
      removedRepositoryRef = true;
    } else if (isSingleReference(repoRefs)) {
      // By ID, with the references all in one repository and at most one tag: remove them all.
      const c = this.findConflict(rec, usage, { hard: true, soft: !force, activeReference: false });
      if (c) throw deleteConflict(rec.id, c);
      for (const r of repoRefs) {
        await this.removeRefLocked(r);
        records.push({ Untagged: familiarName(r) });
      }
    }
    await this.deleteHelper(rec, records, force, prune, removedRepositoryRef);
    return records;
  }

  /**
   * Docker's checkImageDeleteConflict. Hard conflicts (child images, a running container) stop
   * even a forced delete; soft ones (other references, a stopped container) only an unforced one.
   */
  private findConflict(rec: ImageRecord, usage: ImageUsage, mask: { hard: boolean; soft: boolean; activeReference: boolean }): DeleteConflict | undefined {
    if (mask.hard && this.children(rec.id).length > 0) return { message: 'image has dependent child images', hard: true, used: false };
    if (mask.hard && usage.running) {
      return { message: `image is being used by running container ${shortId(usage.containerIds[0] ?? '')}`, hard: true, used: true };
    }
    if (mask.soft && mask.activeReference && this.refsOf(rec.id).length > 0) {
      return { message: 'image is referenced in multiple repositories', hard: false, used: false };
    }
    if (mask.soft && usage.any) {
      return { message: `image is being used by stopped container ${shortId(usage.containerIds[0] ?? '')}`, hard: false, used: true };
    }
    return undefined;
  }

  private async deleteHelper(rec: ImageRecord, records: DeleteResponseItem[], force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    const usage = await this.usageFn(rec.id);
    const c = this.findConflict(rec, usage, { hard: true, soft: !force, activeReference: true });
    if (c) {
      // Quietly (pruning a parent, or after untagging) a conflict only matters for a dangling, unused image.
      const dangling = this.refsOf(rec.id).length === 0 && this.children(rec.id).length === 0;
      if (quiet && (!dangling || c.used)) return;
      throw deleteConflict(rec.id, c);
    }
    const parent = rec.parent;
    for (const r of this.refsOf(rec.id)) {
      await this.removeRefLocked(r);
      records.push({ Untagged: familiarName(r) });
    }
    const removedLayers = await this.removeRecord(rec, usage.any);
    await this.emit('delete', rec.id, rec.id);
    records.push({ Deleted: rec.id });
    for (const chain of removedLayers) records.push({ Deleted: chain });
    if (!prune || parent === '') return;
    const parentRec = this.records.get(parent);
    if (!parentRec || parentRec.retained) return;
    await this.deleteHelper(parentRec, records, false, true, true);
  }

  /**
   * Forget an image. When a container still uses it, the record stays hidden (`retained`) with
   * its layers until `gc`. Otherwise its snapshots and blobs that nothing else uses are removed;
   * returns the chain IDs of the removed snapshots, top first.
   */
  private async removeRecord(rec: ImageRecord, usedByContainer: boolean): Promise<string[]> {
    this.configCache.delete(rec.id);
    if (usedByContainer) {
      rec.retained = true;
      await this.saveRecord(rec);
      return [];
    }
    this.records.delete(rec.id);
    await rm(this.recordPath(rec.id), { force: true });
    return this.collect(rec);
  }

  /** Remove the snapshots and blobs of a forgotten image that no other image and no lease uses. */
  private async collect(rec: ImageRecord): Promise<string[]> {
    const { usedBlobs, usedChains } = this.inUse();
    const removed: string[] = [];
    for (const chain of chainIds(rec.diffIds).reverse()) {
      if (usedChains.has(chain) || this.leasedSnapshots.has(chain)) continue;
      try {
        await this.snapshots.remove(chain);
        removed.push(chain);
      } catch (err) {
        log.error({ err, chain }, 'could not remove a layer snapshot');
      }
    }
    for (const digest of [rec.manifest.digest, rec.id, ...rec.layers.map((l) => l.digest)]) {
      if (usedBlobs.has(digest) || this.leasedBlobs.has(digest)) continue;
      try {
        await this.content.delete(digest);
      } catch (err) {
        if (!isKind(err, 'notFound')) log.error({ err, digest }, 'could not remove a blob');
      }
    }
    return removed;
  }

  /**
   * Remove blobs and snapshots left by a failed or finished operation, unless an image or a
   * lease uses them (the caller releases its own lease first). Snapshots go top first.
   */
  async discardUnused(blobs: readonly string[], chains: readonly string[]): Promise<void> {
    await this.exclusive(async () => {
      const { usedBlobs, usedChains } = this.inUse();
      for (const chain of [...chains].reverse()) {
        if (usedChains.has(chain) || this.leasedSnapshots.has(chain)) continue;
        if (!(await this.snapshots.has(chain))) continue;
        await this.snapshots.remove(chain).catch((err: unknown) => {
          log.warn({ err, chain }, 'could not remove an unused layer snapshot');
        });
      }
      for (const digest of new Set(blobs)) {
        if (usedBlobs.has(digest) || this.leasedBlobs.has(digest)) continue;
        await this.content.delete(digest).catch((err: unknown) => {
          if (!isKind(err, 'notFound')) throw err;
        });
      }
    });
  }

  /** The blobs and snapshots that some image record (retained ones included) uses. */
  private inUse(): { usedBlobs: Set<string>; usedChains: Set<string> } {
    const usedChains = new Set<string>();
    const usedBlobs = new Set<string>();
    for (const rec of this.records.values()) {
      for (const c of chainIds(rec.diffIds)) usedChains.add(c);
      usedBlobs.add(rec.id);
      usedBlobs.add(rec.manifest.digest);
      for (const l of rec.layers) usedBlobs.add(l.digest);
    }
    return { usedBlobs, usedChains };
  }

  async prune(filters: Filters): Promise<PruneReport> {
    for (const key of filters.keys()) {
      if (!['dangling', 'until', 'label', 'label!'].includes(key)) throw invalid(`invalid filter '${key}'`);
    }
    const danglingValues = filters.get('dangling') ?? [];
    let danglingOnly = true;
    if (danglingValues.length > 0) {
      const v = danglingValues[danglingValues.length - 1]!.toLowerCase();
      if (['0', 'false'].includes(v)) danglingOnly = false;
      else if (!['1', 'true'].includes(v)) throw invalid(`invalid filter 'dangling=${danglingValues.join(',')}'`);
    }
    const until = untilFilter(filters);
    return this.exclusive(async () => {
      const report: DeleteResponseItem[] = [];
      let reclaimed = 0;
      const sizes = new Map<string, number>();
      for (const rec of this.records.values()) chainIds(rec.diffIds).forEach((c, i) => sizes.set(c, rec.layerSizes[i] ?? 0));
      const candidates: ImageRecord[] = [];
      const kept = this.keptVersions();
      const keptReport: Array<{ Id: string; Reason: string }> = [];
      for (const rec of [...this.records.values()]) {
        if (rec.retained) continue;
        const refs = this.refsOf(rec.id);
        const why = kept.get(rec.id);
        if (why !== undefined && (refs.length === 0 || !danglingOnly)) {
          keptReport.push({ Id: rec.id, Reason: why });
          continue;
        }
        if (refs.length === 0 && this.children(rec.id).length > 0) continue;
        if (until !== undefined && rec.created !== '' && Date.parse(rec.created) > until) continue;
        if (!matchLabels(filters, (await this.configOf(rec.id)).config?.Labels ?? {})) continue;
        candidates.push(rec);
      }
      for (const rec of candidates) {
        if (!this.records.has(rec.id) || rec.retained) continue;
        const refs = this.refsOf(rec.id);
        const attempts: string[] = [];
        if (refs.length > 0) {
          const hasTag = refs.some((r) => !r.includes('@'));
          if (!danglingOnly || !hasTag) attempts.push(...refs);
        } else attempts.push(rec.id);
        for (const target of attempts) {
          try {
            report.push(...(await this.deleteLocked(target, false, true)));
          } catch (err) {
            if (isKind(err, 'conflict') || isKind(err, 'notFound')) continue;
            throw err;
          }
        }
      }
      for (const item of report) if ('Deleted' in item) reclaimed += sizes.get(item.Deleted) ?? 0;
      const result: PruneReport = { ImagesDeleted: report.length > 0 ? report : null, SpaceReclaimed: reclaimed };
      if (keptReport.length > 0) result.VersionsKept = keptReport;
      return result;
    });
  }

  async gc(): Promise<void> {
    await this.exclusive(async () => {
      for (const rec of [...this.records.values()]) {
        if (!rec.retained) continue;
        if ((await this.usageFn(rec.id)).any) continue;
        this.records.delete(rec.id);
        await rm(this.recordPath(rec.id), { force: true });
        await this.collect(rec);
      }
    });
  }

  // ---------------------------------------------------------------- internals

  /** Run one change at a time; a failed change does not block the next. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private recordPath(id: string): string {
    return join(this.metaDir, `${id.replace(/^sha256:/, '')}.json`);
  }

  private async saveRecord(rec: ImageRecord): Promise<void> {
    await writeJsonAtomic(this.recordPath(rec.id), rec);
  }

  private async saveRefs(): Promise<void> {
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
}

interface DeleteConflict {
  message: string;
  hard: boolean;
  /** The conflict is a container using the image. */
  used: boolean;
}

function deleteConflict(id: string, c: DeleteConflict): Error {
  return conflict(`conflict: unable to delete ${shortId(id)} (${c.hard ? 'cannot be forced' : 'must be forced'}) - ${c.message}`);
}

/** The key of a reference in `refs`: tag references get `latest`; `name:tag@digest` looks up by digest. */
function refKey(ref: Reference): string {
  if (ref.digest !== undefined) return referenceString({ domain: ref.domain, path: ref.path, digest: ref.digest });
  return referenceString(withDefaultTag(ref));
}

function repoOf(key: string): string {
  const r = parseReference(key);
  return `${r.domain}/${r.path}`;
}

function descriptorOf(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

/** Whether the user named the image by (a prefix of) its ID rather than by a reference. */
function isIdPrefix(id: string, s: string): boolean {
  return id.startsWith(s) || id.slice('sha256:'.length).startsWith(s);
}

/** All references in one repository with at most one tag (Docker's isSingleReference). */
function isSingleReference(refs: string[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  const repos = new Set<string>();
  let tags = 0;
  for (const r of refs) {
    repos.add(repoOf(r));
    if (!r.includes('@')) tags++;
  }
  return tags <= 1 && repos.size === 1;
}

