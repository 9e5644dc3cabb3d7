import { invalid } from '../errors.js';

/** Docker's `filters` query: each key with the values given for it. */
export type Filters = Map<string, string[]>;

/** `label=key`, `label=key=value`, `label!=...` filters (Docker's MatchKVList). */
export function matchLabels(filters: Filters, labels: Record<string, string>): boolean {
  const test = (expr: string): boolean => {
    const i = expr.indexOf('=');
    if (i < 0) return expr in labels;
    return labels[expr.slice(0, i)] === expr.slice(i + 1);
  };
  for (const expr of filters.get('label') ?? []) if (!test(expr)) return false;
  for (const expr of filters.get('label!') ?? []) if (test(expr)) return false;
  return true;
}

/** The `until` filter: a unix timestamp (with fraction), an RFC3339 date, or a Go duration ago. */
export function untilFilter(filters: Filters): number | undefined {
  const values = filters.get('until') ?? [];
  if (values.length === 0) return undefined;
  if (values.length > 1) throw invalid('more than one until filter specified');
  const v = values[0]!;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (d) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
    return Date.now() - Number(d[1]) * unit[d[2]!]!;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid until filter: ${v}`);
  return t;
}
