import { calls } from './libc.js';

/**
 * Early writeback for files that are written in a stream and synced at their end (a layer's
 * files, a pulled blob): their data is handed to the disk every WRITEBACK_BYTES as it is
 * written, so the sync at the end finds little left to write.
 */

/** How often (in bytes written) a streamed file's new data is handed to the disk. */
export const WRITEBACK_BYTES = 8 * 1024 * 1024;

/** sync_file_range(2)'s flag: start writing the range's dirty pages out, without waiting. */
const SYNC_FILE_RANGE_WRITE = 2;

/**
 * Start writing `nbytes` of `fd` from `offset` out to disk now, without waiting for it
 * (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). Errors are ignored: the later sync
 * reports what matters.
 */
export function startWriteback(fd: number, offset: number, nbytes: number): void {
  calls.sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE);
}

/** Counts what a streamed file got and hands each new WRITEBACK_BYTES of it to the disk. */
export class Writeback {
  private written = 0;
  private flushed = 0;

  constructor(private readonly fd: number) {}

  /** `bytes` more were written at the end of the file. */
  wrote(bytes: number): void {
    this.written += bytes;
    if (this.written - this.flushed >= WRITEBACK_BYTES) this.flush();
  }

  /** The file is complete: its tail goes too (when it was large enough to be flushed at all). */
  end(): void {
    if (this.flushed > 0 && this.written > this.flushed) this.flush();
  }

  private flush(): void {
    startWriteback(this.fd, this.flushed, this.written - this.flushed);
    this.flushed = this.written;
  }
}
