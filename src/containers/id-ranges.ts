import { unavailable } from '../errors.js';
import type { IdMap } from '../util/idmap.js';

/** A run of subordinate IDs, as a line of /etc/subuid holds it: `start` and `count`. */
export interface SubIdRange {
  start: number;
  count: number;
}

/** The size of the range each container gets (what an unprivileged user namespace needs for a whole distribution). */
export const RANGE_SIZE = 65536;

/**
 * The ranges `--userns=auto` hands out: the subordinate uids and gids given are cut into
 * slots of RANGE_SIZE, the n-th uid slot paired with the n-th gid slot, so no two holders
 * ever share an ID. A slot is held by one owner (a container ID) from `allocate` to
 * `release`; `allocate` takes the lowest free slot, so a slot given back is the next one
 * handed out. The pool keeps nothing on disk: the holders' records do, and `take` gives each
 * its slot back when pierd starts.
 */
export class IdRangePool {
  private readonly slots: IdMap[];
  /** Slot index by owner. */
  private readonly held = new Map<string, number>();
  private readonly taken = new Set<number>();

  constructor(uids: readonly SubIdRange[], gids: readonly SubIdRange[], private readonly size = RANGE_SIZE) {
    const u = cut(uids, size);
    const g = cut(gids, size);
    this.slots = u.slice(0, Math.min(u.length, g.length)).map((uid, i) => ({ uid, gid: g[i]!, size }));
  }

  /** How many ranges the pool has in all. */
  get capacity(): number {
    return this.slots.length;
  }

  /** The range `owner` holds, a new one when it holds none; `unavailable` when every range is held. */
  allocate(owner: string): IdMap {
    const have = this.held.get(owner);
    if (have !== undefined) return { ...this.slots[have]! };
    const free = this.slots.findIndex((_, i) => !this.taken.has(i));
    if (free < 0) {
      throw unavailable(`no free user namespace range: all ${this.slots.length} ranges of ${this.size} IDs are in use (add subordinate IDs to /etc/subuid and /etc/subgid)`);
    }
    this.held.set(owner, free);
    this.taken.add(free);
    return { ...this.slots[free]! };
  }

  /**
   * `owner` holds `map` already (its record says so, from before pierd started). Returns
   * false when `map` is no slot of the pool (the subordinate IDs changed since) or another
   * owner holds it: the caller keeps using its map, the pool does not give it out.
   */
  take(owner: string, map: IdMap): boolean {
    const i = this.slots.findIndex((s) => s.uid === map.uid && s.gid === map.gid && s.size === map.size);
    if (i < 0 || this.taken.has(i)) return false;
    this.held.set(owner, i);
    this.taken.add(i);
    return true;
  }

  /** `owner` gives its range back (nothing happens when it holds none). */
  release(owner: string): void {
    const i = this.held.get(owner);
    if (i === undefined) return;
    this.held.delete(owner);
    this.taken.delete(i);
  }
}

/** The starts of the whole slots of `size` in `ranges`, in order, overlaps skipped. */
function cut(ranges: readonly SubIdRange[], size: number): number[] {
  const out: number[] = [];
  const seen: Array<[number, number]> = [];
  for (const r of ranges) {
    for (let start = r.start; start + size <= r.start + r.count; start += size) {
      if (seen.some(([a, b]) => start < b && start + size > a)) continue;
      seen.push([start, start + size]);
      out.push(start);
    }
  }
  return out;
}

/** `ranges` without the IDs `[start, start+count)`. */
export function withoutRange(ranges: readonly SubIdRange[], start: number, count: number): SubIdRange[] {
  const end = start + count;
  const out: SubIdRange[] = [];
  for (const r of ranges) {
    const rEnd = r.start + r.count;
    if (rEnd <= start || r.start >= end) {
      out.push({ ...r });
      continue;
    }
    if (r.start < start) out.push({ start: r.start, count: start - r.start });
    if (rEnd > end) out.push({ start: end, count: rEnd - end });
  }
  return out;
}
