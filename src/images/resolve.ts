import { notFound } from '../errors.js';
import type { ImageRecord, ImageRecords } from './records.js';
import { familiarName, fullImageId, isFullImageId, parseReference, type Reference, referenceString, withDefaultTag } from './reference.js';

/**
 * Resolution of what a user names to an image record, the way Docker does it: a full ID
 * (`sha256:<hex>` or 64 hex), then a reference (`busybox` = `busybox:latest`, `x@sha256:…`),
 * then a unique ID prefix (`3f57d9`, `sha256:3f57`). Retained records (kept for containers
 * after a forced delete) are never found. Reads only.
 */

/** The live record a name or ID denotes; notFound (the name in familiar form) or invalid (a malformed reference). */
export function resolveRecord(state: ImageRecords, nameOrId: string): ImageRecord {
  if (isFullImageId(nameOrId)) {
    const rec = state.live(fullImageId(nameOrId));
    if (rec) return rec;
    throw notFound(`No such image: ${nameOrId}`);
  }
  const ref = parseReference(nameOrId);
  const id = lookupRef(state, ref);
  if (id) return state.records.get(id)!;
  const byPrefix = searchPrefix(state, nameOrId);
  if (byPrefix) return byPrefix;
  throw notFound(`No such image: ${familiarName(withDefaultTag(ref))}`);
}

function lookupRef(state: ImageRecords, ref: Reference): string | undefined {
  const id = state.refs.get(refKey(ref));
  if (id) return id;
  if (ref.digest !== undefined) {
    // A digest reference also finds an image of that repository whose manifest has that digest.
    const repo = `${ref.domain}/${ref.path}`;
    for (const [k, v] of state.refs) {
      const rec = state.records.get(v);
      if (rec?.manifest.digest === ref.digest && k.startsWith(`${repo}:`)) return v;
    }
  }
  return undefined;
}

/** A unique live image whose ID starts with `s` (hex, optionally `sha256:`-prefixed). */
function searchPrefix(state: ImageRecords, s: string): ImageRecord | undefined {
  const hex = s.replace(/^sha256:/, '');
  if (!/^[a-f0-9]+$/.test(hex)) return undefined;
  let found: ImageRecord | undefined;
  for (const rec of state.records.values()) {
    if (rec.retained || !rec.id.startsWith(`sha256:${hex}`)) continue;
    if (found) return undefined; // ambiguous
    found = rec;
  }
  return found;
}

/** The key of a reference in `refs`: tag references get `latest`; `name:tag@digest` looks up by digest. */
export function refKey(ref: Reference): string {
  if (ref.digest !== undefined) return referenceString({ domain: ref.domain, path: ref.path, digest: ref.digest });
  return referenceString(withDefaultTag(ref));
}

/** The repository (`domain/path`) of a normalized reference. */
export function repoOf(key: string): string {
  const r = parseReference(key);
  return `${r.domain}/${r.path}`;
}

/** Whether the user named the image by (a prefix of) its ID rather than by a reference. */
export function isIdPrefix(id: string, s: string): boolean {
  return id.startsWith(s) || id.slice('sha256:'.length).startsWith(s);
}
