import { TemplateError } from './types.js';

/**
 * Go's template lexer: splits a source into text and actions (`{{ ... }}`, with `{{-`/`-}}`
 * trimming and comments), each action into tokens. Syntax errors it finds are TemplateErrors
 * naming the line (`template: :1: unclosed action`).
 */

type TokKind = 'field' | 'dot' | 'var' | 'ident' | 'string' | 'number' | 'char' | 'lparen' | 'rparen' | 'pipe' | 'declare' | 'assign' | 'comma';

export interface Tok {
  kind: TokKind;
  text: string;
  pos: number;
  /** A field token's names, or a variable's chain after its name. */
  names?: string[];
  value?: unknown;
  /** Whitespace came right before this token. */
  spaced: boolean;
}

export interface ActionItem {
  kind: 'action';
  toks: Tok[];
  pos: number;
  trimLeft: boolean;
  trimRight: boolean;
  comment: boolean;
}

export interface TextItem {
  kind: 'text';
  text: string;
}

const SPACE = /[ \t\r\n]/;
const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;

export function lineCol(src: string, pos: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < src.length; i++) {
    if (src[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: pos - lineStart };
}

function unquoteGo(body: string, pos: number, src: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case "'":
        out += "'";
        break;
      case 'x': {
        out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      }
      case 'u': {
        out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16));
        i += 4;
        break;
      }
      case 'U': {
        out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 9), 16));
        i += 8;
        break;
      }
      default:
        if (n !== undefined && /[0-7]/.test(n)) {
          out += String.fromCharCode(parseInt(body.slice(i, i + 3), 8));
          i += 2;
        } else throw new TemplateError(`template: :${lineCol(src, pos).line}: unquote: invalid syntax`);
    }
  }
  return out;
}

/** Read a field chain (`.A.B`) starting at `p`; returns its names and the position after it. */
function readChain(src: string, p: number): { names: string[]; end: number } {
  const names: string[] = [];
  while (src[p] === '.' && IDENT_START.test(src[p + 1] ?? '')) {
    let e = p + 1;
    while (IDENT.test(src[e] ?? '')) e++;
    names.push(src.slice(p + 1, e));
    p = e;
  }
  return { names, end: p };
}

/** Split the source into text and actions, each action lexed into tokens. */
export function lex(src: string): (TextItem | ActionItem)[] {
  const items: (TextItem | ActionItem)[] = [];
  let i = 0;
  const fail = (pos: number, msg: string): never => {
    throw new TemplateError(`template: :${lineCol(src, pos).line}: ${msg}`);
  };
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      items.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    if (open > i) items.push({ kind: 'text', text: src.slice(i, open) });
    let p = open + 2;
    let trimLeft = false;
    if (src[p] === '-' && SPACE.test(src[p + 1] ?? '')) {
      trimLeft = true;
      p += 2;
    }
    const item: ActionItem = { kind: 'action', toks: [], pos: open, trimLeft, trimRight: false, comment: false };
    // comment
    let q = p;
    while (SPACE.test(src[q] ?? '')) q++;
    if (src.startsWith('/*', q)) {
      const close = src.indexOf('*/', q + 2);
      if (close < 0) fail(open, 'unclosed comment');
      let r = close + 2;
      if (src.startsWith(' -}}', r)) {
        item.trimRight = true;
        r += 4;
      } else if (src.startsWith('}}', r)) r += 2;
      else fail(open, 'comment ends before closing delimiter');
      item.comment = true;
      items.push(item);
      i = r;
      continue;
    }
    let spaced = true;
    for (;;) {
      if (p >= src.length) fail(open, 'unclosed action');
      const c = src[p]!;
      if (SPACE.test(c)) {
        // right trim marker: " -}}"
        if (src.startsWith('-}}', p + 1)) {
          item.trimRight = true;
          p += 4;
          break;
        }
        p++;
        spaced = true;
        continue;
      }
      if (src.startsWith('}}', p)) {
        p += 2;
        break;
      }
      const start = p;
      const push = (kind: TokKind, text: string, extra: Partial<Tok> = {}): void => {
        item.toks.push({ kind, text, pos: start, spaced, ...extra });
        spaced = false;
      };
      if (c === '.' && IDENT_START.test(src[p + 1] ?? '')) {
        const { names, end } = readChain(src, p);
        p = end;
        push('field', src.slice(start, p), { names });
        continue;
      }
      if (c === '.' && !/[0-9]/.test(src[p + 1] ?? '')) {
        p++;
        push('dot', '.');
        continue;
      }
      if (c === '$') {
        let e = p + 1;
        while (IDENT.test(src[e] ?? '')) e++;
        const name = src.slice(p, e);
        const { names, end } = readChain(src, e);
        p = end;
        push('var', src.slice(start, p), { names, value: name });
        continue;
      }
      if (c === '"') {
        let e = p + 1;
        while (e < src.length && src[e] !== '"') {
          if (src[e] === '\\') e++;
          if (src[e] === '\n') fail(start, 'unterminated quoted string');
          e++;
        }
        if (e >= src.length) fail(start, 'unterminated quoted string');
        p = e + 1;
        push('string', src.slice(start, p), { value: unquoteGo(src.slice(start + 1, e), start, src) });
        continue;
      }
      if (c === '`') {
        const e = src.indexOf('`', p + 1);
        if (e < 0) fail(start, 'unterminated raw quoted string');
        p = e + 1;
        push('string', src.slice(start, p), { value: src.slice(start + 1, e) });
        continue;
      }
      if (c === "'") {
        let e = p + 1;
        if (src[e] === '\\') e++;
        e++;
        while (e < src.length && src[e] !== "'") e++;
        if (src[e] !== "'") fail(start, 'unterminated character constant');
        const body = unquoteGo(src.slice(start + 1, e), start, src);
        p = e + 1;
        push('char', src.slice(start, p), { value: body.codePointAt(0) ?? 0 });
        continue;
      }
      const num = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/.exec(src.slice(p));
      if (num && (/[0-9.]/.test(c) || ((c === '-' || c === '+') && /[0-9.]/.test(src[p + 1] ?? '')))) {
        const text = num[0];
        p += text.length;
        const clean = text.replace(/_/g, '');
        let value: number;
        if (/^[+-]?0[xX]/.test(clean)) value = (clean.startsWith('-') ? -1 : 1) * parseInt(clean.replace(/^[+-]?0[xX]/, ''), 16);
        else if (/^[+-]?0[bB]/.test(clean)) value = (clean.startsWith('-') ? -1 : 1) * parseInt(clean.replace(/^[+-]?0[bB]/, ''), 2);
        else if (/^[+-]?0[oO]/.test(clean)) value = (clean.startsWith('-') ? -1 : 1) * parseInt(clean.replace(/^[+-]?0[oO]/, ''), 8);
        else value = Number(clean);
        push('number', text, { value });
        continue;
      }
      if (IDENT_START.test(c)) {
        let e = p;
        while (IDENT.test(src[e] ?? '')) e++;
        p = e;
        push('ident', src.slice(start, p));
        continue;
      }
      if (c === '(') {
        p++;
        push('lparen', '(');
        continue;
      }
      if (c === ')') {
        // a field chain right after ")" belongs to the parenthesized pipeline
        const { names, end } = readChain(src, p + 1);
        p = end;
        push('rparen', src.slice(start, p), { names });
        continue;
      }
      if (c === '|') {
        p++;
        push('pipe', '|');
        continue;
      }
      if (c === ':' && src[p + 1] === '=') {
        p += 2;
        push('declare', ':=');
        continue;
      }
      if (c === '=') {
        p++;
        push('assign', '=');
        continue;
      }
      if (c === ',') {
        p++;
        push('comma', ',');
        continue;
      }
      fail(start, `unexpected ${JSON.stringify(c)} in command`);
    }
    items.push(item);
    i = p;
  }
  // trimming: `{{- ` eats the whitespace before, ` -}}` the whitespace after
  for (let k = 0; k < items.length; k++) {
    const it = items[k]!;
    if (it.kind !== 'action') continue;
    const prev = items[k - 1];
    const next = items[k + 1];
    if (it.trimLeft && prev?.kind === 'text') prev.text = prev.text.replace(/[ \t\r\n]+$/, '');
    if (it.trimRight && next?.kind === 'text') next.text = next.text.replace(/^[ \t\r\n]+/, '');
  }
  return items;
}
