import type { TagHistoryEntry, TagVersion } from './images.js';

/**
 * Tag versions, computed from a tag's history of moves: each distinct image the tag pointed
 * to is a version, numbered in the order the tag first reached it (stable as the tag moves).
 * A rollback goes back along the line of versions the tag went through, so rolling back twice
 * from the third version reaches the first.
 */

/** The versions of one tag, newest version first. `keep` previous versions are marked kept. */
export function tagVersions(history: readonly TagHistoryEntry[], current: string | undefined, exists: (id: string) => boolean, keep: number): TagVersion[] {
  const byImage = new Map<string, TagVersion>();
  let n = 0;
  for (const e of history) {
    if (e.image === null || e.cause === 'untag') continue;
    let v = byImage.get(e.image);
    if (!v) {
      v = { version: ++n, image: e.image, time: e.time, cause: e.cause, current: false, available: false, kept: false };
      byImage.set(e.image, v);
    }
    v.time = e.time;
    v.cause = e.cause;
  }
  const out = [...byImage.values()].sort((a, b) => b.version - a.version);
  let kept = 0;
  for (const v of out) {
    v.current = v.image === current;
    v.available = exists(v.image);
    if (!v.current && v.available && kept < keep) {
      v.kept = true;
      kept++;
    }
  }
  return out;
}

/**
 * The line of images the tag went through, oldest first, with rollbacks undone: a move pushes
 * its image, a rollback cuts the line back to the image it returned to.
 */
export function versionLine(history: readonly TagHistoryEntry[]): string[] {
  const line: string[] = [];
  for (const e of history) {
    if (e.image === null) continue;
    if (e.cause === 'rollback') {
      const i = line.lastIndexOf(e.image);
      if (i >= 0) {
        line.length = i + 1;
        continue;
      }
    }
    if (line.at(-1) !== e.image) line.push(e.image);
  }
  return line;
}

/** The image a plain rollback goes to: the one before the current on the line that still exists. */
export function previousVersion(history: readonly TagHistoryEntry[], current: string | undefined, exists: (id: string) => boolean): string | undefined {
  const line = versionLine(history);
  let i = line.length - 1;
  if (current !== undefined && line[i] === current) i--;
  for (; i >= 0; i--) {
    const id = line[i]!;
    if (id !== current && exists(id)) return id;
  }
  return undefined;
}
