import { invalid } from '../errors.js';
import { untilFilter, type Filters } from '../util/filters.js';

/**
 * The filters of `GET /images/json` and `POST /images/prune`, checked as Docker checks them:
 * an unknown key or a bad `dangling` value is `invalid` before anything is read or removed.
 */

const LIST_FILTERS = ['before', 'since', 'reference', 'dangling', 'label', 'label!', 'until'];
const PRUNE_FILTERS = ['dangling', 'until', 'label', 'label!'];

export interface ListFilters {
  /** `dangling` was given: true for `dangling=true`, false for `dangling=false`. */
  dangling: boolean | undefined;
  /** `reference` patterns (none: every reference matches). */
  patterns: string[];
}

/** The list filters; `before` and `since` name images, which the caller resolves before it reads `until` (untilFilter). */
export function listFilters(filters: Filters): ListFilters {
  for (const key of filters.keys()) if (!LIST_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`);
  let dangling: boolean | undefined;
  const values = filters.get('dangling');
  if (values !== undefined) {
    if (values.length === 1 && ['true', '1'].includes(values[0]!.toLowerCase())) dangling = true;
    else if (values.length === 1 && ['false', '0'].includes(values[0]!.toLowerCase())) dangling = false;
    else throw invalid(`invalid filter 'dangling=${values.join(',')}'`);
  }
  return { dangling, patterns: filters.get('reference') ?? [] };
}

export interface PruneFilters {
  /** Only dangling images (the default); `dangling=false` prunes every unused image. */
  danglingOnly: boolean;
  /** `until` as Unix milliseconds. */
  until: number | undefined;
}

export function pruneFilters(filters: Filters): PruneFilters {
  for (const key of filters.keys()) {
    if (!PRUNE_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`);
  }
  const danglingValues = filters.get('dangling') ?? [];
  let danglingOnly = true;
  if (danglingValues.length > 0) {
    const v = danglingValues[danglingValues.length - 1]!.toLowerCase();
    if (['0', 'false'].includes(v)) danglingOnly = false;
    else if (!['1', 'true'].includes(v)) throw invalid(`invalid filter 'dangling=${danglingValues.join(',')}'`);
  }
  return { danglingOnly, until: untilFilter(filters) };
}
