import { GO_STRUCT, type GoStruct } from './types.js';

/**
 * Go's view of the JSON-like values a template reads: their truth, type names, and how `%v`
 * and an action print them. Pure; no value is changed.
 */

const NO_VALUE = '<no value>';

export function isStruct(v: unknown): v is GoStruct {
  return typeof v === 'object' && v !== null && GO_STRUCT in v;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isStruct(v) && !Buffer.isBuffer(v);
}

export function goType(v: unknown): string {
  if (v === undefined || v === null) return 'interface {}';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (isStruct(v)) return v[GO_STRUCT];
  return 'map[string]interface {}';
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function truth(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isStruct(v)) return true;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/**
 * `%v` of a number. Whole numbers print as Go ints (the typed fields of Docker's structs are
 * ints); others as Go's shortest float64 `%v`: exponent form when the exponent is below -4
 * or 6 and up (`1.2345675e+06`).
 */
export function formatFloatV(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** fmt's `%v` of a value nested in a slice or map (nil prints `<nil>`). */
export function fmtValue(v: unknown): string {
  if (v === undefined || v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatFloatV(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'function') return '<func>';
  if (Array.isArray(v)) return `[${v.map(fmtValue).join(' ')}]`;
  if (isStruct(v)) {
    const str = v.String;
    if (typeof str === 'function') return String((str as () => unknown).call(v));
    return `&{${v[GO_STRUCT]}}`;
  }
  if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    return `map[${Object.keys(obj).sort().map((k) => `${k}:${fmtValue(obj[k])}`).join(' ')}]`;
  }
  return typeof v === 'bigint' ? v.toString() : '<unknown>';
}

/** What an action prints: a missing map value prints `<no value>`, as Go's templates do. */
export function printValue(v: unknown): string {
  return v === undefined ? NO_VALUE : fmtValue(v);
}

/** Go's json.Marshal-like text: struct contexts escape `<`, `>` and `&` as Go's encoder does inside MarshalJSON. */
export function toJson(v: unknown): string {
  const text = JSON.stringify(v === undefined ? null : v) ?? 'null';
  if (isStruct(v)) return text.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return text;
}
