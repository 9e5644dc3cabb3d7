/**
 * Go's json.Indent, as `docker inspect` prints: the daemon's JSON re-indented token by
 * token, so strings, escapes, key order and large numbers (`timeNano`) stay exactly as sent.
 * Empty objects and arrays stay `{}` and `[]`. The input must be valid JSON.
 */
export function indentJson(raw: string, indent = '    ', prefix = ''): string {
  let out = '';
  let depth = 0;
  let i = 0;
  const newline = (): string => `\n${prefix}${indent.repeat(depth)}`;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < raw.length && raw[j] !== '"') j += raw[j] === '\\' ? 2 : 1;
      out += raw.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (/\s/.test(raw[j] ?? '')) j++;
      const close = c === '{' ? '}' : ']';
      if (raw[j] === close) {
        out += c + close;
        i = j + 1;
        continue;
      }
      depth++;
      out += c + newline();
      i++;
      continue;
    }
    if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
      i++;
      continue;
    }
    if (c === ',') {
      out += `,${newline()}`;
      i++;
      continue;
    }
    if (c === ':') {
      out += ': ';
      i++;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** `docker inspect` output for raw JSON elements: an indented array, `[]` when empty. */
export function inspectArray(elements: readonly string[]): string {
  if (elements.length === 0) return '[]\n';
  return `${indentJson(`[${elements.join(',')}]`)}\n`;
}
