/** Query strings as the Docker API takes them, and its `filters` parameter. */

type QueryScalar = string | number | boolean | undefined | null;
/** Query values: `true` is sent as `1`, `false`, undefined and null are left out, arrays repeat the key. */
export type Query = Record<string, QueryScalar | readonly string[]>;

/** Docker's `filters` query value: `{"status":{"exited":true}}`, from `key=value` pairs or a map. */
export function filtersParam(filters: readonly string[] | Record<string, readonly string[]> | undefined): string | undefined {
  if (filters === undefined) return undefined;
  const map: Record<string, Record<string, boolean>> = {};
  const add = (k: string, v: string): void => {
    (map[k] ??= {})[v] = true;
  };
  if (Array.isArray(filters)) {
    for (const f of filters as readonly string[]) {
      const eq = f.indexOf('=');
      if (eq <= 0) throw new Error(`bad format of filter (expected name=value)`);
      add(f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1));
    }
  } else {
    for (const [k, vs] of Object.entries(filters as Record<string, readonly string[]>)) for (const v of vs) add(k, v);
  }
  return Object.keys(map).length === 0 ? undefined : JSON.stringify(map);
}

/** `?k=v&...` of a query (empty when nothing is sent). */
export function encodeQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === false) continue;
    if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
    else params.append(k, v === true ? '1' : String(v));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}
