import { invalid } from '../errors.js';

/**
 * The Dockerfile parser, written for pier after moby/buildkit's `frontend/dockerfile/parser`:
 * parser directives (`# syntax=`, `# escape=`), comments, line continuations (with comment
 * and blank lines inside them skipped), heredocs (`<<EOF`, `<<-EOF`, quoted delimiters, several
 * per instruction, for RUN, COPY and ADD), `--flag=value` options, and exec form (a JSON array
 * of strings) versus shell form, falling back to shell form when the JSON is not valid, as
 * Docker does. It does not expand variables (expand.ts does, at build time, with the stage's
 * environment). Errors are `invalid` and name the line: `dockerfile parse error line 3: ...`.
 */

export interface Heredoc {
  /** The delimiter word (`EOF`). */
  name: string;
  /** The lines between the instruction and the delimiter, each ending in `\n`. */
  content: string;
  /** The delimiter was quoted (`<<"EOF"`): no variable expansion of the content. */
  quoted: boolean;
  /** `<<-EOF`: leading tabs were stripped from each line. */
  chomp: boolean;
}

export interface Instruction {
  /** Lower-case instruction name (`run`, `copy`, ...). */
  command: string;
  /** The whole logical line as written (continuations joined by nothing, comments dropped), trimmed. */
  original: string;
  /** 1-based first line of the instruction. */
  line: number;
  /** `--name=value` options before the arguments (`--from=build`, `--mount=...`); repeated ones accumulate. */
  flags: Array<{ name: string; value: string | null }>;
  /** The text after the options (raw, not expanded). */
  rest: string;
  /** For CMD, ENTRYPOINT, RUN, SHELL, VOLUME, COPY, ADD, HEALTHCHECK CMD: the exec form's strings, else null. */
  json: string[] | null;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  escape: '\\' | '`';
  instructions: Instruction[];
}

const KNOWN = new Set([
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label',
  'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
]);
const WITH_HEREDOCS = new Set(['run', 'copy', 'add']);
const WITH_FLAGS = new Set(['from', 'run', 'copy', 'add', 'healthcheck']);

export function parseError(line: number, message: string): Error {
  return invalid(`dockerfile parse error line ${line}: ${message}`);
}

/** Parse a Dockerfile. Throws `invalid` naming the line for an unknown instruction or a malformed one. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directives: Record<string, string> = {};
  let i = 0;
  // Directives: `# key=value` lines at the very top, before any comment, blank line or instruction.
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== 'syntax' && key !== 'escape' && key !== 'check') break;
    if (key in directives) throw parseError(i + 1, `only one ${key} parser directive can be used`);
    directives[key] = m[2]!;
  }
  const escapeText = directives.escape ?? '\\';
  if (escapeText !== '\\' && escapeText !== '`') throw parseError(1, `invalid escape token '${escapeText}' does not match ` + '` or \\');
  const escape = escapeText;

  const instructions: Instruction[] = [];
  const isComment = (l: string): boolean => /^\s*#/.test(l);
  const endsWithEscape = (l: string): boolean => {
    const t = l.replace(/\s+$/, '');
    return t.endsWith(escape);
  };
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.trim() === '' || isComment(first)) {
      i++;
      continue;
    }
    const startLine = i + 1;
    let logical = '';
    let cur = first;
    i++;
    // Continuations: a line ending with the escape character continues on the next one.
    while (endsWithEscape(cur)) {
      const t = cur.replace(/\s+$/, '');
      logical += t.slice(0, -1);
      // Comment lines and blank lines inside a continuation are skipped.
      while (i < lines.length && (isComment(lines[i]!) || lines[i]!.trim() === '')) i++;
      if (i >= lines.length) {
        cur = '';
        break;
      }
      cur = lines[i]!;
      i++;
    }
    logical += cur;
    logical = logical.trim();
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(logical);
    if (!m) continue;
    const command = m[1]!.toLowerCase();
    if (!KNOWN.has(command)) throw parseError(startLine, `unknown instruction: ${m[1]!.toUpperCase()}`);
    let rest = (m[2] ?? '').trim();
    const flags: Instruction['flags'] = [];
    if (WITH_FLAGS.has(command)) {
      for (;;) {
        const f = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
        if (!f) break;
        flags.push({ name: f[1]!, value: f[2] ?? null });
        rest = rest.slice(f[0].length);
      }
    }
    const heredocs: Heredoc[] = [];
    if (WITH_HEREDOCS.has(command)) {
      for (const h of heredocNames(rest)) {
        let content = '';
        let closed = false;
        while (i < lines.length) {
          let l = lines[i]!;
          i++;
          if (h.chomp) l = l.replace(/^\t+/, '');
          if (l === h.name) {
            closed = true;
            break;
          }
          content += `${l}\n`;
        }
        if (!closed) throw parseError(startLine, `unterminated heredoc ${h.name}`);
        heredocs.push({ ...h, content });
      }
    }
    const json = heredocs.length === 0 ? parseJsonArray(rest) : null;
    const ins: Instruction = { command, original: logical, line: startLine, flags, rest, json, heredocs };
    validate(ins);
    instructions.push(ins);
  }
  return { directives, escape, instructions };
}

/** The heredoc delimiters a line opens, in order (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`). */
function heredocNames(rest: string): Array<Omit<Heredoc, 'content'>> {
  const out: Array<Omit<Heredoc, 'content'>> = [];
  const re = /<<(-?)(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z_][A-Za-z0-9_]*))/g;
  for (const m of rest.matchAll(re)) {
    // `<<<` (here-strings) and `a<<b` inside a word are not heredocs.
    const before = rest[m.index - 1];
    if (before === '<' || (before !== undefined && !/\s/.test(before) && before !== '>' && before !== '|')) continue;
    const quotedName = m[2] ?? m[3];
    out.push({ name: quotedName ?? m[4]!, quoted: quotedName !== undefined, chomp: m[1] === '-' });
  }
  return out;
}

/** The strings of a JSON array of strings (`["a","b"]`), or null when `text` is not one. */
export function parseJsonArray(text: string): string[] | null {
  const t = text.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return null;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return null;
  return v;
}

function validate(ins: Instruction): void {
  const name = ins.command.toUpperCase();
  const needsArgs = !['healthcheck'].includes(ins.command);
  if (needsArgs && ins.rest === '' && ins.heredocs.length === 0) {
    const what = ins.command === 'arg' || ins.command === 'env' || ins.command === 'label' ? 'at least one argument' : 'at least one argument';
    throw parseError(ins.line, `${name} requires ${what}`);
  }
  switch (ins.command) {
    case 'from': {
      const words = ins.rest.split(/\s+/);
      if (!(words.length === 1 || (words.length === 3 && words[1]!.toLowerCase() === 'as'))) {
        throw parseError(ins.line, 'FROM requires either one or three arguments');
      }
      if (words.length === 3 && !/^[a-zA-Z][a-zA-Z0-9_.-]*$/.test(words[2]!)) throw parseError(ins.line, `invalid name for build stage: "${words[2]!}", name can't start with a number or contain symbols`);
      break;
    }
    case 'copy':
    case 'add':
      if (ins.heredocs.length === 0 && (ins.json ?? splitShellWords(ins.rest)).length < 2) throw parseError(ins.line, `${name} requires at least two arguments, but only one was provided. Destination could not be determined`);
      break;
    case 'shell':
      if (ins.json === null) throw parseError(ins.line, 'SHELL requires the arguments to be in JSON form');
      break;
    case 'stopsignal':
    case 'workdir':
    case 'user':
    case 'maintainer':
      break;
    case 'onbuild': {
      const trig = /^(\S+)/.exec(ins.rest)![1]!.toLowerCase();
      if (trig === 'onbuild') throw parseError(ins.line, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trig === 'from' || trig === 'maintainer') throw parseError(ins.line, `${trig.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      if (!KNOWN.has(trig)) throw parseError(ins.line, `unknown instruction: ${trig.toUpperCase()}`);
      break;
    }
    default:
  }
}

/**
 * Split text into words at unquoted whitespace, keeping quotes and escapes as written
 * (buildkit's `parseWords`): `a "b c" d` is `a`, `"b c"`, `d`. Used for ENV/LABEL/ARG pairs and
 * the words of COPY, ADD, EXPOSE, VOLUME, before expansion.
 */
export function splitShellWords(text: string, escape = '\\'): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | null = null;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === null && /\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === escape && i + 1 < text.length && quote !== "'") {
      word += ch + text[i + 1]!;
      i++;
      continue;
    }
    if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (quote === ch) quote = null;
    word += ch;
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * The `key=value` pairs of ENV and LABEL (raw, before expansion). The old one-pair form
 * `ENV key value with spaces` gives one pair. Throws naming the line when a word has no `=`.
 */
export function keyValuePairs(ins: Instruction, escape = '\\'): Array<[string, string]> {
  const words = splitShellWords(ins.rest, escape);
  const name = ins.command.toUpperCase();
  if (words.length === 0) throw parseError(ins.line, `${name} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    // Old form: the first word is the key, everything after the first whitespace the value.
    const m = /^(\S+)\s+([\s\S]*)$/.exec(ins.rest);
    if (!m) throw parseError(ins.line, `${name} must have two arguments`);
    return [[m[1]!, m[2]!]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw parseError(ins.line, `${name} names can not be blank` + (eq < 0 ? ` (syntax error - can't find = in "${w}". Must be of the form: name=value)` : ''));
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** The value of a flag (the last one given), or undefined. */
export function flagValue(ins: Instruction, name: string): string | undefined {
  let out: string | undefined;
  for (const f of ins.flags) if (f.name === name) out = f.value ?? 'true';
  return out;
}

/** Every value of a repeated flag (`--mount`). */
export function flagValues(ins: Instruction, name: string): string[] {
  return ins.flags.filter((f) => f.name === name).map((f) => f.value ?? '');
}

/** Reject flags an instruction does not take (`unknown flag: --frm`). */
export function checkFlags(ins: Instruction, allowed: readonly string[]): void {
  for (const f of ins.flags) {
    if (!allowed.includes(f.name)) throw parseError(ins.line, `unknown flag: --${f.name}`);
  }
}
