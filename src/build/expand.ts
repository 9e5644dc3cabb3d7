import { invalid } from '../errors.js';

/**
 * Word expansion by Docker's rules (moby/buildkit `frontend/dockerfile/shell/lex.go`):
 * `$V`, `${V}`, `${V:-default}`, `${V-default}`, `${V:+alt}`, `${V+alt}`, `${V:?msg}`,
 * `${V?msg}`, `${V#pat}`, `${V##pat}`, `${V%pat}`, `${V%%pat}`, `${V/pat/repl}`, `${V//pat/repl}`;
 * single quotes keep everything literal, double quotes allow expansion and escape only `"`,
 * `$` and the escape character; outside quotes the escape character makes the next
 * character literal. Quotes are removed. An unset variable expands to nothing.
 */

export type Env = ReadonlyMap<string, string>;

export interface ExpandOptions {
  escape?: string;
  /** Names that were read while expanding (for cache keys and "unused build arg" warnings). */
  used?: Set<string>;
  /** Quotes are ordinary characters (the content of an unquoted heredoc). */
  literalQuotes?: boolean;
}

/** Expand one word (the whole text is one word: whitespace is kept). */
export function expandWord(text: string, env: Env, opts: ExpandOptions = {}): string {
  return new Lexer(text, env, opts).run(false).join('');
}

/** Expand and split at unquoted whitespace (EXPOSE, VOLUME's shell form, COPY sources). */
export function expandWords(text: string, env: Env, opts: ExpandOptions = {}): string[] {
  return new Lexer(text, env, opts).run(true);
}

/** An environment map from `KEY=value` strings; later entries win. */
export function envMap(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of list) {
    const eq = e.indexOf('=');
    if (eq < 0) out.set(e, '');
    else out.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return out;
}

class Lexer {
  private pos = 0;
  private readonly escape: string;
  constructor(
    private readonly text: string,
    private readonly env: Env,
    private readonly opts: ExpandOptions,
  ) {
    this.escape = opts.escape ?? '\\';
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }
  private next(): string | undefined {
    return this.text[this.pos++];
  }

  run(split: boolean): string[] {
    const words: string[] = [];
    let word = '';
    let inWord = false;
    while (this.pos < this.text.length) {
      const ch = this.peek()!;
      if (split && /\s/.test(ch)) {
        this.pos++;
        if (inWord) words.push(word);
        word = '';
        inWord = false;
        continue;
      }
      inWord = true;
      if ((ch === "'" || ch === '"') && this.opts.literalQuotes) {
        this.pos++;
        word += ch;
      } else if (ch === "'") {
        this.pos++;
        word += this.singleQuoted();
      } else if (ch === '"') {
        this.pos++;
        word += this.doubleQuoted();
      } else if (ch === '$') {
        const v = this.dollar();
        if (split && v.split) {
          // An unquoted expansion splits into several words at whitespace.
          const parts = v.value.split(/\s+/);
          word += parts[0]!;
          for (const p of parts.slice(1)) {
            words.push(word);
            word = p;
          }
          if (v.value === '' && word === '') inWord = false;
        } else word += v.value;
      } else if (ch === this.escape) {
        this.pos++;
        const n = this.next();
        if (n !== undefined) word += n;
      } else {
        this.pos++;
        word += ch;
      }
    }
    if (inWord || !split) words.push(word);
    return words;
  }

  private singleQuoted(): string {
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) throw invalid('unexpected end of statement while looking for matching single-quote');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private doubleQuoted(): string {
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw invalid('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar().value;
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const n = this.peek();
        if (n === undefined) continue;
        if (n === '"' || n === '$' || n === this.escape) {
          this.pos++;
          out += n;
          continue;
        }
      }
      out += ch;
    }
  }

  private lookup(name: string): string | undefined {
    this.opts.used?.add(name);
    return this.env.get(name);
  }

  /** At a `$`: the expansion (and whether it came unbraced or braced, both split when unquoted). */
  private dollar(): { value: string; split: boolean } {
    this.pos++; // $
    const ch = this.peek();
    if (ch === '{') {
      this.pos++;
      return { value: this.braced(), split: true };
    }
    if (ch !== undefined && /[A-Za-z_]/.test(ch)) {
      const name = this.name();
      return { value: this.lookup(name) ?? '', split: true };
    }
    if (ch !== undefined && /[0-9]/.test(ch)) {
      // Positional parameters are never set in a Dockerfile.
      this.pos++;
      return { value: '', split: true };
    }
    return { value: '$', split: false };
  }

  private name(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
    if (!m) return '';
    this.pos += m[0].length;
    return m[0];
  }

  /** Text up to the closing `}`, expanded (nested `${}` and quotes allowed). */
  private wordUntilBrace(): string {
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw invalid('missing \'}\' in variable substitution');
      if (ch === '}') {
        this.pos++;
        return out;
      }
      if (ch === '$') out += this.dollar().value;
      else if (ch === "'") {
        this.pos++;
        out += this.singleQuoted();
      } else if (ch === '"') {
        this.pos++;
        out += this.doubleQuoted();
      } else if (ch === this.escape) {
        this.pos++;
        const n = this.next();
        if (n !== undefined) out += n;
      } else {
        this.pos++;
        out += ch;
      }
    }
  }

  private braced(): string {
    const name = this.name();
    if (name === '') {
      const bad = this.peek();
      throw invalid(`bad substitution: \${${bad ?? ''}`);
    }
    const value = this.lookup(name);
    const ch = this.next();
    if (ch === '}') return value ?? '';
    if (ch === undefined) throw invalid('missing \'}\' in variable substitution');
    if (ch === ':') {
      const op = this.next();
      const word = this.wordUntilBrace();
      switch (op) {
        case '-':
          return value === undefined || value === '' ? word : value;
        case '+':
          return value === undefined || value === '' ? '' : word;
        case '?':
          if (value === undefined || value === '') throw invalid(`${name}: ${word || 'is not allowed to be unset'}`);
          return value;
        default:
          throw invalid(`unsupported modifier (:${op ?? ''}) in substitution`);
      }
    }
    if (ch === '-' || ch === '+' || ch === '?') {
      const word = this.wordUntilBrace();
      if (ch === '-') return value === undefined ? word : value;
      if (ch === '+') return value === undefined ? '' : word;
      if (value === undefined) throw invalid(`${name}: ${word || 'is not allowed to be unset'}`);
      return value;
    }
    if (ch === '#' || ch === '%') {
      const longest = this.peek() === ch;
      if (longest) this.pos++;
      const pattern = this.wordUntilBrace();
      return trimPattern(value ?? '', pattern, ch === '#' ? 'prefix' : 'suffix', longest);
    }
    if (ch === '/') {
      const all = this.peek() === '/';
      if (all) this.pos++;
      const body = this.wordUntilBrace();
      const slash = body.indexOf('/');
      const pattern = slash < 0 ? body : body.slice(0, slash);
      const repl = slash < 0 ? '' : body.slice(slash + 1);
      if (pattern === '') return value ?? '';
      const re = new RegExp(globSource(pattern), all ? 'g' : '');
      return (value ?? '').replace(re, () => repl);
    }
    throw invalid(`unsupported modifier (${ch}) in substitution`);
  }
}

/** A shell glob (`*`, `?`, `[...]`) as a regular-expression source. */
function globSource(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        out += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

function trimPattern(value: string, pattern: string, side: 'prefix' | 'suffix', longest: boolean): string {
  const src = globSource(pattern);
  if (side === 'prefix') {
    const re = new RegExp(`^(?:${src})`);
    // Shortest prefix: try lengths from 0 up; longest: from the whole string down.
    const lengths = [...Array(value.length + 1).keys()];
    if (longest) lengths.reverse();
    for (const n of lengths) if (re.test(value.slice(0, n)) && new RegExp(`^(?:${src})$`).test(value.slice(0, n))) return value.slice(n);
    return value;
  }
  const whole = new RegExp(`^(?:${src})$`);
  const starts = [...Array(value.length + 1).keys()];
  if (!longest) starts.reverse();
  for (const s of starts) if (whole.test(value.slice(s))) return value.slice(0, s);
  return value;
}
