/**
 * Compose's variable interpolation, applied to every string value of a file before it is
 * validated: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
 * `${VAR:?message}` / `${VAR?message}` (an error), `${VAR:+alt}` / `${VAR+alt}`, and `$$`
 * for a literal `$`. Defaults and alternatives are interpolated themselves (`${A:-${B}}`).
 * Keys are never interpolated.
 */

export type Lookup = (name: string) => string | undefined;

/** A template that cannot be expanded; `message` is Compose's wording without the location. */
export class InterpolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpolationError';
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Expand `text`; throws InterpolationError for a bad template or a required variable without value. */
export function interpolate(text: string, lookup: Lookup): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw invalidFormat(text);
      out += braced(text.slice(i + 2, end), text, lookup);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) throw invalidFormat(text);
    out += lookup(m[0]) ?? '';
    i += 1 + m[0].length;
  }
  return out;
}

function invalidFormat(text: string): InterpolationError {
  return new InterpolationError(`invalid interpolation format for ${JSON.stringify(text)}: you may need to escape any $ with another $`);
}

/** The index of the `}` closing a `${` whose body starts at `from`, counting nested `${`; -1 if none. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '$') j++;
    else if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function braced(body: string, whole: string, lookup: Lookup): string {
  const m = NAME.exec(body);
  if (!m) throw invalidFormat(whole);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === '') return value ?? '';
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest);
  if (!op) throw invalidFormat(whole);
  const arg = (): string => interpolate(rest.slice(op[0].length), lookup);
  const emptyCounts = op[0].startsWith(':');
  const missing = value === undefined || (emptyCounts && value === '');
  switch (op[0]) {
    case ':-':
    case '-':
      return missing ? arg() : value;
    case ':?':
    case '?': {
      if (!missing) return value;
      const message = arg();
      throw new InterpolationError(`required variable ${name} is missing a value${message ? `: ${message}` : ''}`);
    }
    default:
      return missing ? '' : arg();
  }
}

/**
 * Interpolate every string in a parsed document (arrays and mappings walked, keys kept);
 * `onError` turns a failure at a path into the error to throw (with its line).
 */
export function interpolateTree(value: unknown, lookup: Lookup, onError: (path: string[], err: InterpolationError) => Error, path: string[] = []): unknown {
  if (typeof value === 'string') {
    try {
      return interpolate(value, lookup);
    } catch (err) {
      if (err instanceof InterpolationError) throw onError(path, err);
      throw err;
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, lookup, onError, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, lookup, onError, [...path, k]);
    return out;
  }
  return value;
}
