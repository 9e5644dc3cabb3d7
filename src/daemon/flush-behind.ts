import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { ContentStore } from '../content/content.js';
import { uncompressed } from '../util/decompress.js';
import type { FlushLater, Unflushed } from '../distribution/distribution.js';
import type { ImageService } from '../images/images.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { fsyncDir, readJsonIfExists, writeFileAtomic } from '../util/fs.js';

/**
 * Flush-behind: blobs and layer snapshots that a pull publishes before they are on the disk,
 * flushed right after it, with a journal that makes a crash in between safe.
 *
 * A pull writes about as much as it downloads and unpacks, and does not wait for all of it
 * to reach the disk: it first records, in a small journal fsynced before anything is published,
 * the blobs and snapshots it is about to make (`hold`); writes them without fsync; and once
 * it ends, flushes them in the background (each blob's and each layer file's fsync, as the
 * durable path does) and drops them from the journal. Docker never flushes a pulled layer
 * at all, which is why a power cut after a pull can leave it with empty files.
 *
 * The journal names the boot it was written in (the kernel's boot_id). At the daemon's start
 * (`recover`), entries of the same boot are only flushed: the process died, the kernel's page
 * cache still holds every byte it wrote. Entries of an earlier boot may have lost data: they
 * go to `repair` (repairPull): each blob is checked against its digest, each snapshot
 * unpacked again from its blob.
 */

/** How a blob or a snapshot is flushed; one that does not exist (removed since) is nothing to do. */
export interface FlushTargets {
  syncBlob(digest: string): Promise<void>;
  syncSnapshot(chainId: string): Promise<void>;
}

const JournalSchema = z.object({
  bootId: z.string(),
  blobs: z.array(z.string()),
  chains: z.array(z.string()),
});

/** This boot of the kernel: it changes when the machine restarts, and only then. */
export function currentBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

export class FlushBehind implements FlushLater {
  private readonly held = new Map<number, Unflushed>();
  private nextId = 1;
  /** Journal writes, one after the other, each with the state at its turn. */
  private saving: Promise<void> = Promise.resolve();
  /** Flushes under way. */
  private readonly flushing = new Set<Promise<void>>();

  /**
   * `file` is the journal (`<root>/unflushed.json`); `bootId` is this boot's
   * (currentBootId(); tests pass their own).
   */
  constructor(
    private readonly file: string,
    private readonly targets: FlushTargets,
    private readonly bootId: string = currentBootId(),
  ) {}

  async hold(items: Unflushed): Promise<() => void> {
    const id = this.nextId++;
    const copy: Unflushed = { blobs: [...items.blobs], chains: [...items.chains] };
    if (copy.blobs.length === 0 && copy.chains.length === 0) return () => undefined;
    this.held.set(id, copy);
    try {
      await this.save();
    } catch (err) {
      this.held.delete(id);
      throw err;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const flush = this.flush(id, copy).finally(() => this.flushing.delete(flush));
      this.flushing.add(flush);
    };
  }

  /** Resolves once every flush started so far has ended (the daemon waits for it as it stops). */
  async idle(): Promise<void> {
    while (this.flushing.size > 0) await Promise.allSettled([...this.flushing]);
  }

  /**
   * At the daemon's start, before anything is pulled: what an earlier run left in the journal.
   * Entries of this boot are flushed; those of an earlier boot go to `repair` first (the
   * disk may have lost part of them). The journal is removed once that has succeeded; if it
   * fails, the error is thrown and the journal stays for the next start.
   */
  async recover(repair: (items: Unflushed) => Promise<void>): Promise<void> {
    const raw = await readJsonIfExists(this.file).catch((err: unknown) => err);
    if (raw === undefined) return;
    const parsed = JournalSchema.safeParse(raw);
    if (!parsed.success) {
      // Written atomically by pierd, so not half a journal: something else wrote it.
      log.error({ file: this.file, err: raw instanceof Error ? raw : parsed.error }, 'unreadable flush journal dropped: its blobs and layers are not checked');
    }
    const journal = parsed.success ? parsed.data : { bootId: this.bootId, blobs: [], chains: [] };
    const items: Unflushed = { blobs: journal.blobs, chains: journal.chains };
    if (journal.bootId !== this.bootId) {
      log.warn({ blobs: items.blobs.length, layers: items.chains.length }, 'the machine restarted before a pull was flushed to disk: checking its blobs and unpacking its layers again');
      await repair(items);
    }
    await this.sync(items);
    await rm(this.file, { force: true });
    await fsyncDir(dirname(this.file));
  }

  private async flush(id: number, items: Unflushed): Promise<void> {
    try {
      await this.sync(items);
    } catch (err) {
      // Kept in the journal: the next start flushes (or checks) them again.
      log.warn({ err }, 'flushing a pull to disk failed');
      return;
    }
    this.held.delete(id);
    await this.save().catch((err: unknown) => log.warn({ err }, 'updating the flush journal failed'));
  }

  private async sync(items: Unflushed): Promise<void> {
    await Promise.all([...new Set(items.blobs)].map((d) => this.targets.syncBlob(d)));
    await Promise.all([...new Set(items.chains)].map((c) => this.targets.syncSnapshot(c)));
  }

  /** Write the journal as it is at its turn: every held item, or no file when none is held. */
  private save(): Promise<void> {
    const turn = this.saving.then(async () => {
      if (this.held.size === 0) {
        await rm(this.file, { force: true });
        await fsyncDir(dirname(this.file));
        return;
      }
      const blobs = new Set<string>();
      const chains = new Set<string>();
      for (const items of this.held.values()) {
        for (const b of items.blobs) blobs.add(b);
        for (const c of items.chains) chains.add(c);
      }
      await writeFileAtomic(this.file, JSON.stringify({ bootId: this.bootId, blobs: [...blobs], chains: [...chains] }));
    });
    this.saving = turn.catch(() => undefined);
    return turn;
  }
}

/**
 * Repair what a pull had not flushed when the machine restarted: each of `items.blobs` that
 * no longer hashes to its digest is removed (a pull brings it back); each of `items.chains`
 * is removed and unpacked again from the blob of an image that has it, parents first. A
 * layer that cannot be removed (a layer or a container was made on it since) stays as it
 * is, and one whose blob is gone stays removed: both are logged, and a pull of the image
 * brings it back. Call at the daemon's start, before anything else uses the stores.
 */
export async function repairPull(items: Unflushed, deps: { images: ImageService; content: ContentStore; snapshots: Snapshotter }): Promise<void> {
  const { images, content, snapshots } = deps;
  for (const digest of new Set(items.blobs)) {
    if (!(await content.has(digest)) || (await content.verify(digest))) continue;
    log.warn({ digest }, 'a blob lost data when the machine restarted: removed (pulling its image again brings it back)');
    await content.delete(digest);
  }

  // What each suspect layer is made of, from the images that have it (parents first).
  const suspect = new Set(items.chains);
  const sources = new Map<string, { parent: string | null; blob: string; diffId: string }>();
  for (const image of await images.list()) {
    const [manifest, config] = await Promise.all([images.manifest(image), images.config(image)]);
    const diffIds = config.rootfs.diff_ids;
    chainIds(diffIds).forEach((chain, i, chains) => {
      if (suspect.has(chain) && !sources.has(chain) && manifest.layers[i] !== undefined) {
        sources.set(chain, { parent: i === 0 ? null : chains[i - 1]!, blob: manifest.layers[i].digest, diffId: diffIds[i]! });
      }
    });
  }

  // Removed top-most first (a snapshot with a child cannot go).
  const all = await snapshots.list();
  const parentOf = new Map(all.map((s) => [s.chainId, s.parent]));
  const depth = (chain: string): number => {
    let d = 0;
    for (let c: string | null | undefined = chain; c; c = parentOf.get(c)) d++;
    return d;
  };
  const present = all.map((s) => s.chainId).filter((c) => suspect.has(c));
  const kept = new Set<string>();
  for (const chain of present.sort((a, b) => depth(b) - depth(a))) {
    try {
      await snapshots.remove(chain);
    } catch (err) {
      log.warn({ err, chain }, 'a layer not flushed before the machine restarted is in use and stays as it is');
      kept.add(chain);
    }
  }

  for (const [chain, src] of sources) {
    if (kept.has(chain)) continue;
    if ((src.parent !== null && !(await snapshots.has(src.parent))) || !(await content.has(src.blob))) {
      log.warn({ chain, blob: src.blob }, 'a layer lost when the machine restarted cannot be unpacked again here: pull its image again');
      continue;
    }
    const what = `layer ${src.blob}`;
    await snapshots.applyLayer(src.parent, await uncompressed(await content.createReadStream(src.blob), what), src.diffId);
    log.info({ chain }, 'layer unpacked again after the machine restarted');
  }
}
