import { watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode } from '../errors.js';
import { openLog, type LogSource } from './log-files.js';
import { LogScanner, type Visit } from './log-scanner.js';

/**
 * Walking a container's log across its files (log-files.ts): the last N entries found from
 * the end of the newest file, and, with follow, the entries written later, through any
 * number of rotations, each once and in order.
 */

export interface LogReadOptions {
  follow: boolean;
  /** Only entries at or after, in ns since the epoch. */
  sinceNs?: bigint;
  /** Only entries before, in ns since the epoch. */
  untilNs?: bigint;
  /** Only the last N entries (before following). */
  tail?: number;
  /** While following: whether more may come. Reading ends once it is false and the log is drained. */
  isRunning: () => boolean;
  signal?: AbortSignal;
}

/**
 * A place in the log: the index of a file in the walk's list, times SEGMENT, plus an offset
 * in that file (exact in a double for up to 8192 files of up to 1 TiB).
 */
const SEGMENT = 2 ** 40;
/** How often a follower busy reading looks for files conmon has moved to (to hold them). */
const LOOK_EVERY_MS = 20;
/** The first look back from the end for `--tail`; quadrupled until enough entries are found. */
const TAIL_PROBE = 64 * 1024;

/**
 * Reads the files of a walk in order through one scanner (an entry whose parts straddle a
 * rotation is joined), one chunk at a time, handing the scanner positions as `index *
 * SEGMENT + offset`.
 */
class Cursor {
  private rest = Buffer.alloc(0);
  private readonly buf = Buffer.alloc(64 * 1024);

  constructor(
    readonly sources: LogSource[],
    private readonly scanner: LogScanner,
    public index: number,
    private position: number,
    /** Skip to the start of the next line first (a start inside a line). */
    private align = false,
  ) {}

  get source(): LogSource | undefined {
    return this.sources[this.index];
  }

  get atLast(): boolean {
    return this.index >= this.sources.length - 1;
  }

  /** Where the first byte not scanned yet is (the start of an unfinished line). */
  get scanned(): number {
    return this.index * SEGMENT + this.position - this.rest.length;
  }

  /** Read one chunk of the current file and visit its entries; false at its end. */
  async readChunk(visit: Visit): Promise<boolean> {
    const source = this.source;
    if (!source) return false;
    const bytesRead = await source.read(this.buf, this.position);
    if (bytesRead === 0) return false;
    let data = this.buf.subarray(0, bytesRead);
    let base = this.index * SEGMENT + this.position - this.rest.length;
    this.position += bytesRead;
    if (this.align) {
      const nl = data.indexOf(10);
      if (nl < 0) return true;
      this.align = false;
      base += nl + 1;
      data = data.subarray(nl + 1);
    }
    // A copy: entries are views of it, and the read buffer is reused.
    const chunk = this.rest.length > 0 ? Buffer.concat([this.rest, data]) : Buffer.from(data);
    this.rest = Buffer.from(chunk.subarray(this.scanner.scan(chunk, base, visit)));
    return true;
  }

  /** Go on with the next file (what the last one left without a newline is not a line). */
  advance(): void {
    this.index++;
    this.position = 0;
    this.rest = Buffer.alloc(0);
  }

  /** As advance, closing the file left and dropping it from the list (a follower passes many). */
  async pass(): Promise<void> {
    const left = this.sources.splice(this.index, 1)[0];
    this.position = 0;
    this.rest = Buffer.alloc(0);
    await left?.close();
  }

  /** Close and drop the files before the current one. */
  async dropPassed(): Promise<void> {
    const passed = this.sources.splice(0, this.index);
    this.index = 0;
    await Promise.all(passed.map((s) => s.close()));
  }
}

/**
 * Where the last `tail` entries that pass `wanted` begin. Looks back from the end of the
 * newest file, a little first and four times more each time too few entries follow, so that
 * a tail of a large log reads only its end. With `flush`, output left without a newline
 * counts too. Where partial lines of the two streams interleave, a few more entries may
 * follow from there, never a part of one.
 */
async function tailStart(sources: LogSource[], tail: number, times: boolean, wanted: (timeNs: bigint) => boolean, flush: boolean): Promise<{ index: number; offset: number }> {
  const sizes = await Promise.all(sources.map((s) => s.size()));
  for (let probe = TAIL_PROBE; ; probe *= 4) {
    let index = sources.length - 1;
    let offset = 0;
    for (let back = probe; index >= 0; index--) {
      if (sizes[index]! >= back) {
        offset = sizes[index]! - back;
        break;
      }
      back -= sizes[index]!;
    }
    if (index < 0) index = 0;
    const fromStart = index === 0 && offset === 0;
    const scanner = new LogScanner(times);
    const cursor = new Cursor(sources, scanner, index, offset, offset > 0);
    const ring = new Float64Array(Math.max(tail, 1));
    let count = 0;
    const visit: Visit = (_stream, _buf, _start, _end, timeNs) => {
      if (wanted(timeNs)) ring[count++ % ring.length] = scanner.entryOffset;
    };
    for (;;) {
      while (await cursor.readChunk(visit));
      if (cursor.atLast) break;
      cursor.advance();
    }
    if (flush) scanner.flush(visit);
    if (tail === 0) return place(Math.max(cursor.scanned, 0));
    // Entries whose parts began before the probe may have been seen in part: at most one a stream.
    if (!fromStart && count < tail + 2) continue;
    if (count <= tail) return place(index * SEGMENT + offset);
    // An entry completed late (joined parts) may have started before the ones before it.
    let first = Infinity;
    for (const at of ring) first = Math.min(first, at);
    return place(first);
  }
}

function place(at: number): { index: number; offset: number } {
  const index = Math.floor(at / SEGMENT);
  return { index, offset: at - index * SEGMENT };
}

/** The inode of the file conmon writes now (undefined before it exists). */
async function currentIno(logPath: string): Promise<number | undefined> {
  try {
    return (await lstat(logPath)).ino;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Files that are empty and not written now are the next file made ready: they are left out
 * until conmon moves to them (they come back with a later look at the folder).
 */
async function withoutReadyFiles(sources: LogSource[], current: number | undefined): Promise<LogSource[]> {
  const kept: LogSource[] = [];
  for (const s of sources) {
    if (s.ino !== current && (await s.size()) === 0) await s.close();
    else kept.push(s);
  }
  return kept;
}

/** Wakes a follower when the log's folder changes (a write, a rotation), or after `ms`. */
class Waker {
  private watcher: FSWatcher | undefined;
  private wake: (() => void) | undefined;
  private changed = false;

  constructor(private readonly dir: string) {}

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (!this.watcher) {
      try {
        this.watcher = watch(this.dir, () => this.fire());
        this.watcher.on('error', () => this.fire());
      } catch {
        // No folder yet: the timer covers it.
      }
    }
    if (this.changed) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = undefined;
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done);
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
    this.wake?.();
  }

  private fire(): void {
    if (this.wake) this.wake();
    else this.changed = true;
  }
}

/**
 * Visit the entries of a log (the last `tail` ones, or all), then with follow new ones until
 * the container stops; yields what `gathered()` hands on after each chunk read. The files are
 * opened at the start (and as they appear, when following), so that rotations, removals and
 * compressions meanwhile take nothing from the walk but files it had not reached yet.
 */
export async function* walkLog<T>(logPath: string, opts: LogReadOptions, times: boolean, visit: Visit, gathered: () => T | undefined): AsyncGenerator<T> {
  const filtering = opts.sinceNs !== undefined || opts.untilNs !== undefined;
  const needTimes = times || filtering;
  const wanted = (t: bigint): boolean => (opts.sinceNs === undefined || t >= opts.sinceNs) && (opts.untilNs === undefined || t < opts.untilNs);
  const filtered: Visit = !filtering ? visit : (stream, buf, s, e, t) => {
    if (wanted(t)) visit(stream, buf, s, e, t);
  };
  let sources = await openLog(logPath);
  const waker = opts.follow ? new Waker(dirname(logPath)) : undefined;
  // The highest generation the walk has held: files up to it are behind it or in its hands.
  let lastGen = 0;
  const take = (list: LogSource[]): void => {
    for (const s of list) if (s.gen !== undefined) lastGen = Math.max(lastGen, s.gen);
  };
  let cursor: Cursor | undefined;
  try {
    if (opts.follow) sources = await withoutReadyFiles(sources, await currentIno(logPath));
    take(sources);
    const start = opts.tail !== undefined && opts.tail >= 0 ? await tailStart(sources, opts.tail, needTimes, wanted, !opts.follow) : { index: 0, offset: 0 };
    const scanner = new LogScanner(needTimes);
    const walk = new Cursor(sources, scanner, start.index, start.offset);
    cursor = walk;
    await walk.dropPassed();
    /**
     * Open the files conmon has moved to since the last look (at each wake, so that a file is
     * held from the moment it appears, whatever the limits remove later); false when none.
     */
    const lookAgain = async (): Promise<boolean> => {
      const current = await currentIno(logPath);
      if (current === undefined || walk.sources.at(-1)?.ino === current) return false;
      const named = (ino: number, gen: number): void => {
        lastGen = Math.max(lastGen, gen);
        for (const s of walk.sources) if (s.ino === ino) s.gen ??= gen;
      };
      // Inodes are compared only with files held open (a closed file's number may be reused).
      const held = new Set(walk.sources.map((x) => x.ino));
      const found = await withoutReadyFiles(await openLog(logPath, lastGen, held, named), current);
      take(found);
      walk.sources.push(...found);
      return found.length > 0;
    };
    let lookedAt = Date.now();
    /** Read the current file to its end; a follower that takes long over it looks for new files meanwhile. */
    async function* toEnd(): AsyncGenerator<T> {
      while (await walk.readChunk(filtered)) {
        const out = gathered();
        if (out !== undefined) yield out;
        if (opts.follow && Date.now() - lookedAt >= LOOK_EVERY_MS) {
          lookedAt = Date.now();
          await lookAgain();
        }
      }
    }
    async function* drain(): AsyncGenerator<T> {
      for (;;) {
        yield* toEnd();
        if (walk.atLast && !(opts.follow && (await lookAgain()))) return;
        // A file followed by another is complete: conmon closed it before the rename.
        yield* toEnd();
        await walk.pass();
      }
    }
    yield* drain();
    while (opts.follow && !opts.signal?.aborted) {
      if (!opts.isRunning()) {
        yield* drain(); // conmon may have written the last lines just before the exit
        break;
      }
      if (opts.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n >= opts.untilNs) break;
      await waker!.wait(250, opts.signal);
      await lookAgain();
      yield* drain();
    }
    scanner.flush(filtered);
    const out = gathered();
    if (out !== undefined) yield out;
  } finally {
    waker?.close();
    await Promise.allSettled((cursor?.sources ?? sources).map((s) => s.close()));
  }
}
