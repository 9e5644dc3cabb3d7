import { isKind } from '../errors.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { ImageRecord, ImageRecords } from './records.js';

/**
 * Garbage collection of what images own in the content store and the snapshotter. A blob or
 * a snapshot goes only when no image record (retained ones included) and no lease uses it;
 * snapshots go top first, so a parent never goes before its child.
 */

/** The blobs and snapshots that some image record (retained ones included) uses. */
function inUse(state: ImageRecords): { usedBlobs: Set<string>; usedChains: Set<string> } {
  const usedChains = new Set<string>();
  const usedBlobs = new Set<string>();
  for (const rec of state.records.values()) {
    for (const c of chainIds(rec.diffIds)) usedChains.add(c);
    usedBlobs.add(rec.id);
    usedBlobs.add(rec.manifest.digest);
    for (const l of rec.layers) usedBlobs.add(l.digest);
  }
  return { usedBlobs, usedChains };
}

/**
 * Remove the snapshots and blobs of a forgotten image that no other image and no lease uses;
 * returns the chain IDs of the removed snapshots, top first. A removal that fails is logged
 * and left for a later collection.
 */
export async function collect(state: ImageRecords, rec: ImageRecord): Promise<string[]> {
  const { usedBlobs, usedChains } = inUse(state);
  const removed: string[] = [];
  for (const chain of chainIds(rec.diffIds).reverse()) {
    if (usedChains.has(chain) || state.leasedSnapshots.has(chain)) continue;
    try {
      await state.snapshots.remove(chain);
      removed.push(chain);
    } catch (err) {
      log.error({ err, chain }, 'could not remove a layer snapshot');
    }
  }
  for (const digest of [rec.manifest.digest, rec.id, ...rec.layers.map((l) => l.digest)]) {
    if (usedBlobs.has(digest) || state.leasedBlobs.has(digest)) continue;
    try {
      await state.content.delete(digest);
    } catch (err) {
      if (!isKind(err, 'notFound')) log.error({ err, digest }, 'could not remove a blob');
    }
  }
  return removed;
}

/** See ImageIngester.discardUnused. */
export async function discardUnused(state: ImageRecords, blobs: readonly string[], chains: readonly string[]): Promise<void> {
  await state.exclusive(async () => {
    const { usedBlobs, usedChains } = inUse(state);
    for (const chain of [...chains].reverse()) {
      if (usedChains.has(chain) || state.leasedSnapshots.has(chain)) continue;
      if (!(await state.snapshots.has(chain))) continue;
      await state.snapshots.remove(chain).catch((err: unknown) => {
        log.warn({ err, chain }, 'could not remove an unused layer snapshot');
      });
    }
    for (const digest of new Set(blobs)) {
      if (usedBlobs.has(digest) || state.leasedBlobs.has(digest)) continue;
      await state.content.delete(digest).catch((err: unknown) => {
        if (!isKind(err, 'notFound')) throw err;
      });
    }
  });
}

/** See ImageRemover.gc: retained records no container uses any more are forgotten and collected. */
export async function gc(state: ImageRecords): Promise<void> {
  await state.exclusive(async () => {
    for (const rec of [...state.records.values()]) {
      if (!rec.retained) continue;
      if ((await state.usage(rec.id)).any) continue;
      await state.dropRecord(rec.id);
      await collect(state, rec);
    }
  });
}
