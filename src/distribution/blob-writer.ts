import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsync, openSync, writeSync } from 'node:fs';
import type { BlobInfo } from '../content/content.js';
import { Writeback } from '../util/writeback.js';
import type { StoreTarget } from './unpack-protocol.js';

/** Writes a blob into its content-store file as it arrives, hashing it. */
export class BlobWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private closed = false;
  private finishing = false;

  /** A durable blob's data goes to the disk as it comes, not all at its fsync. */
  private readonly writeback: Writeback | undefined;

  constructor(private readonly target: StoreTarget) {
    this.fd = openSync(target.path, 'wx', 0o444);
    this.writeback = target.durable ? new Writeback(this.fd) : undefined;
  }

  write(chunk: Buffer): void {
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off);
    this.hash.update(chunk);
    this.size += chunk.length;
    this.writeback?.wrote(chunk.length);
  }

  /** The whole blob is written: fsync (off this thread) when durable, close, and tell. */
  finish(): Promise<BlobInfo> {
    this.finishing = true;
    this.writeback?.end();
    return new Promise((resolve, reject) => {
      const done = (err: Error | null): void => {
        this.closeFd();
        if (err) reject(err);
        else resolve({ digest: `sha256:${this.hash.digest('hex')}`, size: this.size });
      };
      if (this.target.durable) fsync(this.fd, done);
      else done(null);
    });
  }

  /** Close the file unless finish() is under way (it closes it). */
  close(): void {
    if (!this.finishing) this.closeFd();
  }

  private closeFd(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
