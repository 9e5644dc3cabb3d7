import { invalid } from '../errors.js';
import { matchLabels, type Filters } from '../util/filters.js';
import type { VolumeRecord } from './store.js';

/** The filters of `GET /volumes` and `POST /volumes/prune`, by Docker's rules (moby's volume/service/convert.go). */

/** Refuse keys the endpoint does not take, and boolean filters that are not booleans. */
export function checkFilterValues(filters: Filters, allowed: readonly string[]): void {
  for (const key of filters.keys()) if (!allowed.includes(key)) throw invalid(`invalid filter '${key}'`);
  for (const key of ['dangling', 'all']) {
    for (const v of filters.get(key) ?? []) if (parseBool(v) === undefined) throw invalid(`invalid filter '${key}=${v}'`);
  }
}

/** Docker's boolean filter values (strconv.ParseBool). */
export function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

/** Whether a `name` filter value matches a name: the same, or a regular expression found in it (Docker's Args.Match). */
function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

/** The volumes every filter selects; `refs` is how many containers reference each. */
export function selectVolumes<T extends { rec: VolumeRecord; refs: number }>(all: T[], filters: Filters): T[] {
  const dangling = filters.get('dangling')?.map((v) => parseBool(v));
  const names = filters.get('name') ?? [];
  const drivers = filters.get('driver') ?? [];
  return all.filter(({ rec, refs }) => {
    if (dangling && dangling.length > 0 && !dangling.some((d) => d === (refs === 0))) return false;
    if (names.length > 0 && !names.some((n) => nameMatches(n, rec.Name))) return false;
    if (drivers.length > 0 && !drivers.includes(rec.Driver)) return false;
    return matchLabels(filters, rec.Labels ?? {});
  });
}
