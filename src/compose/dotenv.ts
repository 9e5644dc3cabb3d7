import { readFile } from 'node:fs/promises';
import { ComposeError } from './compose.js';
import { interpolate, InterpolationError, type Lookup } from './interpolate.js';

/**
 * Compose's `.env` and `env_file` format: `KEY=value` lines, `export ` allowed before the
 * key, `#` comments (also after an unquoted value, behind a space), values in single quotes
 * taken literally, in double quotes with `\n` escapes and `${VAR}` expanded, unquoted values
 * trimmed and expanded. A bare `KEY` takes the variable from `lookup`, or is left out.
 */
export function parseDotenv(text: string, file: string, lookup: Lookup): Record<string, string> {
  const out: Record<string, string> = {};
  const seen: Lookup = (k) => (Object.hasOwn(out, k) ? out[k] : lookup(k));
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const m = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!m) throw new ComposeError(`${file}:${n + 1}: invalid line ${JSON.stringify(lines[n])}: expected KEY=value`);
    const key = m[1]!;
    if (m[2] === undefined) {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    let value = m[2];
    try {
      if (value.startsWith("'")) {
        const end = value.indexOf("'", 1);
        if (end < 0) throw new ComposeError(`${file}:${n + 1}: unterminated quote in ${key}`);
        value = value.slice(1, end);
      } else if (value.startsWith('"')) {
        let v = value.slice(1);
        // a quoted value may run over several lines
        while (!/(^|[^\\])"/.test(v) && n + 1 < lines.length) v += `\n${lines[++n]}`;
        const end = v.search(/(^|[^\\])"/);
        if (end < 0) throw new ComposeError(`${file}:${n + 1}: unterminated quote in ${key}`);
        const body = v.slice(0, end + (v[end] === '"' ? 0 : 1));
        value = interpolate(body.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\'), seen);
      } else {
        value = interpolate(value.replace(/\s+#.*$/, '').trim(), seen);
      }
    } catch (err) {
      if (err instanceof InterpolationError) throw new ComposeError(`${file}:${n + 1}: ${err.message}`);
      throw err;
    }
    out[key] = value;
  }
  return out;
}

/** Read an env file; a missing file is an error naming it. */
export async function readDotenv(path: string, lookup: Lookup): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ComposeError(`env file ${path} not found`);
    throw err;
  }
  return parseDotenv(text, path, lookup);
}
