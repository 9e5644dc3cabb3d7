import { conflict, invalid, notFound } from '../errors.js';
import type { RollbackResult, TagCause, TagHistoryEntry, TagVersion } from './images.js';
import type { ImageRecords } from './records.js';
import { familiarName, fullImageId, parseReference, type Reference, referenceString, shortId, withDefaultTag } from './reference.js';
import { refKey } from './resolve.js';
import { previousVersion, tagVersions } from './versions.js';

/**
 * Tags and their versions: every move of a tag passes through `setTagLocked` and is appended
 * to the tag's history; a rollback is one more move. The `…Locked` functions run inside the
 * records' `exclusive` queue (their caller holds it); the others only read.
 */

/** How many moves of one tag are remembered. */
const HISTORY_LIMIT = 1000;

/** Point a reference at an image (see ImageTagger.setTag). */
export async function setTagLocked(state: ImageRecords, parsed: Reference, imageId: string, cause: TagCause): Promise<void> {
  const rec = state.live(fullImageId(imageId));
  if (!rec) throw notFound(`No such image: ${imageId}`);
  const ref = parsed.digest !== undefined ? { domain: parsed.domain, path: parsed.path, digest: parsed.digest } : withDefaultTag(parsed);
  const key = referenceString(ref);
  const previous = state.refs.get(key) ?? null;
  const now = new Date().toISOString();
  state.refs.set(key, rec.id);
  if (ref.digest === undefined && previous !== rec.id) {
    appendHistory(state, key, { image: rec.id, previous, time: now, cause });
  }
  await state.saveRefs();
  rec.lastTagTime = now;
  await state.saveRecord(rec);
  await state.emit('tag', rec.id, familiarName(ref));
}

/** Remove one reference (normalized key); records the untag and emits the event. Returns the image it pointed to. */
export async function removeRefLocked(state: ImageRecords, key: string): Promise<string> {
  const id = state.refs.get(key);
  if (!id) throw notFound(`No such image: ${familiarName(key)}`);
  state.refs.delete(key);
  if (parseReference(key).digest === undefined) {
    appendHistory(state, key, { image: null, previous: id, time: new Date().toISOString(), cause: 'untag' });
  }
  await state.saveRefs();
  await state.emit('untag', id, id);
  return id;
}

export function tagHistory(state: ImageRecords, reference: string): TagHistoryEntry[] {
  return [...(state.tagMoves.get(refKey(parseReference(reference))) ?? [])];
}

export function versions(state: ImageRecords, reference: string): TagVersion[] {
  const key = refKey(parseReference(reference));
  const history = state.tagMoves.get(key) ?? [];
  if (history.length === 0) throw notFound(`No versions of ${familiarName(key)}: the tag never existed here`);
  return tagVersions(history, state.refs.get(key), (id) => state.isLive(id), state.versionsKept);
}

/** Move a tag back to an image it pointed to (see ImageTagger.rollback). */
export async function rollback(state: ImageRecords, reference: string, to?: string): Promise<RollbackResult> {
  const parsed = parseReference(reference);
  if (parsed.digest !== undefined) throw invalid(`cannot roll back a digest reference (${reference}): name a tag`);
  const key = refKey(parsed);
  const name = familiarName(key);
  return state.exclusive(async () => {
    const history = state.tagMoves.get(key) ?? [];
    if (history.length === 0) throw notFound(`No versions of ${name}: the tag never existed here`);
    const current = state.refs.get(key);
    const all = tagVersions(history, current, (id) => state.isLive(id), state.versionsKept);
    let target: TagVersion | undefined;
    if (to === undefined || to === '') {
      const id = previousVersion(history, current, (i) => state.isLive(i));
      if (id === undefined) throw notFound(`${name} has no previous version to roll back to`);
      target = all.find((v) => v.image === id);
    } else if (/^\d{1,6}$/.test(to)) {
      target = all.find((v) => v.version === Number(to));
      if (!target) throw notFound(`${name} has no version ${to} (versions 1 to ${all.length})`);
    } else {
      const hex = to.replace(/^sha256:/, '');
      const matches = all.filter((v) => v.image.slice('sha256:'.length).startsWith(hex));
      if (matches.length === 0) throw notFound(`${to} is not a version of ${name}`);
      if (matches.length > 1) throw invalid(`${to} matches several versions of ${name}`);
      target = matches[0];
    }
    if (!target) throw notFound(`${name} has no previous version to roll back to`);
    if (!target.available) throw notFound(`version ${target.version} of ${name} (${shortId(target.image)}) was deleted; it cannot be rolled back to`);
    if (target.image === current) throw conflict(`${name} already points to version ${target.version} (${shortId(target.image)})`);
    await setTagLocked(state, parsed, target.image, 'rollback');
    return { reference: name, from: current ?? null, to: target.image, version: target.version };
  });
}

/** The previous versions of the tags that exist, kept from pruning: image ID → why. */
export function keptVersions(state: ImageRecords): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, history] of state.tagMoves) {
    const current = state.refs.get(key);
    if (current === undefined) continue;
    for (const v of tagVersions(history, current, (id) => state.isLive(id), state.versionsKept)) {
      if (!v.kept || out.has(v.image)) continue;
      out.set(v.image, `version ${v.version} of ${familiarName(key)}, kept for rollback (the last ${state.versionsKept} previous versions of a tag are kept)`);
    }
  }
  return out;
}

function appendHistory(state: ImageRecords, key: string, entry: TagHistoryEntry): void {
  const list = state.tagMoves.get(key) ?? [];
  list.push(entry);
  if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
  state.tagMoves.set(key, list);
}
