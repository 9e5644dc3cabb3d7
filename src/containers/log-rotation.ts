import { closeSync, createReadStream, createWriteStream, linkSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errnoCode } from '../errors.js';
import { log } from '../log.js';
import { gzip } from '../util/gzip.js';
import { FolderWatcher, IN_CREATE, IN_MOVED_TO } from '../util/inotify.js';
import type { LogPolicy } from './log-config.js';
import { generationPath, listGenerations, NEXT_SUFFIX, parseGeneration } from './log-files.js';

/**
 * Rotation of one container's log (the files are named in log-files.ts).
 *
 * conmon rotates by itself: started with `--log-size-max`, it closes its file before a write
 * would take it past the size, opens `P.tmp` (O_TRUNC|O_CREAT), renames it over `P` and goes
 * on there (conmon 2.1.6, src/ctr_logging.c: write_k8s_log, reopen_k8s_file; `2 0 0` on its
 * ctl fifo does the same on demand). The rename would take the old file's last name away; so
 * pier names every file conmon writes as a generation `P.<n>` and keeps the next one ready as
 * `P.tmp`, a link to a new, empty, higher generation, which conmon's next rotation opens and
 * renames into place. Each rotation thus moves conmon to a file pier has already named, and
 * takes no output away: pier sees the rename (inotify), names what needs a name, makes the
 * next file ready, then removes the oldest files beyond the limits and compresses the others
 * when asked. Files hold at most max-size (a single line longer than that gets a file of its
 * own), and at most max-file of them are kept, the one being written included, together no
 * more than max-size x max-file bytes.
 *
 * While pierd is down, conmon goes on rotating alone: its first rotation moves into the file
 * pier made ready, its later ones replace a file of conmon's own each time, so that the files
 * pier named stay, at most two more than max-file exist, and the output between the ready
 * file and the last one is lost. pierd's next start names, removes and compresses as usual.
 * A file is lost while pierd runs only if conmon rotates twice more before pierd has seen the
 * first rotation (more than twice max-size of output in about a millisecond).
 */
export class LogRotation {
  private stopWatching: (() => void) | undefined;
  private tidying: Promise<void> | undefined;
  private tidyAgain = false;
  private readonly dir: string;
  private readonly name: string;
  private readonly next: string;

  constructor(
    readonly logPath: string,
    private readonly policy: LogPolicy,
    private readonly watcher: FolderWatcher,
  ) {
    this.dir = dirname(logPath);
    this.name = basename(logPath);
    this.next = logPath + NEXT_SUFFIX;
  }

  /**
   * Before conmon starts: the log file exists and has a name, the next one is ready, and a
   * file full already is left for a new one (conmon counts from zero at its start, so it
   * would write max-size more into it).
   */
  prepare(): void {
    if (!lstatIfExists(this.logPath)) {
      const gen = this.newGeneration();
      linkSync(generationPath(this.logPath, gen), this.logPath);
    }
    this.keepUp();
    if ((lstatIfExists(this.logPath)?.size ?? 0) >= this.policy.maxSize) {
      renameSync(this.next, this.logPath);
      this.keepUp();
    }
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
   * Name the file conmon writes and make the next one ready, synchronously (a few system
   * calls: the sooner after a rotation, the less can be lost). Safe against conmon rotating
   * at any point of it: it looks again until it finds P named and P.tmp ready above it.
   */
  keepUp(): void {
    for (let round = 0; round < 16; round++) {
      const gens = this.generations();
      const max = gens.length > 0 ? gens[gens.length - 1]! : 0;
      const cur = lstatIfExists(this.logPath);
      if (!cur) return;
      const curGen = cur.nlink > 1 ? this.genOf(cur.ino, gens) : undefined;
      if (curGen === undefined) {
        // conmon's own file (the next one was not ready): name it.
        tryLink(this.logPath, generationPath(this.logPath, max + 1));
        continue;
      }
      const next = lstatIfExists(this.next);
      if (!next) {
        const gen = this.newGeneration(max);
        if (!tryLink(generationPath(this.logPath, gen), this.next)) unlinkIfExists(generationPath(this.logPath, gen));
        continue;
      }
      if (next.nlink === 1) {
        // conmon is in the middle of a rotation to a file of its own: name it before it moves.
        tryLink(this.next, generationPath(this.logPath, max + 1));
        continue;
      }
      const nextGen = this.genOf(next.ino, gens);
      if (nextGen === undefined || next.ino === cur.ino) {
        unlinkIfExists(this.next);
        continue;
      }
      if (nextGen <= curGen) {
        // Made ready while conmon moved to a file of its own: it must come after that one.
        renameSync(generationPath(this.logPath, nextGen), generationPath(this.logPath, max + 1));
        continue;
      }
      if (lstatIfExists(this.logPath)?.ino === cur.ino) return;
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
    const next = lstatIfExists(this.next);
    const plain = gens.filter((g) => !g.compressed).map((g) => g.gen);
    const curGen = cur ? this.genOf(cur.ino, plain) : undefined;
    const nextGen = next ? this.genOf(next.ino, plain) : undefined;
    if (curGen === undefined) return; // not named yet: the next rotation event comes back here
    const content = gens.filter((g) => g.gen <= curGen && g.gen !== nextGen).reverse();
    let kept = 0;
    let bytes = 0;
    let full = false;
    const limit = this.policy.maxSize * this.policy.maxFile;
    const compress: number[] = [];
    for (const g of content) {
      const size = (await stat(g.path).catch(() => undefined))?.size ?? 0;
      full ||= g.gen !== curGen && (kept >= this.policy.maxFile || bytes + size > limit);
      if (full) {
        await this.removeGeneration(g.gen);
        continue;
      }
      kept++;
      bytes += size;
      if (this.policy.compress && g.gen !== curGen && !g.compressed) compress.push(g.gen);
    }
    this.removeLeftovers(curGen, compress);
    for (const gen of compress) await this.compress(gen);
  }

  /**
   * What an interrupted compression left, and empty generations above the current one that are
   * not the next (a crash between making one and making it ready). Synchronous, so that the
   * next file is looked at as it is now, not as it was before an await.
   */
  private removeLeftovers(curGen: number, compressing: number[]): void {
    const plain = this.generations();
    const next = lstatIfExists(this.next);
    const nextGen = next ? this.genOf(next.ino, plain) : undefined;
    const tmpRe = new RegExp(`^${escapeRe(this.name)}\\.(\\d+)\\.gz\\.tmp$`);
    for (const name of readdirSync(this.dir)) {
      const m = tmpRe.exec(name);
      if (m && !compressing.includes(Number(m[1]))) unlinkIfExists(join(this.dir, name));
      const g = parseGeneration(this.name, name);
      if (g && !g.compressed && g.gen > curGen && g.gen !== nextGen && lstatIfExists(join(this.dir, name))?.size === 0) {
        unlinkIfExists(join(this.dir, name));
      }
    }
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
      await pipeline(gzip(createReadStream(plain), { what: `log ${plain}` }), createWriteStream(tmp, { mode: 0o600 }));
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
    for (const name of readdirSync(this.dir)) {
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

  /** A new, empty generation above `max` (above every one on disk when not given). */
  private newGeneration(max = this.generations().at(-1) ?? 0): number {
    for (let gen = max + 1; ; gen++) {
      try {
        closeSync(openSync(generationPath(this.logPath, gen), 'wx', 0o600));
        return gen;
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
    }
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
