import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/content.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { Filters } from '../util/filters.js';
import { discardUnused, gc } from './gc.js';
import type {
  CreateImageOptions,
  DeleteOptions,
  Image,
  ImageEvent,
  ImageService,
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
import { createImage, createLease, ingestLayer } from './ingest.js';
import { historyOf, inspectOf, summariesOf } from './inspect.js';
import { loadArchive } from './load.js';
import { ImageRecords, type ImageRecordsOptions } from './records.js';
import { fullImageId, parseReference } from './reference.js';
import { deleteLocked, prune } from './remove.js';
import { refKey, resolveRecord } from './resolve.js';
import { saveArchive } from './save.js';
import { removeRefLocked, rollback, setTagLocked, tagHistory, versions } from './tags.js';
import { ManifestSchema, parseJsonAs, type DeleteResponseItem, type HistoryResponseItem, type ImageInspect, type ImageSummary, type OciImage, type OciManifest, type PruneReport } from './types.js';
import { notFound } from '../errors.js';

/**
 * The images part on the local disk: the roles of images.ts over one set of records
 * (records.ts), each operation in the file of its concern (resolve, tags, ingest, remove,
 * gc, load, save, import, inspect). This class only wires them and owns no logic of its own.
 */

export type LocalImageServiceOptions = ImageRecordsOptions;

export class LocalImageService implements ImageService {
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  private readonly state: ImageRecords;

  constructor(opts: LocalImageServiceOptions) {
    this.state = new ImageRecords(opts);
    this.content = opts.content;
    this.snapshots = opts.snapshots;
  }

  /** Load the records and references from disk. Call once before use. */
  init(): Promise<void> {
    return this.state.init();
  }

  setUsage(usage: ImageUsageFn): void {
    this.state.usage = usage;
  }

  // ---- ImageReader

  resolve(nameOrId: string): Promise<Image> {
    // A throw in the executor (notFound, invalid) rejects the promise.
    return new Promise((resolve) => resolve(this.state.toImage(resolveRecord(this.state, nameOrId))));
  }

  get(id: string): Promise<Image> {
    const rec = this.state.live(fullImageId(id));
    if (!rec) return Promise.reject(notFound(`No such image: ${id}`));
    return Promise.resolve(this.state.toImage(rec));
  }

  list(): Promise<Image[]> {
    return Promise.resolve([...this.state.records.values()].filter((r) => !r.retained).map((r) => this.state.toImage(r)));
  }

  topChainId(image: Image): string | null {
    return image.chainIds.at(-1) ?? null;
  }

  async config(image: Image): Promise<OciImage> {
    // A copy: callers may edit it (commit, build) without touching the cache.
    return structuredClone(await this.state.configOf(image.id));
  }

  async manifest(image: Image): Promise<OciManifest> {
    return parseJsonAs(ManifestSchema, await this.content.read(image.manifest.digest), `manifest of ${image.id}`);
  }

  async history(nameOrId: string): Promise<HistoryResponseItem[]> {
    return historyOf(this, await this.resolve(nameOrId));
  }

  async inspect(nameOrId: string): Promise<ImageInspect> {
    const image = await this.resolve(nameOrId);
    return inspectOf(image, await this.config(image), (chain) => this.state.snapshotDir(chain));
  }

  async summaries(opts: ListOptions): Promise<ImageSummary[]> {
    return summariesOf(this, (id) => this.state.children(id), opts);
  }

  async save(names: string[]): Promise<Readable> {
    return saveArchive(this, names);
  }

  // ---- ImageTagger

  async setTag(reference: string, imageId: string, cause: TagCause): Promise<void> {
    await this.state.exclusive(() => setTagLocked(this.state, parseReference(reference), imageId, cause));
  }

  async removeTag(reference: string): Promise<string> {
    return this.state.exclusive(() => removeRefLocked(this.state, refKey(parseReference(reference))));
  }

  tagHistory(reference: string): TagHistoryEntry[] {
    return tagHistory(this.state, reference);
  }

  versions(reference: string): TagVersion[] {
    return versions(this.state, reference);
  }

  rollback(reference: string, to?: string): Promise<RollbackResult> {
    return rollback(this.state, reference, to);
  }

  // ---- ImageIngester

  lease(): Lease {
    return createLease(this.state);
  }

  ingestLayer(parent: string | null, tar: Readable, opts?: { lease?: Lease; expectedDiffId?: string }): Promise<IngestedLayer> {
    return ingestLayer(this.state, parent, tar, opts);
  }

  createImage(opts: CreateImageOptions): Promise<Image> {
    return createImage(this.state, opts);
  }

  discardUnused(blobs: readonly string[], chains: readonly string[]): Promise<void> {
    return discardUnused(this.state, blobs, chains);
  }

  async importImage(rootfs: Readable, opts: ImportOptions): Promise<Image> {
    return importImage(this, rootfs, opts);
  }

  async load(archive: Readable, onLoaded?: (image: LoadedImage) => void): Promise<LoadedImage[]> {
    return loadArchive(this, archive, onLoaded);
  }

  // ---- ImageRemover

  async delete(nameOrId: string, opts: DeleteOptions = {}): Promise<DeleteResponseItem[]> {
    return this.state.exclusive(() => deleteLocked(this.state, nameOrId, opts.force ?? false, !(opts.noprune ?? false)));
  }

  prune(filters: Filters): Promise<PruneReport> {
    return prune(this.state, filters);
  }

  gc(): Promise<void> {
    return gc(this.state);
  }

  // ---- ImageEvents

  emit(action: ImageEvent['Action'], id: string, name: string): Promise<void> {
    return this.state.emit(action, id, name);
  }
}
