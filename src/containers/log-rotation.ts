import { closeSync, createReadStream, createWriteStream, linkSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errnoCode } from '../errors.js';
import { log } from '../log.js';
import { gzip } from '../util/gzip.js';
import { FolderWatcher, IN_CREATE, IN_MOVED_TO } from '../util/inotify.js';
import type { LogPolicy } from './log-config.js';
import { generationPath, listGenerations, NEXT_SUFFIX, parseGeneration, READY_SUFFIX } from './log-files.js';

/**
 * conmon's own rotation size is never below this, whatever max-size is: within one read of a
 * container's output (8 KiB) conmon could rotate a tiny file many times, faster than any
 * watcher names files. A file it rotates past max-size is trimmed once rotated.
 */
export const FLOOR_SIZE = 1024 * 1024;

/**
 * Rotation of one container's log (the files are named in log-files.ts).
 *
 * conmon rotates by itself: started with `--log-size-max`, it closes its file before a write
 * would take it past the size, opens `P.tmp` (O_TRUNC|O_CREAT), renames it over `P` and goes
 * on there (conmon 2.1.6, src/ctr_logging.c: write_k8s_log, reopen_k8s_file; `2 0 0` on its
 * ctl fifo does the same on demand). The rename would take the old file's last name away; so
 * pier names every file conmon writes as a generation `P.<n>` and keeps the next one ready,
 * empty, as `P.ready` linked as `P.tmp`, which conmon's next rotation opens and renames into
 * place. Each rotation thus moves conmon to a file that keeps a second name, and takes no
 * output away: pier sees the rename (inotify), gives that file its generation, makes the next
 * one ready, then removes the oldest files beyond the limits and compresses the others when
 * asked. At most max-file files are kept, the one being written included, together no
 * more than max-size x max-file bytes: the oldest kept is trimmed to fit when it must be.
 * conmon rotates at max-size, or at FLOOR_SIZE when max-size is smaller: while such a
 * container runs, its current file may hold up to FLOOR_SIZE; once it ends, the limits hold.
 *
 * While pierd is down, conmon goes on rotating alone: its first rotation moves into the file
 * pier made ready, its later ones replace a file of conmon's own each time, so that the files
 * pier named and the ready one stay, at most two more than max-file exist, and the output
 * between the ready file and the last one is lost. pierd's next start names, removes and compresses as usual.
 * A file is lost while pierd runs only if conmon rotates twice more before pierd has seen the
 * first rotation (twice the rotation size of output, 2 MiB at least, within pierd's reaction).
 */
export class LogRotation {
  private stopWatching: (() => void) | undefined;
  private tidying: Promise<void> | undefined;
  private tidyAgain = false;
  private readonly dir: string;
  private readonly name: string;
  private readonly next: string;
  private readonly ready: string;

  constructor(
    readonly logPath: string,
    private readonly policy: LogPolicy,
    private readonly watcher: FolderWatcher,
  ) {
    this.dir = dirname(logPath);
    this.name = basename(logPath);
    this.next = logPath + NEXT_SUFFIX;
    this.ready = logPath + READY_SUFFIX;
  }

  /**
   * Before conmon starts: the log file exists and has a name, the next one is ready, and a
   * file full already is left for a new one (conmon counts from zero at its start, so it
   * would write max-size more into it).
   */
  prepare(): void {
    if (!lstatIfExists(this.logPath)) {
      const gen = generationPath(this.logPath, (this.generations().at(-1) ?? 0) + 1);
      closeSync(openSync(gen, 'wx', 0o600));
      linkSync(gen, this.logPath);
    }
    this.keepUp();
    if ((lstatIfExists(this.logPath)?.size ?? 0) >= this.policy.maxSize) this.roll();
  }

  /**
   * conmon's run ended: what it wrote last is named, a file left longer than max-size becomes
   * a rotated one (and is trimmed to the limits), and the watch ends.
   */
  finish(): void {
    this.unwatch();
    try {
      this.keepUp();
      if ((lstatIfExists(this.logPath)?.size ?? 0) > this.policy.maxSize) this.roll();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') log.warn({ err, log: this.logPath }, 'log rotation: naming the files');
      return;
    }
    this.tidy().catch((err: unknown) => log.warn({ err, log: this.logPath }, 'log rotation: removing or compressing old files'));
  }

  /** Go on in the ready file, as conmon's rotation does (only while conmon does not run). */
  private roll(): void {
    renameSync(this.next, this.logPath);
    this.keepUp();
  }

  /** Follow conmon's rotations: name, make ready, tidy after each. Idempotent. */
  watch(): void {
    if (this.stopWatching) return;
    this.stopWatching = this.watcher.watch(this.dir, IN_CREATE | IN_MOVED_TO, (name) => {
      if (name !== undefined && name !== this.name && name !== basename(this.next)) return;
      this.rotated();
    });
    // What happened before the watch began.
    this.rotated();
  }

  unwatch(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  /** conmon rotated (or may have): catch up at once, tidy in the background. */
  rotated(): void {
    try {
      this.keepUp();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') log.warn({ err, log: this.logPath }, 'log rotation: naming the files');
      return;
    }
    this.tidy().catch((err: unknown) => log.warn({ err, log: this.logPath }, 'log rotation: removing or compressing old files'));
  }

  /**
   * Give the files conmon has written generations, in the order it wrote them, and make the
   * next file ready; synchronously (a few system calls: the sooner after a rotation, the less
   * can be lost). Generations are given only to files conmon has moved to, never ahead, so
   * they only grow with time, whatever conmon does meanwhile: this looks again until P has a
   * generation and P.tmp is the ready file (P.ready).
   */
  keepUp(): void {
    for (let round = 0; round < 16; round++) {
      const cur = lstatIfExists(this.logPath);
      if (!cur) return;
      const ready = lstatIfExists(this.ready);
      const next = lstatIfExists(this.next);
      const max = this.generations().at(-1) ?? 0;
      if (ready && ready.ino !== next?.ino) {
        // conmon moved to the ready file (it may have moved past it already): it comes first.
        if (tryLink(this.ready, generationPath(this.logPath, max + 1))) unlinkIfExists(this.ready);
        continue;
      }
      if (cur.nlink === 1) {
        // A file of conmon's own (nothing was ready when it rotated).
        tryLink(this.logPath, generationPath(this.logPath, max + 1));
        continue;
      }
      if (next && !ready) {
        // conmon is in the middle of a rotation to a file of its own: it will be the newest.
        tryLink(this.next, generationPath(this.logPath, max + 1));
        continue;
      }
      if (!next) {
        closeSync(openSync(this.ready, 'wx', 0o600));
        if (!tryLink(this.ready, this.next)) unlinkIfExists(this.ready);
        continue;
      }
      return;
    }
    log.warn({ log: this.logPath }, 'log rotation: conmon kept rotating while its files were named');
  }

  /**
   * Remove the files beyond max-file and max-size x max-file (oldest first; the file conmon
   * writes always stays), compress the others when asked, and clear what an interrupted
   * compression left. One at a time; a call while one runs makes it run once more.
   */
  tidy(): Promise<void> {
    if (this.tidying) {
      this.tidyAgain = true;
      return this.tidying;
    }
    const run = async (): Promise<void> => {
      do {
        this.tidyAgain = false;
        await this.tidyOnce();
      } while (this.tidyAgain);
    };
    this.tidying = run().finally(() => {
      this.tidying = undefined;
    });
    return this.tidying;
  }

  private async tidyOnce(): Promise<void> {
    const gens = await listGenerations(this.logPath);
    const cur = lstatIfExists(this.logPath);
    const plain = gens.filter((g) => !g.compressed).map((g) => g.gen);
    const curGen = cur ? this.genOf(cur.ino, plain) : undefined;
    if (curGen === undefined) return; // not named yet: the next rotation event comes back here
    // Above the current one: a file conmon is moving to, not written yet.
    const content = gens.filter((g) => g.gen <= curGen).reverse();
    let kept = 0;
    let budget = this.policy.maxSize * this.policy.maxFile;
    const compress: number[] = [];
    for (const g of content) {
      const size = (await stat(g.path).catch(() => undefined))?.size ?? 0;
      if (g.gen !== curGen) {
        if (kept >= this.policy.maxFile || budget <= 0 || (size > budget && (g.compressed || !(await this.trim(g.gen, budget))))) {
          budget = 0;
          await this.removeGeneration(g.gen);
          continue;
        }
        if (this.policy.compress && !g.compressed) compress.push(g.gen);
      }
      kept++;
      budget -= Math.min(size, budget);
    }
    this.removeLeftovers(compress);
    for (const gen of compress) await this.compress(gen);
  }

  /** What an interrupted compression or trim left. */
  private removeLeftovers(compressing: number[]): void {
    const tmpRe = new RegExp(`^${escapeRe(this.name)}\\.(\\d+)(\\.gz\\.tmp|\\.trim)$`);
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      const m = tmpRe.exec(name);
      if (m && !compressing.includes(Number(m[1]))) unlinkIfExists(join(this.dir, name));
    }
  }

  /**
   * Keep only the end of the rotated file `P.<gen>`: its last `bytes` at most, from the start
   * of a line (a new file renamed over the old name; a reader holding the old one reads it
   * whole). For a file longer than what the limits leave: the first one of a run (conmon
   * counts from zero at its start) or one of conmon's floor size (FLOOR_SIZE below). false
   * when not one line fits.
   */
  private async trim(gen: number, bytes: number): Promise<boolean> {
    const path = generationPath(this.logPath, gen);
    const tmp = `${path}.trim`;
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      let from = Math.max(0, size - bytes);
      if (from > 0) {
        // The first line that begins at or after `from`.
        const probe = Buffer.alloc(Math.min(64 * 1024, size - from + 1));
        const { bytesRead } = await fh.read(probe, 0, probe.length, from - 1);
        const nl = probe.subarray(0, bytesRead).indexOf(10);
        if (nl < 0 || from - 1 + nl + 1 >= size) return false;
        from = from - 1 + nl + 1;
      }
      await pipeline(createReadStream('', { fd: fh.fd, start: from, autoClose: false }), createWriteStream(tmp, { mode: 0o600 }));
    } catch (err) {
      await rm(tmp, { force: true });
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    return true;
  }

  private async removeGeneration(gen: number): Promise<void> {
    await Promise.all([
      rm(generationPath(this.logPath, gen), { force: true }),
      rm(generationPath(this.logPath, gen, true), { force: true }),
      rm(`${generationPath(this.logPath, gen, true)}.tmp`, { force: true }),
    ]);
  }

  /** gzip `P.<gen>` into `P.<gen>.gz` (written aside, renamed into place), then remove the plain file. */
  private async compress(gen: number): Promise<void> {
    const plain = generationPath(this.logPath, gen);
    const gz = generationPath(this.logPath, gen, true);
    const tmp = `${gz}.tmp`;
    try {
      // A small file in this process (an igzip process costs more to start than to run on it).
      const engine = (await stat(plain)).size < 4 * 1024 * 1024 ? 'zlib' : undefined;
      await pipeline(gzip(createReadStream(plain), { what: `log ${plain}`, engine }), createWriteStream(tmp, { mode: 0o600 }));
    } catch (err) {
      await rm(tmp, { force: true });
      if (errnoCode(err) === 'ENOENT') return; // removed meanwhile
      throw err;
    }
    await rename(tmp, gz);
    await rm(plain, { force: true });
  }

  /** The generations on disk with a plain file, ascending (synchronous: on the path of a rotation). */
  private generations(): number[] {
    const gens: number[] = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return gens; // the container is being removed
      throw err;
    }
    for (const name of names) {
      const g = parseGeneration(this.name, name);
      if (g && !g.compressed) gens.push(g.gen);
    }
    return gens.sort((a, b) => a - b);
  }

  /** The generation whose plain file is the inode `ino`, looked for from the newest down. */
  private genOf(ino: number, gens: number[]): number | undefined {
    for (let i = gens.length - 1; i >= 0; i--) {
      if (lstatIfExists(generationPath(this.logPath, gens[i]!))?.ino === ino) return gens[i];
    }
    return undefined;
  }
}

function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** link(2); false when the source is gone or the target exists (conmon moved meanwhile). */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'EEXIST') return false;
    throw err;
  }
}

function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
