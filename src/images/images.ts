import type { Readable } from 'node:stream';
import type { Descriptor } from '../content/content.js';
import type {
  DeleteResponseItem,
  HistoryResponseItem,
  ImageInspect,
  ImageSummary,
  OciImage,
  OciManifest,
  PruneReport,
} from './types.js';

/**
 * The images part: image metadata, references (tags and digests) with their history,
 * import, load, save, history, inspect, delete and prune.
 *
 * An image is its config blob: its ID is `sha256:<hex>` of the config bytes, stored in the
 * content store with a manifest (OCI) that lists its layer blobs. Each layer is also unpacked
 * as a committed snapshot keyed by its chain ID. Images own the references to blobs and
 * snapshots: a blob or a snapshot is removed only when no image, no container (asked through
 * the `usage` callback) and no in-flight operation (a `Lease`) uses it.
 *
 * References are kept normalized (`docker.io/library/busybox:latest`) and shown in
 * Docker's familiar form (`busybox:latest`) everywhere they leave this part.
 */

/** Docker's list filters (`{"dangling":["true"]}`), as api/http.ts parses them. */
export type { Filters } from '../util/filters.js';
import type { Filters } from '../util/filters.js';

/** Why a tag moved. Every tag move records one (see `setTag`). */
export type TagCause = 'import' | 'load' | 'build' | 'pull' | 'tag' | 'commit' | 'rollback';

/** One move of a tag: the image it points to after the move (null when untagged) and before. */
export interface TagHistoryEntry {
  image: string | null;
  previous: string | null;
  /** RFC3339 with milliseconds. */
  time: string;
  cause: TagCause | 'untag';
}

/** One image a tag pointed to (pier's tag versions, `pier image versions`). */
export interface TagVersion {
  /** 1 for the first image the tag pointed to, 2 for the next: stable as the tag moves on. */
  version: number;
  /** The image ID. */
  image: string;
  /** When the tag last moved onto this image, and why. */
  time: string;
  cause: TagCause;
  /** The tag points to this image now. */
  current: boolean;
  /** The image is still stored (a version whose image was deleted cannot be rolled back to). */
  available: boolean;
  /** A previous version kept from pruning (one of the last `versionsKept` of its tag). */
  kept: boolean;
}

/** What a rollback did. */
export interface RollbackResult {
  reference: string;
  /** The image the tag pointed to before (null when it was untagged). */
  from: string | null;
  to: string;
  version: number;
}

/** An image as the rest of the engine sees it. Plain data: safe to keep, never mutated in place. */
export interface Image {
  /** `sha256:<64 hex>`: the digest of the config blob. */
  id: string;
  /** Familiar tags (`busybox:latest`, `localhost:5000/x:1`), sorted. */
  repoTags: string[];
  /** Familiar digest references (`busybox@sha256:…`), sorted. */
  repoDigests: string[];
  /** The image this one was built or committed from on this machine, or '' (Docker's `Parent`). */
  parent: string;
  /** The manifest blob in the content store. */
  manifest: Descriptor;
  /** The layer blobs of the manifest, in order (same length as `diffIds`). */
  layers: Descriptor[];
  /** `rootfs.diff_ids` of the config. */
  diffIds: string[];
  /** Chain ID of each layer prefix; the last is the top layer's (see `topChainId`). */
  chainIds: string[];
  /** Disk usage of each layer's snapshot, bytes (same order as `diffIds`). */
  layerSizes: number[];
  /** Sum of `layerSizes`. */
  size: number;
  /** `created` of the config (RFC3339), or '' when the config has none. */
  created: string;
  /** When this engine stored the image (RFC3339). */
  addedAt: string;
  /** When a tag last moved onto this image (RFC3339), or '' if never. */
  lastTagTime: string;
  os: string;
  architecture: string;
  variant?: string;
}

/** What the containers part tells images about one image ID. */
export interface ImageUsage {
  /** Some container (in any state) uses the image. */
  any: boolean;
  /** Some running (or paused, restarting) container uses it. */
  running: boolean;
  /** The containers using it, running ones first (full IDs). */
  containerIds: string[];
}
export type ImageUsageFn = (imageId: string) => ImageUsage | Promise<ImageUsage>;

/** Docker's image events; the events part adds `time`, `timeNano` and `scope`. */
export interface ImageEvent {
  Type: 'image';
  Action: 'tag' | 'untag' | 'delete' | 'import' | 'load' | 'save' | 'pull' | 'push';
  Actor: { ID: string; Attributes: Record<string, string> };
}
export type ImageEventFn = (event: ImageEvent) => void;

/** A layer unpacked and stored by `ingestLayer`. */
export interface IngestedLayer {
  /** The uncompressed layer blob (`application/vnd.oci.image.layer.v1.tar`, digest = diffId). */
  descriptor: Descriptor;
  diffId: string;
  chainId: string;
  /** Disk usage of the new snapshot, bytes. */
  size: number;
}

export interface CreateImageOptions {
  /** A new config: written as a blob (JSON.stringify) and hashed to give the image ID. */
  config?: OciImage;
  /** Or a config blob already in the content store (pull, load): its exact bytes stay the ID. */
  configDigest?: string;
  /** The layer blobs, already in the content store, in the order of `rootfs.diff_ids`. */
  layers: Descriptor[];
  /**
   * A manifest blob already in the content store (pull: its digest becomes a repo digest).
   * When absent an OCI manifest is written for `config` and `layers`.
   */
  manifest?: Descriptor;
  /** The local parent image (commit, build), recorded as Docker's `Parent`. */
  parent?: string;
}

export interface ImportOptions {
  /** `repo` and `tag` query parameters: the tag to set (none when repo is empty). */
  repo?: string;
  tag?: string;
  /** Comment recorded in the config and history (default `Imported from -`). */
  message?: string;
  /** Dockerfile-like lines applied to the config (CMD, ENV, ...). */
  changes?: string[];
  /** `os[/arch[/variant]]`; default the host's. */
  platform?: string;
}

export interface LoadedImage {
  id: string;
  /** Familiar tags set by the load (empty when the archive names none). */
  tags: string[];
  /** Tags that pointed at another image before the load, with that image's ID. */
  replaced: Array<{ tag: string; previous: string }>;
}

export interface ListOptions {
  all?: boolean;
  filters?: Filters;
}

export interface DeleteOptions {
  force?: boolean;
  /** Keep untagged parent images (default: they are pruned with the child). */
  noprune?: boolean;
}

/**
 * Something that keeps blobs and snapshots alive while an operation (load, pull, build,
 * commit) assembles an image from them. Release it once the image is created (or the
 * operation failed); release is idempotent.
 */
export interface Lease {
  addBlob(digest: string): void;
  addSnapshot(chainId: string): void;
  release(): void;
}

/**
 * Reading images: lookups, and the answers of `docker images`, `inspect`, `history` and
 * `save`. Nothing here changes a record or a tag.
 */
export interface ImageReader {
  /**
   * Find an image the way Docker does: a full ID (`sha256:<hex>` or 64 hex), then a reference
   * (`busybox` = `busybox:latest`, `x@sha256:…`), then a unique ID prefix (`3f57d9`,
   * `sha256:3f57`). Throws `notFound('No such image: <name>')` (the name in familiar form)
   * and `invalid` for a malformed reference.
   */
  resolve(nameOrId: string): Promise<Image>;
  /** The image with this full ID (`sha256:<hex>`); throws notFound. */
  get(id: string): Promise<Image>;
  /** All images (without the ones kept only for containers after a forced delete). */
  list(): Promise<Image[]>;
  /** The chain ID of the top layer: the parent of a container's writable snapshot; null for an image without layers. */
  topChainId(image: Image): string | null;
  /** The parsed config blob (read from the content store, validated): a copy the caller may change. */
  config(image: Image): Promise<OciImage>;
  /** The parsed manifest blob. */
  manifest(image: Image): Promise<OciManifest>;
  /** `GET /images/{name}/history`. */
  history(nameOrId: string): Promise<HistoryResponseItem[]>;
  /** `GET /images/{name}/json` in the newest API's shape, `Config` as stored (src/api/ shapes it per version). */
  inspect(nameOrId: string): Promise<ImageInspect>;
  /** `GET /images/json` in the newest API's shape. Throws `invalid` for unknown filter keys. */
  summaries(opts: ListOptions): Promise<ImageSummary[]>;
  /**
   * `docker save`: resolves every name first (throws notFound before any byte is written),
   * then returns the archive as a stream (Docker 25+ layout plus `manifest.json` and
   * `repositories`). A repository name without a tag saves all its tags. Emits `save`.
   */
  save(names: string[]): Promise<Readable>;
}

/** Tags and their versions: every move of a tag, its history, and rollbacks. */
export interface ImageTagger {
  /**
   * Point `reference` (a tag; no tag means `latest`; or a digest reference, recorded as a repo
   * digest) at `imageId`. The one function through which every tag move passes: each move of
   * a tag is appended to its history with `cause`, and emits a `tag` event. Moving a tag away
   * from an image leaves that image dangling (it is not deleted). Throws `invalid` for a bad
   * reference, `notFound` for an unknown image.
   */
  setTag(reference: string, imageId: string, cause: TagCause): Promise<void>;
  /**
   * Remove a tag or digest reference; records the untag in the tag's history and emits
   * `untag`. Returns the image it pointed to. Throws notFound when the reference is not set.
   */
  removeTag(reference: string): Promise<string>;
  /** Every recorded move of one tag, oldest first (empty when it never existed). */
  tagHistory(reference: string): TagHistoryEntry[];
  /**
   * The distinct images a tag pointed to, newest version first (see TagVersion). notFound
   * when the tag has no history.
   */
  versions(reference: string): TagVersion[];
  /**
   * Move a tag back to an image it pointed to, recorded as a move with cause `rollback`.
   * Without `to`: the version before the current one, walking back further on each rollback
   * (rolling back twice from the third version reaches the first). `to` is a version number
   * or an image ID (prefix). Throws notFound when there is no such version (or its image was
   * deleted), conflict when the tag already points there.
   */
  rollback(reference: string, to?: string): Promise<RollbackResult>;
}

/**
 * Ingest: layers and images enter the store. An operation that assembles an image holds a
 * lease on what it stored until the image exists; nothing here moves a tag except `importImage`
 * and `load`, which set the tags their request names.
 */
export interface ImageIngester {
  /** A new lease (see Lease). */
  lease(): Lease;
  /**
   * Unpack a layer tar (plain or gzip, detected by its bytes) on top of the chain `parent`
   * and store its uncompressed bytes as a blob in the same pass (never buffered). With
   * `expectedDiffId`, a layer that hashes otherwise fails with `invalid`. The result is leased
   * to `lease` when given, so a concurrent delete cannot remove it before the image that uses
   * it exists.
   */
  ingestLayer(parent: string | null, tar: Readable, opts?: { lease?: Lease; expectedDiffId?: string }): Promise<IngestedLayer>;
  /**
   * Record an image whose config, layer blobs and snapshots are in place: writes the config
   * blob (when given as an object) and an OCI manifest (when none is given), checks that the
   * layers match `rootfs.diff_ids` and that every snapshot exists. Idempotent: creating an
   * image that exists returns it unchanged. Sets no tag (call `setTag`).
   */
  createImage(opts: CreateImageOptions): Promise<Image>;
  /**
   * Remove blobs and snapshots left by a failed or finished operation, unless an image or a
   * lease uses them (the caller releases its own lease first). Snapshots go top first.
   */
  discardUnused(blobs: readonly string[], chains: readonly string[]): Promise<void>;
  /** `docker import`: one layer from a rootfs tar, a new config; tags repo:tag when repo is given. Emits `import`. */
  importImage(rootfs: Readable, opts: ImportOptions): Promise<Image>;
  /**
   * `docker load`: read a `docker save` archive (Docker 25+ OCI layout or the older layout),
   * verify every blob and layer, then set the tags. A broken archive throws `invalid` and
   * changes no tag; `onLoaded` is told about each image once everything is verified. Emits `load`.
   */
  load(archive: Readable, onLoaded?: (image: LoadedImage) => void): Promise<LoadedImage[]>;
}

/** Removal: `docker rmi`, `docker image prune`, and the layers containers kept alive. */
export interface ImageRemover {
  /**
   * `docker rmi` with Docker's semantics: a tag is untagged while other references remain;
   * the image is deleted when its last reference goes or when it is addressed by ID. Conflicts
   * (409): referenced in several repositories (without force), used by a container (without
   * force), used by a running container or having child images (even with force).
   */
  delete(nameOrId: string, opts?: DeleteOptions): Promise<DeleteResponseItem[]>;
  /** `POST /images/prune`: dangling images (or, with `dangling=false`, all unused ones); previous versions of tags are kept. */
  prune(filters: Filters): Promise<PruneReport>;
  /**
   * Remove the layers of images deleted while a container still used them, once no container
   * does. The containers part calls it after removing a container; cheap when nothing is left.
   */
  gc(): Promise<void>;
}

/** Events about images that another part causes (distribution's `pull` and `push`). */
export interface ImageEvents {
  /** Emit an image event with the image's labels and `name`, as Docker's LogImageEvent does. */
  emit(action: ImageEvent['Action'], id: string, name: string): Promise<void>;
}

/**
 * The whole images part, composed of its roles as containerd composes its content `Store`.
 * A caller depends on the roles it uses; only the daemon holds the whole.
 */
export interface ImageService extends ImageReader, ImageTagger, ImageIngester, ImageRemover, ImageEvents {
  /** Set the callback that tells which containers use an image (the containers part is built after images). */
  setUsage(usage: ImageUsageFn): void;
}
