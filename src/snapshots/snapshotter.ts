import type { Readable } from 'node:stream';
import type { IdMap } from '../util/idmap.js';

/**
 * Snapshots: unpacked layers on disk, and writable layers for containers, on overlayfs.
 *
 * A committed snapshot is one layer's files, keyed by the chain ID of the layers up to it
 * (`ChainID(L0) = DiffID(L0)`, `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))`),
 * stored at `<root>/snapshots/<chain hex>/fs` with its parent recorded. Layers shared between
 * images are stored once. An active snapshot is a writable upper layer over a committed chain
 * (a container's rootfs, or a build step's), keyed by a caller-chosen key.
 */

export interface OverlayMount {
  /** Lower dirs, top-most first (overlayfs order). Empty for an image with no layers. */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
}

export interface AppliedLayer {
  diffId: string; // sha256 of the uncompressed tar
  chainId: string;
  size: number; // bytes of the uncompressed tar
}

export interface ApplyOptions {
  /**
   * Settles once the parent snapshot is committed (typically the parent's own `applyLayer`).
   * The tar is unpacked at once all the same (the chain ID follows from the parent's chain ID
   * alone); the parent's files are consulted only once it is ready: folders the tar implies
   * without listing them take the parent chain's mode, owner and times at the end, and a hard
   * link to a file only the parent chain has waits for it (the tar stream waits meanwhile).
   * The snapshot is committed only after the parent, so a committed snapshot's parent always
   * exists. When `parentReady` rejects, the tar stream is destroyed with its reason, the
   * apply fails with that reason and leaves nothing behind.
   */
  parentReady?: Promise<unknown>;
  /**
   * false: the snapshot is committed without waiting for its files to reach the disk; the
   * caller flushes it later with `sync` (and has recorded it for a crash meanwhile: see
   * src/daemon/flush-behind.ts). Default true: flushed before it is committed.
   */
  durable?: boolean;
}

/**
 * A layer that unpacks itself somewhere else than in the caller's thread (the pull's workers,
 * src/distribution/unpack-worker.ts), for `applyLayer`. Whoever implements it keeps the
 * promises of `extractLayer`: containment, whiteouts, hard links, metadata, the DiffID of the
 * uncompressed tar.
 */
export interface LayerSource {
  /**
   * Unpack the layer into `dest` (an existing empty folder) as `extractLayer(tar, dest, lowers)`
   * does; with `dest` null only read it through, for its DiffID and size. Called at most once.
   * Settles only once `lowers` has, and fails with its reason when it rejects.
   */
  unpack(dest: string | null, lowers: Promise<readonly string[]>): Promise<{ diffId: string; size: number }>;
  /** Give up: the layer will not be (or no longer be) unpacked; a running `unpack` fails with `err`. */
  destroy(err?: Error): void;
}

/** Whether a layer given to `applyLayer` is a LayerSource (else a tar stream). */
export function isLayerSource(tar: Readable | LayerSource): tar is LayerSource {
  return typeof (tar as Partial<LayerSource>).unpack === 'function';
}

/** What `diff` and `changes` leave out of a writable layer. */
export interface DiffOptions {
  /**
   * Mount points the runtime makes in a container's writable layer (`/etc/hosts`,
   * `/sbin/docker-init`, ...). One that is an empty regular file the parent chain does not
   * have is left out, with each folder above it that holds nothing else and that the parent
   * chain has alike (mode, owner) or not at all: Docker keeps these in an init layer, so
   * neither its commits nor its `docker diff` show them.
   */
  placeholders?: readonly string[];
}

export interface MountOptions {
  idmap?: IdMap;
}

/**
 * How a container with a user namespace sees the image's layers through its mapping:
 * `idmap`, idmapped mounts of the layers (Linux 5.19 on a filesystem that idmaps mounts);
 * `copy`, chown'd copies of the layers, one per layer and mapping, shared by every container
 * of that mapping and removed with the last one; `auto`, idmapped mounts where a probe (made
 * once) finds them working, else copies.
 */
export type UsernsLayers = 'auto' | 'idmap' | 'copy';

export interface Snapshotter {
  /**
   * Unpack an uncompressed layer tar on top of the chain `parent` (null for the base layer),
   * creating the committed snapshot for the resulting chain ID. Computes the DiffID while
   * reading and, when `expectedDiffId` is given, fails with `invalid` on a mismatch leaving
   * nothing behind. Idempotent: when the snapshot already exists the stream is drained and
   * the existing one returned. Contained: no entry of the tar (`..`, absolute paths,
   * symlinks or hard links pointing out) writes outside the snapshot. Whiteouts
   * (`.wh.<name>`, `.wh..wh..opq`) become overlayfs whiteouts (char 0/0, `trusted.overlay.opaque`).
   *
   * Without `opts.parentReady` the parent must be committed already (notFound otherwise).
   * With it, see `ApplyOptions`: the layer unpacks while its parent is still being applied.
   * `tar` may also be a LayerSource, which unpacks itself (elsewhere) with the same promises.
   */
  applyLayer(parent: string | null, tar: Readable | LayerSource, expectedDiffId?: string, opts?: ApplyOptions): Promise<AppliedLayer>;
  /** Flush a snapshot committed with `durable: false` to the disk; a missing one is nothing to do. */
  sync(chainId: string): Promise<void>;
  /** Whether the committed snapshot for a chain exists. */
  has(chainId: string): Promise<boolean>;
  /** Disk usage of one committed snapshot, in bytes (sizes of its files, each inode once). notFound when absent. */
  usage(chainId: string): Promise<number>;
  /**
   * Remove a committed snapshot (the caller knows no image and no container uses it).
   * `conflict` while a child snapshot or a writable layer is built on it; notFound when absent.
   */
  remove(chainId: string): Promise<void>;
  /** All committed snapshots. */
  list(): Promise<Array<{ chainId: string; parent: string | null }>>;

  /**
   * Create a writable layer `key` (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 128 characters) over
   * the chain `parent`; returns the overlay to mount. `conflict` when `key` exists, notFound
   * when `parent` does not. Its root dir takes the mode and owner of the image's root.
   */
  prepare(key: string, parent: string | null): Promise<OverlayMount>;
  /** The overlay of an existing writable layer (notFound when absent). */
  mounts(key: string): Promise<OverlayMount>;
  /**
   * Mount the writable layer `key` at `target` (overlayfs; a bind of upper when there are no
   * lowers). With `idmap`, for a container in a user namespace: the image's layers are seen
   * through the mapping (a file owned by 0 in the image is owned by `idmap.uid` on the host),
   * and the layer's root folder takes the mapped owner of the image's root; what is written
   * lands with its host IDs. The layers are idmapped mounts or chown'd copies (see
   * UsernsLayers); a copy is made at the first mount through a mapping and kept, recorded
   * with the writable layer, until the last writable layer mounted through that mapping is
   * removed (`removeActive`), or its layer is (`remove`). `unavailable` where idmapped layers
   * are asked for (`idmap`) and the host cannot idmap them.
   */
  mount(key: string, target: string, opts?: MountOptions): Promise<void>;
  /** Unmount `target`; nothing happens when it is not mounted. */
  unmount(target: string): Promise<void>;
  /**
   * The changes of the writable layer `key` against its parent as an OCI layer tar stream
   * (deleted files as `.wh.` entries, opaque dirs as `.wh..wh..opq`). Used by commit and build.
   * Entries come in sorted order with whole-second mtimes, so the same changes give the same
   * DiffID. Take it while the container is stopped or paused. A missing `key` fails the stream
   * with notFound.
   */
  diff(key: string, opts?: DiffOptions): Readable;
  /** Files added (1), changed (0) and deleted (2) in `key`, sorted by path (for `GET /containers/{id}/changes`). */
  changes(key: string, opts?: DiffOptions): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>>;
  /** Bytes used by the writable layer. */
  activeUsage(key: string): Promise<number>;
  /** Remove a writable layer: notFound when absent, `conflict` while it is mounted (unmount first). */
  removeActive(key: string): Promise<void>;
}

export { chainIds } from './chain.js';
