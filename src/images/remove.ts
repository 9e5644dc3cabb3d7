import { conflict, isKind, notFound } from '../errors.js';
import { chainIds } from '../snapshots/chain.js';
import { matchLabels, type Filters } from '../util/filters.js';
import { pruneFilters } from './filters.js';
import { collect } from './gc.js';
import type { ImageUsage } from './images.js';
import type { ImageRecord, ImageRecords } from './records.js';
import { familiarName, parseReference, shortId, withDefaultTag } from './reference.js';
import { isIdPrefix, refKey, repoOf, resolveRecord } from './resolve.js';
import { keptVersions, removeRefLocked } from './tags.js';
import type { DeleteResponseItem, PruneReport } from './types.js';

/**
 * `docker rmi` and `docker image prune` with Docker's semantics (moby's
 * daemon/images/image_delete.go, in the same order of checks). The `…Locked` functions run
 * inside the records' `exclusive` queue.
 */

/** Docker's ImageDelete. */
export async function deleteLocked(state: ImageRecords, nameOrId: string, force: boolean, prune: boolean): Promise<DeleteResponseItem[]> {
  const rec = resolveRecord(state, nameOrId);
  const id = rec.id;
  const records: DeleteResponseItem[] = [];
  let repoRefs = state.refsOf(id);
  const usage = await state.usage(id);
  let removedRepositoryRef = false;

  if (!isIdPrefix(id, nameOrId)) {
    const parsed = parseReference(nameOrId);
    if (!force && isSingleReference(repoRefs) && usage.any) {
      throw conflict(
        `conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${shortId(usage.containerIds[0] ?? '')} is using its referenced image ${shortId(id)}`,
      );
    }
    const key = refKey(parsed);
    if (!state.refs.has(key)) throw notFound(`No such image: ${familiarName(withDefaultTag(parsed))}`);
    await removeRefLocked(state, key);
    records.push({ Untagged: familiarName(key) });
    repoRefs = state.refsOf(id);
    if (parsed.digest === undefined) {
      // A tag went: when no tag of that repository remains, its digest references go too.
      const repo = `${parsed.domain}/${parsed.path}`;
      const sameRepo = (r: string): boolean => repoOf(r) === repo;
      if (!repoRefs.some((r) => sameRepo(r) && !r.includes('@'))) {
        for (const r of repoRefs.filter((r) => sameRepo(r) && r.includes('@'))) {
          await removeRefLocked(state, r);
          records.push({ Untagged: familiarName(r) });
        }
        repoRefs = state.refsOf(id);
      }
    }
    if (repoRefs.length > 0) return records;
    removedRepositoryRef = true;
  } else if (isSingleReference(repoRefs)) {
    // By ID, with the references all in one repository and at most one tag: remove them all.
    const c = findConflict(state, rec, usage, { hard: true, soft: !force, activeReference: false });
    if (c) throw deleteConflict(rec.id, c);
    for (const r of repoRefs) {
      await removeRefLocked(state, r);
      records.push({ Untagged: familiarName(r) });
    }
  }
  await deleteHelper(state, rec, records, force, prune, removedRepositoryRef);
  return records;
}

interface DeleteConflict {
  message: string;
  hard: boolean;
  /** The conflict is a container using the image. */
  used: boolean;
}

/**
 * Docker's checkImageDeleteConflict. Hard conflicts (child images, a running container) stop
 * even a forced delete; soft ones (other references, a stopped container) only an unforced one.
 */
function findConflict(
  state: ImageRecords,
  rec: ImageRecord,
  usage: ImageUsage,
  mask: { hard: boolean; soft: boolean; activeReference: boolean },
): DeleteConflict | undefined {
  if (mask.hard && state.children(rec.id).length > 0) return { message: 'image has dependent child images', hard: true, used: false };
  if (mask.hard && usage.running) {
    return { message: `image is being used by running container ${shortId(usage.containerIds[0] ?? '')}`, hard: true, used: true };
  }
  if (mask.soft && mask.activeReference && state.refsOf(rec.id).length > 0) {
    return { message: 'image is referenced in multiple repositories', hard: false, used: false };
  }
  if (mask.soft && usage.any) {
    return { message: `image is being used by stopped container ${shortId(usage.containerIds[0] ?? '')}`, hard: false, used: true };
  }
  return undefined;
}

function deleteConflict(id: string, c: DeleteConflict): Error {
  return conflict(`conflict: unable to delete ${shortId(id)} (${c.hard ? 'cannot be forced' : 'must be forced'}) - ${c.message}`);
}

async function deleteHelper(state: ImageRecords, rec: ImageRecord, records: DeleteResponseItem[], force: boolean, prune: boolean, quiet: boolean): Promise<void> {
  const usage = await state.usage(rec.id);
  const c = findConflict(state, rec, usage, { hard: true, soft: !force, activeReference: true });
  if (c) {
    // Quietly (pruning a parent, or after untagging) a conflict only matters for a dangling, unused image.
    const dangling = state.refsOf(rec.id).length === 0 && state.children(rec.id).length === 0;
    if (quiet && (!dangling || c.used)) return;
    throw deleteConflict(rec.id, c);
  }
  const parent = rec.parent;
  for (const r of state.refsOf(rec.id)) {
    await removeRefLocked(state, r);
    records.push({ Untagged: familiarName(r) });
  }
  const removedLayers = await removeRecord(state, rec, usage.any);
  await state.emit('delete', rec.id, rec.id);
  records.push({ Deleted: rec.id });
  for (const chain of removedLayers) records.push({ Deleted: chain });
  if (!prune || parent === '') return;
  const parentRec = state.live(parent);
  if (!parentRec) return;
  await deleteHelper(state, parentRec, records, false, true, true);
}

/**
 * Forget an image. When a container still uses it, the record stays hidden (`retained`) with
 * its layers until `gc`. Otherwise its snapshots and blobs that nothing else uses are removed;
 * returns the chain IDs of the removed snapshots, top first.
 */
async function removeRecord(state: ImageRecords, rec: ImageRecord, usedByContainer: boolean): Promise<string[]> {
  state.forgetConfig(rec.id);
  if (usedByContainer) {
    rec.retained = true;
    await state.saveRecord(rec);
    return [];
  }
  await state.dropRecord(rec.id);
  return collect(state, rec);
}

/** All references in one repository with at most one tag (Docker's isSingleReference). */
function isSingleReference(refs: string[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  const repos = new Set<string>();
  let tags = 0;
  for (const r of refs) {
    repos.add(repoOf(r));
    if (!r.includes('@')) tags++;
  }
  return tags <= 1 && repos.size === 1;
}

/** See ImageRemover.prune: previous versions of tags are kept (and reported), as are parents of other images. */
export async function prune(state: ImageRecords, filters: Filters): Promise<PruneReport> {
  const { danglingOnly, until } = pruneFilters(filters);
  return state.exclusive(async () => {
    const report: DeleteResponseItem[] = [];
    let reclaimed = 0;
    const sizes = new Map<string, number>();
    for (const rec of state.records.values()) chainIds(rec.diffIds).forEach((c, i) => sizes.set(c, rec.layerSizes[i] ?? 0));
    const candidates: ImageRecord[] = [];
    const kept = keptVersions(state);
    const keptReport: Array<{ Id: string; Reason: string }> = [];
    for (const rec of [...state.records.values()]) {
      if (rec.retained) continue;
      const refs = state.refsOf(rec.id);
      const why = kept.get(rec.id);
      if (why !== undefined && (refs.length === 0 || !danglingOnly)) {
        keptReport.push({ Id: rec.id, Reason: why });
        continue;
      }
      if (refs.length === 0 && state.children(rec.id).length > 0) continue;
      if (until !== undefined && rec.created !== '' && Date.parse(rec.created) > until) continue;
      if (!matchLabels(filters, (await state.configOf(rec.id)).config?.Labels ?? {})) continue;
      candidates.push(rec);
    }
    for (const rec of candidates) {
      if (!state.records.has(rec.id) || rec.retained) continue;
      const refs = state.refsOf(rec.id);
      const attempts: string[] = [];
      if (refs.length > 0) {
        const hasTag = refs.some((r) => !r.includes('@'));
        if (!danglingOnly || !hasTag) attempts.push(...refs);
      } else attempts.push(rec.id);
      for (const target of attempts) {
        try {
          report.push(...(await deleteLocked(state, target, false, true)));
        } catch (err) {
          if (isKind(err, 'conflict') || isKind(err, 'notFound')) continue;
          throw err;
        }
      }
    }
    for (const item of report) if ('Deleted' in item) reclaimed += sizes.get(item.Deleted) ?? 0;
    const result: PruneReport = { ImagesDeleted: report.length > 0 ? report : null, SpaceReclaimed: reclaimed };
    if (keptReport.length > 0) result.VersionsKept = keptReport;
    return result;
  });
}
