import type { ContentStore } from '../content/content.js';
import type { Image, ImageEvents, ImageIngester, ImageReader, ImageTagger } from '../images/images.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { AuthConfig } from './auth.js';
import type { LayerCache } from './layer-cache.js';
import type { ProgressSink } from './progress.js';

/**
 * The distribution part: pull images from and push them to registries that speak the OCI
 * distribution API.
 *
 * Pull fetches the manifest (OCI or Docker schema 2; an index or manifest list picks the
 * platform, skipping attestation manifests), then downloads the config and the layers
 * concurrently, each checked against its digest while it streams into the content store, and
 * unpacks each layer (gzip, zstd or plain, its DiffID checked while decompressing) from the
 * same bytes as they arrive, into its own snapshot, committed once its parent is (so in layer
 * order). Layers already present are skipped. A failed pull stores nothing it fetched and
 * moves no tag.
 *
 * Push uploads the layers the registry lacks (HEAD first, a cross-repository mount when the
 * layer was pushed to another repository of that registry, else an upload), then the config
 * and the manifest. Uncompressed local layers are gzip-compressed once (util/gzip.ts: igzip
 * when installed) into the content store, then uploaded; the compressed blob and its digest are
 * remembered (LayerCache), so the next push does not compress again. The blob goes with the
 * last image of its layer (LayerCache.collect); its digest stays as a hint for the registry.
 */

export interface PullOptions {
  /** `name[:tag|@digest]` as the user wrote it (a missing tag means `latest`). */
  reference: string;
  /** `os/arch[/variant]`; default the host's. */
  platform?: string;
  auth?: AuthConfig;
}

export interface PullResult {
  image: Image;
  /** The digest the registry answered for the reference (the index's when it was one). */
  digest: string;
  /** Whether the tag already pointed at this image. */
  upToDate: boolean;
}

export interface PushOptions {
  /** `name[:tag]`; without a tag every local tag of the repository is pushed. */
  reference: string;
  auth?: AuthConfig;
}

export interface PushedTag {
  tag: string;
  digest: string;
  size: number;
}

/** `GET /distribution/{name}/json`. */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Array<{ architecture: string; os: string; variant?: string; 'os.version'?: string }>;
}

export interface Distribution {
  pull(opts: PullOptions, progress: ProgressSink): Promise<PullResult>;
  /** Push; reports Docker's push messages and, per tag, the final `aux` with Tag, Digest and Size. */
  push(opts: PushOptions, progress: ProgressSink): Promise<PushedTag[]>;
  /** The registry's descriptor of a reference, and the platforms it offers. */
  inspect(reference: string, auth?: AuthConfig): Promise<DistributionInspect>;
  /** Check credentials against a registry (`POST /auth`); throws `unauthorized` when refused. */
  login(auth: AuthConfig): Promise<void>;
  /** The tags of a repository on its registry. */
  tags(repository: string, auth?: AuthConfig): Promise<string[]>;
}

/** The roles of the images part that pull and push use; `emit` is optional for tests. */
export type DistributionImages = Pick<ImageReader, 'resolve' | 'get' | 'list'> &
  Pick<ImageTagger, 'setTag'> &
  Pick<ImageIngester, 'lease' | 'createImage' | 'discardUnused'> &
  Partial<ImageEvents>;

/** What pull and push need from the other parts. */
export interface DistributionDeps {
  images: DistributionImages;
  content: ContentStore;
  snapshots: Snapshotter;
  layers: LayerCache;
  /** `insecure-registries` of the daemon configuration. */
  insecure: readonly string[];
  /** Layers downloaded at once (Docker: 3). */
  maxDownloads?: number;
  /** Layers uploaded at once (Docker: 5). */
  maxUploads?: number;
  /**
   * When given, a pull publishes its blobs and layers before they reach the disk and has
   * them flushed after it (src/daemon/flush-behind.ts); else each is flushed before it is
   * published.
   */
  flushLater?: FlushLater;
}

/** Blobs and layer snapshots published before they are on the disk. */
export interface Unflushed {
  /** Blob digests. */
  blobs: readonly string[];
  /** Chain IDs of layer snapshots. */
  chains: readonly string[];
}

/** Lets a pull publish its writes before they are flushed (see DistributionDeps.flushLater). */
export interface FlushLater {
  /**
   * Record `items` for a crash (see src/daemon/flush-behind.ts); resolves once that record
   * is on the disk, after which they may be published unflushed. Returns the function that
   * flushes them in the background: call it once, when the writes are done, failed or not.
   */
  hold(items: Unflushed): Promise<() => void>;
}
