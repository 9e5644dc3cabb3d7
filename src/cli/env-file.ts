import { ParseError } from './human.js';

/**
 * Docker's `--env-file` and `--label-file` format: one `KEY=value` per line, the value kept
 * exactly (spaces and quotes included), leading whitespace of the line ignored, `#`
 * comments and blank lines skipped, a UTF-8 byte-order mark at the start dropped. A line
 * with only `KEY` takes the variable from `lookup` (the caller's environment) and is left
 * out when it is unset there.
 */
export function parseEnvFile(content: string, fileName: string, lookup: (key: string) => string | undefined): string[] {
  const lines: string[] = [];
  const text = content.startsWith('\ufeff') ? content.slice(1) : content;
  if (text.includes('\ufffd')) {
    const bad = text.split('\n').findIndex((l) => l.includes('\ufffd'));
    throw new ParseError(`env file ${fileName} contains invalid utf8 bytes at line ${bad + 1}`);
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq >= 0 ? line.slice(0, eq) : line;
    if (key === '') throw new ParseError(`no variable name on line '${line}'`);
    if (/\s/.test(key)) throw new ParseError(`variable '${key}' contains whitespaces`);
    if (eq >= 0) {
      lines.push(line);
      continue;
    }
    const value = lookup(key);
    if (value !== undefined) lines.push(`${key}=${value}`);
  }
  return lines;
}

/** Docker's ValidateEnv for `-e`: `KEY=value` as given; a bare `KEY` takes its value from `lookup` when set. */
export function expandEnv(entry: string, lookup: (key: string) => string | undefined): string {
  const eq = entry.indexOf('=');
  const key = eq >= 0 ? entry.slice(0, eq) : entry;
  if (key === '') throw new ParseError(`invalid environment variable: ${entry}`);
  if (eq >= 0) return entry;
  const value = lookup(key);
  return value !== undefined ? `${key}=${value}` : entry;
}
