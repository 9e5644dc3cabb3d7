import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errnoCode, internal, invalid, notFound } from '../errors.js';
import { fsyncDir } from '../util/fs.js';
import { Writeback } from '../util/writeback.js';
import type { BlobInfo, ContentStore, IngestOptions, IngestTarget } from './content.js';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

/** The hex part of a `sha256:<64 hex>` digest; `invalid` for anything else. */
export function digestHex(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw invalid(`invalid digest ${JSON.stringify(digest)}: want sha256:<64 hex digits>`);
  return m[1]!;
}

/**
 * The content store on the local disk: `<root>/content/blobs/sha256/<hex>`, written through
 * temp files in `<root>/content/ingest/`. A blob file is complete and verified the moment it
 * exists under its digest; a failed or aborted ingest leaves no file behind (a crash may leave
 * a temp file in ingest/, which `cleanIngest()` removes and which is never read).
 */
export class LocalContentStore implements ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(root: string) {
    this.blobsDir = join(root, 'content', 'blobs', 'sha256');
    this.ingestDir = join(root, 'content', 'ingest');
  }

  async path(digest: string): Promise<string> {
    const p = this.blobPath(digest);
    try {
      await stat(p);
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
    return p;
  }

  async has(digest: string): Promise<boolean> {
    const p = this.blobPath(digest);
    try {
      await stat(p);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async info(digest: string): Promise<BlobInfo> {
    const p = this.blobPath(digest);
    try {
      const st = await stat(p);
      return { digest, size: st.size };
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  async read(digest: string): Promise<Buffer> {
    const p = this.blobPath(digest);
    try {
      return await readFile(p);
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  /** Opens the blob before returning, so a missing blob fails here with notFound, not later on the stream. */
  async createReadStream(digest: string): Promise<Readable> {
    const p = this.blobPath(digest);
    try {
      const fh = await open(p, 'r');
      return fh.createReadStream();
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  /**
   * Store a stream. Hashes while writing to a temp file, checks the expected size (as soon as
   * it is exceeded) and digest, fsyncs (unless `durable: false`), and renames into place. On
   * any failure, including an
   * error of the source, the temp file is removed and the error reaches the caller: `invalid`
   * for a size or digest mismatch, the source's own error otherwise. Storing a blob that is
   * already there is not an error (the bytes are the same by definition).
   */
  async ingest(source: Readable | AsyncIterable<Uint8Array>, opts: IngestOptions = {}): Promise<BlobInfo> {
    const target = await this.prepareIngest(opts);
    const label = opts.expectedDigest ?? 'blob';
    const hash = createHash('sha256');
    let size = 0;
    try {
      const fh = await open(target.path, 'wx', 0o444);
      // A durable blob's data goes to the disk as it comes, not all at its fsync.
      const writeback = opts.durable !== false ? new Writeback(fh.fd) : undefined;
      try {
        for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += buf.byteLength;
          if (opts.expectedSize !== undefined && size > opts.expectedSize) {
            throw invalid(`${label}: size mismatch: more than the expected ${opts.expectedSize} bytes`);
          }
          hash.update(buf);
          await fh.write(buf);
          writeback?.wrote(buf.byteLength);
        }
        writeback?.end();
        if (opts.durable !== false) await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      // Leaving the loop early has already destroyed the source (async iteration does).
      await target.discard();
      throw err;
    }
    return target.commit({ digest: `sha256:${hash.digest('hex')}`, size });
  }

  async prepareIngest(opts: IngestOptions = {}): Promise<IngestTarget> {
    if (opts.expectedDigest !== undefined) digestHex(opts.expectedDigest);
    const label = opts.expectedDigest ?? 'blob';
    await mkdir(this.ingestDir, { recursive: true });
    const tmp = join(this.ingestDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    let used = false;
    const once = (): void => {
      if (used) throw internal(`ingest of ${label}: committed or discarded twice`);
      used = true;
    };
    return {
      path: tmp,
      commit: async ({ digest, size }) => {
        once();
        let renamed = false;
        try {
          if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
            throw invalid(`${label}: size mismatch: expected ${opts.expectedSize} bytes, got ${size}`);
          }
          if (opts.expectedDigest !== undefined && digest !== opts.expectedDigest) {
            throw invalid(`${label}: digest mismatch: content hashes to ${digest}`);
          }
          await mkdir(this.blobsDir, { recursive: true });
          await rename(tmp, this.blobPath(digest));
          renamed = true;
          if (opts.durable !== false) await fsyncDir(this.blobsDir);
          return { digest, size };
        } finally {
          if (!renamed) await rm(tmp, { force: true });
        }
      },
      discard: async () => {
        once();
        await rm(tmp, { force: true });
      },
    };
  }

  async put(data: Uint8Array | string, opts?: IngestOptions): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.ingest(Readable.from([buf]), opts);
  }

  async delete(digest: string): Promise<void> {
    const p = this.blobPath(digest);
    try {
      await unlink(p);
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  async sync(digest: string): Promise<void> {
    let fh;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return; // removed since
      throw err;
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(this.blobsDir);
  }

  async verify(digest: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(this.blobPath(digest), { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
    return `sha256:${hash.digest('hex')}` === digest;
  }

  async list(): Promise<BlobInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.blobsDir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const out: BlobInfo[] = [];
    for (const name of names.sort()) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      try {
        const st = await stat(join(this.blobsDir, name));
        out.push({ digest: `sha256:${name}`, size: st.size });
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err; // deleted while listing
      }
    }
    return out;
  }

  /** Remove temp files that a crash left in ingest/. Call at daemon start, before any ingest. */
  async cleanIngest(): Promise<void> {
    await rm(this.ingestDir, { recursive: true, force: true });
  }

  private blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }

  private mapMissing(err: unknown, digest: string): unknown {
    if (errnoCode(err) === 'ENOENT') return notFound(`blob ${digest} not found`, err);
    return err;
  }
}
