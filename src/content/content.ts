import type { Readable } from 'node:stream';

/**
 * The content store: blobs addressed by their sha256 digest (`sha256:<hex>`), stored under
 * `<root>/content/blobs/sha256/<hex>`. It knows nothing of who uses a blob (images keep
 * the references; garbage collection asks them). Every write is verified and atomic: a blob
 * appears under its digest only once its bytes hash to it.
 */

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface IngestOptions {
  /** When given, the content must hash to it, or ingest fails with `invalid` and stores nothing. */
  expectedDigest?: string;
  expectedSize?: number;
  /**
   * false: no fsync, for a blob that can be made again (a layer compressed for a push), or
   * that is flushed later (`sync`, a pull's: src/daemon/flush-behind.ts). After a power loss
   * such a blob may be cut short: whoever reads it again checks its digest.
   */
  durable?: boolean;
}

/**
 * A blob written by someone else (an unpack worker thread, which hashes and writes it as it
 * streams): `path` names a new file in the store's ingest folder for the writer to create
 * (exclusively, mode 0444) and to fsync when the ingest is durable. `commit` checks the size
 * and digest the writer measured against the expected ones and renames the file into place
 * (`invalid` on a mismatch, which removes the file); `discard` removes it. Exactly one of
 * them is called, once the writer has closed the file.
 */
export interface IngestTarget {
  readonly path: string;
  commit(written: BlobInfo): Promise<BlobInfo>;
  discard(): Promise<void>;
}

export interface ContentStore {
  /** Path of a stored blob on disk (for streaming readers); throws notFound. */
  path(digest: string): Promise<string>;
  has(digest: string): Promise<boolean>;
  info(digest: string): Promise<BlobInfo>;
  /** The whole blob, for small ones (manifests, configs). */
  read(digest: string): Promise<Buffer>;
  createReadStream(digest: string): Promise<Readable>;
  /** Store a stream; hashes while writing, verifies, renames into place. */
  ingest(source: Readable | AsyncIterable<Uint8Array>, opts?: IngestOptions): Promise<BlobInfo>;
  /** A file for a blob another thread writes (see IngestTarget). */
  prepareIngest(opts?: IngestOptions): Promise<IngestTarget>;
  /** Store a small blob held in memory. */
  put(data: Uint8Array | string, opts?: IngestOptions): Promise<BlobInfo>;
  delete(digest: string): Promise<void>;
  list(): Promise<BlobInfo[]>;
  /** Flush a blob stored with `durable: false` to the disk (its data and its folder); a missing one is nothing to do. */
  sync(digest: string): Promise<void>;
  /** Whether a stored blob still hashes to its digest (notFound when absent). */
  verify(digest: string): Promise<boolean>;
}
