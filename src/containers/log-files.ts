import { createReadStream } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode } from '../errors.js';
import { gunzip } from '../util/gzip.js';

/**
 * A container's log on disk: the files conmon writes and pier keeps, all named after the log
 * path P (`<root>/containers/<id>/ctr.log`):
 *
 *   P          the file conmon writes now
 *   P.<n>      every file conmon has written, by generation n (1, 2, ...): a hard link to P
 *              while conmon writes it, the file itself once conmon has moved on
 *   P.<n>.gz   a generation compressed once conmon no longer writes it
 *   P.ready    the next file, made ready and empty, also linked as P.tmp: conmon's rotation
 *              (`--log-size-max`) opens P.tmp and renames it over P; once conmon has moved to
 *              it, it gets the next generation and P.ready goes
 *
 * Generations are given in the order conmon wrote the files, so a higher one holds later
 * output. This file names, lists and opens them; log-rotation.ts makes them; log-walk.ts
 * reads them.
 */

export const NEXT_SUFFIX = '.tmp';
export const READY_SUFFIX = '.ready';

export interface Generation {
  gen: number;
  path: string;
  compressed: boolean;
}

export function generationPath(logPath: string, gen: number, compressed = false): string {
  return `${logPath}.${gen}${compressed ? '.gz' : ''}`;
}

/** The generation a file name in the log's folder stands for; undefined for any other file. */
export function parseGeneration(logName: string, name: string): { gen: number; compressed: boolean } | undefined {
  if (!name.startsWith(`${logName}.`)) return undefined;
  const m = /^([1-9]\d*)(\.gz)?$/.exec(name.slice(logName.length + 1));
  return m ? { gen: Number(m[1]), compressed: m[2] !== undefined } : undefined;
}

/**
 * The generations on disk, oldest first. A generation present both plain and compressed (its
 * compression just finished) is listed plain. No folder: none.
 */
export async function listGenerations(logPath: string): Promise<Generation[]> {
  let names: string[];
  try {
    names = await readdir(dirname(logPath));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const logName = basename(logPath);
  const byGen = new Map<number, Generation>();
  for (const name of names) {
    const g = parseGeneration(logName, name);
    if (!g) continue;
    const known = byGen.get(g.gen);
    if (known && !known.compressed) continue;
    byGen.set(g.gen, { gen: g.gen, path: join(dirname(logPath), name), compressed: g.compressed });
  }
  return [...byGen.values()].sort((a, b) => a.gen - b.gen);
}

/** One file of a log, open for reading: it stays readable once opened, whatever happens to its name. */
export interface LogSource {
  /** The file's inode (a compressed generation: its compressed file's). */
  readonly ino: number;
  /** Its generation; undefined for the file conmon writes before pier has named it. */
  gen: number | undefined;
  readonly compressed: boolean;
  /** Its (uncompressed) size now; for a compressed file, from its gzip trailer (modulo 4 GiB). */
  size(): Promise<number>;
  /** Read into `buf` from `position` of its (uncompressed) content; 0 at its end. */
  read(buf: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

class PlainSource implements LogSource {
  readonly compressed = false;
  constructor(
    private readonly fh: FileHandle,
    readonly ino: number,
    public gen: number | undefined,
  ) {}

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  async read(buf: Buffer, position: number): Promise<number> {
    return (await this.fh.read(buf, 0, buf.length, position)).bytesRead;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/**
 * A compressed generation, decompressed as it is read: reads move forward through one gunzip
 * stream (a read behind it starts the stream again), so a file is never held in memory whole.
 */
class CompressedSource implements LogSource {
  readonly compressed = true;
  private chunks: AsyncIterator<Buffer> | undefined;
  private stream: Readable | undefined;
  private pending: Buffer = Buffer.alloc(0);
  /** Content offset of the first byte of `pending`. */
  private at = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly ino: number,
    public gen: number | undefined,
  ) {}

  async size(): Promise<number> {
    const { size } = await this.fh.stat();
    if (size < 18) return 0;
    const trailer = Buffer.alloc(4);
    await this.fh.read(trailer, 0, 4, size - 4);
    return trailer.readUInt32LE(0);
  }

  async read(buf: Buffer, position: number): Promise<number> {
    if (!this.chunks || position < this.at) this.restart();
    for (;;) {
      if (position < this.at + this.pending.length) {
        const from = position - this.at;
        return this.pending.copy(buf, 0, from, Math.min(this.pending.length, from + buf.length));
      }
      this.at += this.pending.length;
      const next = await this.chunks!.next();
      if (next.done) {
        this.pending = Buffer.alloc(0);
        return 0;
      }
      this.pending = next.value;
    }
  }

  private restart(): void {
    this.stream?.destroy();
    const stream = gunzip(createReadStream('', { fd: this.fh.fd, start: 0, autoClose: false }), { what: 'log file' });
    this.stream = stream;
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.pending = Buffer.alloc(0);
    this.at = 0;
  }

  close(): Promise<void> {
    this.stream?.destroy();
    return this.fh.close();
  }
}

/** Open one generation (undefined when it has gone: removed, or compressed and its plain file removed). */
export async function openGeneration(g: Generation, logPath: string): Promise<LogSource | undefined> {
  let fh = await openIfExists(g.path);
  let compressed = g.compressed;
  if (!fh && !compressed) {
    // Compressed since it was listed.
    fh = await openIfExists(generationPath(logPath, g.gen, true));
    compressed = true;
  }
  if (!fh) return undefined;
  const { ino } = await fh.stat();
  return compressed ? new CompressedSource(fh, ino, g.gen) : new PlainSource(fh, ino, g.gen);
}

/**
 * Open every file of the log, oldest first: the generations, then the files conmon has moved
 * to that have none yet (the ready file, the file conmon writes). Each file is open from here
 * on, so a rotation, a removal or a compression after this call takes nothing away from the
 * caller. `after`: only the generations above it; files whose inode is in `known` are left
 * out (`named` tells the caller the generation such a file has now).
 */
export async function openLog(
  logPath: string,
  after = 0,
  known: ReadonlySet<number> = new Set(),
  named?: (ino: number, gen: number) => void,
): Promise<LogSource[]> {
  const sources: LogSource[] = [];
  try {
    // Files move from these names to generations, never back: looked at first, a file is
    // found under one name or the other, and its generation, if it has one, read below.
    const next = await lstat(logPath + NEXT_SUFFIX).then(
      (st) => st.ino,
      (err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      },
    );
    for (const path of [logPath + READY_SUFFIX, logPath]) {
      const fh = await openIfExists(path);
      if (!fh) continue;
      const { ino } = await fh.stat();
      // P.ready still linked as P.tmp is only made ready: conmon has not moved to it.
      if (ino === next || known.has(ino) || sources.some((s) => s.ino === ino)) await fh.close();
      else sources.push(new PlainSource(fh, ino, undefined));
    }
    for (const g of await listGenerations(logPath)) {
      if (g.gen <= after) continue;
      const s = await openGeneration(g, logPath);
      if (!s) continue;
      const same = sources.find((x) => x.ino === s.ino);
      if (same || known.has(s.ino)) {
        if (same) same.gen = g.gen;
        // A file the caller holds, named since (`named` tells it its generation).
        else named?.(s.ino, g.gen);
        await s.close();
      } else sources.push(s);
    }
  } catch (err) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw err;
  }
  // Oldest first: by generation; then the ready file, then P, for those that have none yet.
  return sources.map((s, i) => ({ s, i })).sort((a, b) => (a.s.gen ?? Infinity) - (b.s.gen ?? Infinity) || a.i - b.i).map(({ s }) => s);
}
