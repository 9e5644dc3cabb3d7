import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errnoCode, internal } from '../errors.js';
import { log } from '../log.js';
import { fsyncDir } from '../util/fs.js';
import { mountsUnder } from './mountinfo.js';

/**
 * The local driver's records: one folder per volume, `<root>/volumes/<name>/` holding
 * `volume.json` and the data folder `_data`. A volume comes into being by one rename: it is
 * made whole (record written and flushed, `_data` made) in a staging folder `.new-<random>`,
 * then renamed to its name; it goes by one rename too, to `.rm-<random>`, before its files
 * are removed. A kill -9 at any point leaves the volume whole or absent; `load` removes the
 * staging and trash folders a crash left (never across a mount).
 */

const STAGING = '.new-';
const TRASH = '.rm-';
export const DATA_DIR = '_data';
const RECORD = 'volume.json';

export const VolumeRecordSchema = z.object({
  Name: z.string(),
  Driver: z.string(),
  CreatedAt: z.string(),
  Labels: z.record(z.string(), z.string()).nullable(),
  Options: z.record(z.string(), z.string()).nullable(),
});

/** What is kept of a volume. */
export type VolumeRecord = z.infer<typeof VolumeRecordSchema>;

export class VolumeStore {
  constructor(readonly dir: string) {}

  /** The folder of a volume's data. */
  dataPath(name: string): string {
    return join(this.dir, name, DATA_DIR);
  }

  /** Every whole record; leftovers of interrupted creates and removals are removed. */
  async load(): Promise<VolumeRecord[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: VolumeRecord[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(this.dir, entry.name);
      if (entry.name.startsWith(STAGING) || entry.name.startsWith(TRASH)) {
        await this.removeTree(path).catch((err: unknown) => log.warn({ err, path }, 'a volume folder a crash left could not be removed'));
        continue;
      }
      try {
        const parsed = VolumeRecordSchema.safeParse(JSON.parse(await readFile(join(path, RECORD), 'utf8')));
        if (!parsed.success || parsed.data.Name !== entry.name) throw new Error(`record does not match: ${parsed.error?.issues[0]?.message ?? 'name differs'}`);
        out.push(parsed.data);
      } catch (err) {
        log.error({ err, path }, 'unreadable volume record: left in place, not loaded');
      }
    }
    return out;
  }

  /**
   * Make a volume whole under its name: the record and `_data` (mode 0755) in a staging folder,
   * flushed, then renamed. The caller holds the name's lock and knows the name is free.
   */
  async create(rec: VolumeRecord): Promise<void> {
    const staging = join(this.dir, `${STAGING}${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(join(staging, DATA_DIR), { recursive: true, mode: 0o755 });
      const fh = await open(join(staging, RECORD), 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(rec));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsyncDir(staging);
      await rename(staging, join(this.dir, rec.Name));
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw internal(`create ${rec.Name}: ${(err as Error).message}`, err);
    }
    await fsyncDir(this.dir);
  }

  /**
   * Remove a volume: renamed away at once (its record is gone with that), then its files.
   * Refuses (`internal`) while anything is mounted in its folder. A folder already gone is
   * no error.
   */
  async remove(name: string): Promise<void> {
    const path = join(this.dir, name);
    const mounted = await mountsUnder(path);
    if (mounted.length > 0) throw internal(`remove ${name}: ${mounted[0]} is still mounted`);
    const trash = join(this.dir, `${TRASH}${randomBytes(8).toString('hex')}`);
    try {
      await rename(path, trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw internal(`remove ${name}: ${(err as Error).message}`, err);
    }
    await fsyncDir(this.dir);
    await this.removeTree(trash);
  }

  /** rm -rf of a folder of this store, never while something is mounted under it. */
  private async removeTree(path: string): Promise<void> {
    const mounted = await mountsUnder(path);
    if (mounted.length > 0) throw internal(`${mounted[0]} is still mounted`);
    await rm(path, { recursive: true, force: true });
  }
}
