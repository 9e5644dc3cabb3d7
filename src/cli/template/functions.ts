import { sprintf } from './printf.js';
import { type TemplateFunc } from './types.js';
import { fmtValue, goType, isMap, toJson, truth } from './values.js';

/**
 * The functions a template may call: Go's text/template builtins and Docker's templates
 * package, with Go's argument checks (a wrong type is an error, as in Go). Pure.
 */

function asString(v: unknown): string {
  if (typeof v === 'string') return v;
  throw new Error(`wrong type for value; expected string; got ${goType(v)}`);
}

function asInt(v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new Error(`wrong type for value; expected int; got ${goType(v)}`);
}

function basicKind(v: unknown): string {
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (v === undefined || v === null) return 'nil';
  return 'other';
}

function eq(a: unknown, ...rest: unknown[]): boolean {
  if (rest.length === 0) throw new Error('missing argument for comparison');
  for (const b of rest) {
    const ka = basicKind(a);
    const kb = basicKind(b);
    if (ka === 'other' || kb === 'other') {
      if (ka !== kb) throw new Error('incompatible types for comparison');
      throw new Error('non-comparable type');
    }
    if (ka !== kb && ka !== 'nil' && kb !== 'nil') throw new Error('incompatible types for comparison');
    if (a === b || (ka === 'nil' && kb === 'nil')) return true;
  }
  return false;
}

function compare(a: unknown, b: unknown): number {
  const ka = basicKind(a);
  if (ka !== basicKind(b)) throw new Error('incompatible types for comparison');
  if (ka === 'number') return (a as number) - (b as number);
  if (ka === 'string') return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  throw new Error(`invalid type for comparison`);
}

function goLen(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goType(v)}`);
}

function index(item: unknown, ...keys: unknown[]): unknown {
  let v = item;
  for (const key of keys) {
    if (Array.isArray(v) || typeof v === 'string') {
      const i = asInt(key);
      const len = Array.isArray(v) ? v.length : Buffer.byteLength(v);
      if (i < 0 || i >= len) throw new Error(`index out of range: ${i}`);
      v = Array.isArray(v) ? v[i] : Buffer.from(v)[i];
    } else if (isMap(v)) {
      v = Object.hasOwn(v, String(key)) ? v[String(key)] : undefined;
    } else if (v === undefined || v === null) {
      throw new Error('index of untyped nil');
    } else {
      throw new Error(`can't index item of type ${goType(v)}`);
    }
  }
  return v;
}

function slice(item: unknown, ...idx: unknown[]): unknown {
  const ints = idx.map(asInt);
  if (typeof item === 'string') return item.slice(ints[0] ?? 0, ints[1] ?? item.length);
  if (Array.isArray(item)) return item.slice(ints[0] ?? 0, ints[1] ?? item.length);
  throw new Error(`can't slice item of type ${goType(item)}`);
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += fmtValue(a);
  });
  return out;
}

/** Go's strings.Title: upper-case the first letter of each word. */
function title(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    const sep = /[\s!-/:-@[-^`{-~]/.test(prev) && prev !== '_';
    out += sep ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function split(s: unknown, sep: unknown): string[] {
  const str = asString(s);
  const sp = asString(sep);
  if (sp === '') return Array.from(str);
  return str.split(sp);
}

function join(list: unknown, sep: unknown): string {
  if (!Array.isArray(list)) throw new Error(`wrong type for value; expected []string; got ${goType(list)}`);
  return list.map((x) => (typeof x === 'string' ? x : fmtValue(x))).join(asString(sep));
}

/** The functions of Go's text/template and Docker's templates package. */
export const FUNCS: Record<string, TemplateFunc> = {
  and: (...a) => {
    for (const v of a) if (!truth(v)) return v;
    return a[a.length - 1];
  },
  or: (...a) => {
    for (const v of a) if (truth(v)) return v;
    return a[a.length - 1];
  },
  not: (v) => !truth(v),
  len: (v) => goLen(v),
  index: (item, ...keys) => index(item, ...keys),
  slice: (item, ...idx) => slice(item, ...idx),
  print: (...a) => sprint(a),
  printf: (f, ...a) => sprintf(asString(f), a),
  println: (...a) => `${a.map(fmtValue).join(' ')}\n`,
  eq: (a, ...b) => eq(a, ...b),
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  urlquery: (...a) => encodeURIComponent(sprint(a)).replace(/%20/g, '+'),
  json: (v) => toJson(v),
  split: (s, sep) => split(s, sep),
  join: (l, sep) => join(l, sep),
  title: (s) => title(asString(s)),
  lower: (s) => asString(s).toLowerCase(),
  upper: (s) => asString(s).toUpperCase(),
  pad: (s, pre, post) => `${' '.repeat(asInt(pre))}${asString(s)}${' '.repeat(asInt(post))}`,
  truncate: (s, n) => {
    const chars = Array.from(asString(s));
    const len = asInt(n);
    return chars.length > len ? chars.slice(0, len).join('') : chars.join('');
  },
};

/** Docker's HeaderFunctions: in a table header the formatting functions return their value unchanged. */
export const HEADER_FUNCS: Record<string, TemplateFunc> = {
  ...FUNCS,
  json: (v) => v,
  split: (v) => v,
  join: (v) => v,
  title: (v) => v,
  lower: (v) => v,
  upper: (v) => v,
  pad: (v) => v,
  truncate: (v) => v,
};
