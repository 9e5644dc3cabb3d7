import { formatFixed, formatG, goQuote } from './human.js';

/**
 * A subset of Go's text/template, as Docker's `--format` uses it: `{{.Field}}`, nested
 * `{{.State.Status}}`, variables, pipelines, `if`/`else if`/`else`, `range` (with `$i, $e :=`,
 * `break`, `continue`), `with`, `{{- -}}` trimming, comments, and the functions of Go
 * (`and or not len index slice print printf println eq ne lt le gt ge`) and of Docker
 * (`json split join title lower upper pad truncate`).
 *
 * Values are JSON-like: objects are Go maps (a missing key prints `<no value>`), arrays are
 * slices. An object marked with GO_STRUCT stands for a Go struct such as Docker's
 * ContainerContext: its function-valued properties are methods (called with the action's
 * arguments), and a field it lacks is an error, as in Go.
 *
 * Not supported: `define`, `template`, `block`, and method calls on values other than
 * GO_STRUCT objects. Unlike Go, a field of a nil value reads as `<no value>` rather than
 * failing (inspect output is untyped JSON here, so the two cannot be told apart).
 */

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Marks an object as a Go struct; the value is its Go type name (`*formatter.ContainerContext`). */
export const GO_STRUCT = Symbol('goStruct');

export interface GoStruct {
  [GO_STRUCT]: string;
  [field: string]: unknown;
}

export type TemplateFunc = (...args: unknown[]) => unknown;

// ------------------------------------------------------------------ AST

type Arg =
  | { kind: 'field'; names: string[] }
  | { kind: 'dot' }
  | { kind: 'var'; name: string; names: string[] }
  | { kind: 'literal'; value: unknown }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipe; names: string[] };

interface Cmd {
  args: Arg[];
  pos: number;
  src: string;
}

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
  pos: number;
  src: string;
}

interface ControlNode {
  type: 'if' | 'with' | 'range';
  pipe: Pipe;
  list: Node[];
  elseList: Node[] | undefined;
}

type Node = { type: 'text'; text: string } | { type: 'action'; pipe: Pipe } | ControlNode | { type: 'break' | 'continue'; pos: number };

// ------------------------------------------------------------------ lexer

type TokKind = 'field' | 'dot' | 'var' | 'ident' | 'string' | 'number' | 'char' | 'lparen' | 'rparen' | 'pipe' | 'declare' | 'assign' | 'comma';

interface Tok {
  kind: TokKind;
  text: string;
  pos: number;
  /** A field token's names, or a variable's chain after its name. */
  names?: string[];
  value?: unknown;
  /** Whitespace came right before this token. */
  spaced: boolean;
}

interface ActionItem {
  kind: 'action';
  toks: Tok[];
  pos: number;
  trimLeft: boolean;
  trimRight: boolean;
  comment: boolean;
}

interface TextItem {
  kind: 'text';
  text: string;
}

const SPACE = /[ \t\r\n]/;
const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;

function lineCol(src: string, pos: number): { line: number; col: number } {
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
function lex(src: string): (TextItem | ActionItem)[] {
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

// ------------------------------------------------------------------ parser

const KNOWN_FUNCS = new Set([
  'and', 'or', 'not', 'len', 'index', 'slice', 'print', 'printf', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'urlquery',
  'json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate',
]);

class Parser {
  private k = 0;
  constructor(
    private readonly items: (TextItem | ActionItem)[],
    private readonly src: string,
  ) {}

  fail(pos: number, msg: string): never {
    throw new TemplateError(`template: :${lineCol(this.src, pos).line}: ${msg}`);
  }

  /**
   * Parse nodes until `{{end}}`/`{{else}}` (returned as `stop`) or the end of input. `nested`
   * says an end is expected; `inRange` allows `{{break}}` and `{{continue}}`.
   */
  parseList(nested: boolean, inRange: boolean): { nodes: Node[]; stop: ActionItem | undefined } {
    const nodes: Node[] = [];
    while (this.k < this.items.length) {
      const it = this.items[this.k++]!;
      if (it.kind === 'text') {
        if (it.text !== '') nodes.push({ type: 'text', text: it.text });
        continue;
      }
      if (it.comment) continue;
      const first = it.toks[0];
      if (!first) this.fail(it.pos, 'missing value for command');
      if (first.kind === 'ident') {
        switch (first.text) {
          case 'end':
          case 'else':
            if (!nested) this.fail(it.pos, `unexpected {{${first.text}}}`);
            return { nodes, stop: it };
          case 'if':
          case 'with':
          case 'range':
            nodes.push(this.parseControl(first.text, it, it.toks.slice(1), inRange));
            continue;
          case 'break':
          case 'continue':
            if (!inRange) this.fail(it.pos, `{{${first.text}}} outside {{range}}`);
            nodes.push({ type: first.text, pos: it.pos });
            continue;
          case 'define':
          case 'template':
          case 'block':
            this.fail(it.pos, `{{${first.text}}} is not supported`);
        }
      }
      nodes.push({ type: 'action', pipe: this.parsePipe(it.toks, it.pos, false) });
    }
    if (nested) this.fail(this.src.length, 'unexpected EOF');
    return { nodes, stop: undefined };
  }

  private parseControl(type: 'if' | 'with' | 'range', it: ActionItem, toks: Tok[], inRange: boolean): Node {
    if (toks.length === 0) this.fail(it.pos, `missing value for ${type}`);
    const pipe = this.parsePipe(toks, it.pos, type === 'range');
    const bodyInRange = inRange || type === 'range';
    const body = this.parseList(true, bodyInRange);
    const stop = body.stop!;
    if (stop.toks[0]!.text !== 'else') {
      if (stop.toks.length > 1) this.fail(stop.pos, 'unexpected tokens after end');
      return { type, pipe, list: body.nodes, elseList: undefined };
    }
    const rest = stop.toks.slice(1);
    const next = rest[0];
    if (next?.kind === 'ident' && (next.text === 'if' || next.text === 'with')) {
      // `{{else if x}}`: a nested control that shares this one's {{end}}
      return { type, pipe, list: body.nodes, elseList: [this.parseControl(next.text, stop, rest.slice(1), inRange)] };
    }
    if (rest.length > 0) this.fail(stop.pos, 'unexpected tokens after else');
    // the else branch of a range is not inside the loop
    const alt = this.parseList(true, inRange);
    if (alt.stop!.toks[0]!.text !== 'end') this.fail(alt.stop!.pos, 'expected end; found else');
    return { type, pipe, list: body.nodes, elseList: alt.nodes };
  }

  parsePipe(toks: Tok[], pos: number, isRange: boolean): Pipe {
    let i = 0;
    const decl: string[] = [];
    let assign = false;
    // declarations: `$x :=`, `$x =`, `$i, $e :=` (range only)
    const look = (): void => {
      const t0 = toks[0];
      if (t0?.kind !== 'var' || (t0.names?.length ?? 0) > 0) return;
      if (toks[1]?.kind === 'declare' || toks[1]?.kind === 'assign') {
        decl.push(t0.value as string);
        assign = toks[1].kind === 'assign';
        i = 2;
      } else if (isRange && toks[1]?.kind === 'comma' && toks[2]?.kind === 'var' && (toks[3]?.kind === 'declare' || toks[3]?.kind === 'assign')) {
        decl.push(t0.value as string, toks[2].value as string);
        assign = toks[3].kind === 'assign';
        i = 4;
      }
    };
    look();
    const cmds: Cmd[] = [];
    const start = toks[i]?.pos ?? pos;
    const end = (j: number): number => {
      const t = toks[j - 1];
      return t ? t.pos + t.text.length : start;
    };
    let args: Arg[] = [];
    let cmdStart = i;
    const finishCmd = (j: number): void => {
      if (args.length === 0) this.fail(toks[j]?.pos ?? pos, 'missing value for command');
      cmds.push({ args, pos: toks[cmdStart]!.pos, src: this.src.slice(toks[cmdStart]!.pos, end(j)) });
      args = [];
    };
    while (i < toks.length) {
      const t = toks[i]!;
      if (t.kind === 'pipe') {
        finishCmd(i);
        i++;
        cmdStart = i;
        continue;
      }
      if (args.length > 0 && !t.spaced && t.kind !== 'rparen') this.fail(t.pos, `unexpected <${t.text}> in operand`);
      const [arg, next] = this.parseOperand(toks, i);
      args.push(arg);
      i = next;
    }
    finishCmd(i);
    return { decl, assign, cmds, pos: start, src: this.src.slice(start, end(toks.length)) };
  }

  private parseOperand(toks: Tok[], i: number): [Arg, number] {
    const t = toks[i]!;
    switch (t.kind) {
      case 'field':
        return [{ kind: 'field', names: t.names! }, i + 1];
      case 'dot':
        return [{ kind: 'dot' }, i + 1];
      case 'var':
        return [{ kind: 'var', name: t.value as string, names: t.names ?? [] }, i + 1];
      case 'string':
      case 'number':
      case 'char':
        return [{ kind: 'literal', value: t.value }, i + 1];
      case 'ident':
        if (t.text === 'true' || t.text === 'false') return [{ kind: 'literal', value: t.text === 'true' }, i + 1];
        if (t.text === 'nil') return [{ kind: 'literal', value: null }, i + 1];
        if (!KNOWN_FUNCS.has(t.text)) this.fail(t.pos, `function "${t.text}" not defined`);
        return [{ kind: 'ident', name: t.text }, i + 1];
      case 'lparen': {
        let depth = 1;
        let j = i + 1;
        for (; j < toks.length; j++) {
          if (toks[j]!.kind === 'lparen') depth++;
          else if (toks[j]!.kind === 'rparen' && --depth === 0) break;
        }
        if (j >= toks.length) this.fail(t.pos, 'unclosed left paren');
        const inner = toks.slice(i + 1, j);
        if (inner.length === 0) this.fail(t.pos, 'missing value for parenthesized pipeline');
        const pipe = this.parsePipe(inner, t.pos, false);
        return [{ kind: 'pipe', pipe, names: toks[j]!.names ?? [] }, j + 1];
      }
      default:
        return this.fail(t.pos, `unexpected "${t.text}" in operand`);
    }
  }
}

// ------------------------------------------------------------------ values

const NO_VALUE = '<no value>';

function isStruct(v: unknown): v is GoStruct {
  return typeof v === 'object' && v !== null && GO_STRUCT in v;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isStruct(v) && !Buffer.isBuffer(v);
}

function goType(v: unknown): string {
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
function formatFloatV(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/** fmt's `%v` of a value nested in a slice or map (nil prints `<nil>`). */
function fmtValue(v: unknown): string {
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
function toJson(v: unknown): string {
  const text = JSON.stringify(v === undefined ? null : v) ?? 'null';
  if (isStruct(v)) return text.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return text;
}

// ------------------------------------------------------------------ printf

function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    let j = i + 1;
    let minus = false;
    let plus = false;
    let zero = false;
    let space = false;
    let sharp = false;
    for (; j < format.length; j++) {
      const f = format[j];
      if (f === '-') minus = true;
      else if (f === '+') plus = true;
      else if (f === '0') zero = true;
      else if (f === ' ') space = true;
      else if (f === '#') sharp = true;
      else break;
    }
    let width: number | undefined;
    if (format[j] === '*') {
      width = Number(args[argi++]);
      j++;
    } else {
      const m = /^\d+/.exec(format.slice(j));
      if (m) {
        width = Number(m[0]);
        j += m[0].length;
      }
    }
    let prec: number | undefined;
    if (format[j] === '.') {
      j++;
      if (format[j] === '*') {
        prec = Number(args[argi++]);
        j++;
      } else {
        const m = /^\d*/.exec(format.slice(j))!;
        prec = m[0] === '' ? 0 : Number(m[0]);
        j += m[0].length;
      }
    }
    const verb = format[j];
    i = j;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argi++];
    const bad = (): string => `%!${verb}(${goType(arg)}=${fmtValue(arg)})`;
    let s: string;
    let numeric = false;
    switch (verb) {
      case 'v':
        s = typeof arg === 'number' ? formatFloatV(arg) : fmtValue(arg);
        numeric = typeof arg === 'number';
        if (sharp && typeof arg === 'string') s = goQuote(arg);
        break;
      case 's':
        s = fmtValue(arg);
        if (prec !== undefined) s = Array.from(s).slice(0, prec).join('');
        break;
      case 'q':
        if (typeof arg === 'number' && Number.isInteger(arg)) s = `'${String.fromCodePoint(arg)}'`;
        else if (typeof arg === 'string') s = goQuote(arg);
        else if (Array.isArray(arg)) s = `[${arg.map((a) => (typeof a === 'string' ? goQuote(a) : fmtValue(a))).join(' ')}]`;
        else s = bad();
        break;
      case 'd':
      case 'b':
      case 'o':
      case 'x':
      case 'X':
      case 'c':
      case 'U':
        if (typeof arg === 'number' && Number.isInteger(arg)) {
          numeric = true;
          const base = verb === 'd' ? 10 : verb === 'b' ? 2 : verb === 'o' ? 8 : 16;
          if (verb === 'c') s = String.fromCodePoint(arg);
          else if (verb === 'U') s = `U+${arg.toString(16).toUpperCase().padStart(4, '0')}`;
          else {
            s = Math.abs(arg).toString(base);
            if (verb === 'X') s = s.toUpperCase();
            if (prec !== undefined) s = s.padStart(prec, '0');
            if (sharp && base === 16) s = (verb === 'X' ? '0X' : '0x') + s;
            if (sharp && base === 8) s = `0${s}`;
            s = (arg < 0 ? '-' : plus ? '+' : space ? ' ' : '') + s;
          }
        } else if ((verb === 'x' || verb === 'X') && typeof arg === 'string') {
          s = Buffer.from(arg).toString('hex');
          if (verb === 'X') s = s.toUpperCase();
        } else s = bad();
        break;
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
        if (typeof arg === 'number') {
          numeric = true;
          if (verb === 'f' || verb === 'F') s = formatFixed(arg, prec ?? 6);
          else if (verb === 'e' || verb === 'E') {
            s = arg.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
            if (verb === 'E') s = s.toUpperCase();
          } else {
            s = prec === undefined ? formatFloatV(arg) : formatG(arg, prec === 0 ? 1 : prec);
            if (verb === 'G') s = s.toUpperCase();
          }
          if (plus && arg >= 0) s = `+${s}`;
          else if (space && arg >= 0) s = ` ${s}`;
        } else s = bad();
        break;
      case 't':
        s = typeof arg === 'boolean' ? String(arg) : bad();
        break;
      case 'T':
        s = goType(arg);
        break;
      default:
        s = `%!${verb}(${goType(arg)}=${fmtValue(arg)})`;
    }
    if (width !== undefined && Array.from(s).length < width) {
      const padLen = width - Array.from(s).length;
      if (minus) s += ' '.repeat(padLen);
      else if (zero && numeric) {
        const sign = /^[+\- ]/.test(s) ? s[0]! : '';
        s = sign + '0'.repeat(padLen) + s.slice(sign.length);
      } else s = ' '.repeat(padLen) + s;
    }
    out += s;
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args.slice(argi).map((a) => `${goType(a)}=${fmtValue(a)}`).join(', ')})`;
  }
  return out;
}

// ------------------------------------------------------------------ functions

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

// ------------------------------------------------------------------ execution

/** Thrown through the walk by `{{break}}` and `{{continue}}`, caught by the enclosing range. */
class BreakSignal extends Error {}
class ContinueSignal extends Error {}

interface Scope {
  vars: { name: string; value: unknown }[];
  funcs: Record<string, TemplateFunc>;
}

export class Template {
  private readonly nodes: Node[];

  constructor(readonly source: string) {
    const parser = new Parser(lex(source), source);
    this.nodes = parser.parseList(false, false).nodes;
  }

  /** Render the template against `data`; execution errors are TemplateErrors in Go's wording. */
  execute(data: unknown, funcs: Record<string, TemplateFunc> = FUNCS): string {
    const scope: Scope = { vars: [{ name: '$', value: data }], funcs };
    const out: string[] = [];
    this.walk(this.nodes, data, scope, out);
    return out.join('');
  }

  private fail(pos: number, src: string, msg: string): never {
    const { line, col } = lineCol(this.source, pos);
    throw new TemplateError(`template: :${line}:${col}: executing "" at <${src}>: ${msg}`);
  }

  private walk(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
    for (const node of nodes) {
      switch (node.type) {
        case 'text':
          out.push(node.text);
          break;
        case 'action': {
          const v = this.evalPipe(node.pipe, dot, scope);
          if (node.pipe.decl.length === 0) out.push(printValue(v));
          break;
        }
        case 'if':
        case 'with': {
          const mark = scope.vars.length;
          const v = this.evalPipe(node.pipe, dot, scope);
          if (truth(v)) this.walk(node.list, node.type === 'with' ? v : dot, scope, out);
          else if (node.elseList) this.walk(node.elseList, dot, scope, out);
          scope.vars.length = mark;
          break;
        }
        case 'range':
          this.range(node, dot, scope, out);
          break;
        case 'break':
          throw new BreakSignal();
        case 'continue':
          throw new ContinueSignal();
      }
    }
  }

  private range(node: ControlNode, dot: unknown, scope: Scope, out: string[]): void {
    const mark = scope.vars.length;
    const pipe = { ...node.pipe, decl: [] };
    const v = this.evalPipe(pipe, dot, scope);
    let entries: [unknown, unknown][];
    if (v === undefined || v === null) entries = [];
    else if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
    else if (typeof v === 'number' && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else if (isMap(v)) entries = Object.keys(v).sort().map((k) => [k, v[k]]);
    else this.fail(node.pipe.pos, node.pipe.src, `range can't iterate over ${fmtValue(v)}`);
    if (entries.length === 0) {
      if (node.elseList) this.walk(node.elseList, dot, scope, out);
      scope.vars.length = mark;
      return;
    }
    for (const [key, elem] of entries) {
      scope.vars.length = mark;
      if (node.pipe.decl.length === 1) this.declare(scope, node.pipe.decl[0]!, elem, node.pipe.assign);
      if (node.pipe.decl.length === 2) {
        this.declare(scope, node.pipe.decl[0]!, key, node.pipe.assign);
        this.declare(scope, node.pipe.decl[1]!, elem, node.pipe.assign);
      }
      try {
        this.walk(node.list, elem, scope, out);
      } catch (sig) {
        if (sig instanceof BreakSignal) break;
        if (sig instanceof ContinueSignal) continue;
        throw sig;
      }
    }
    scope.vars.length = mark;
  }

  private declare(scope: Scope, name: string, value: unknown, assign: boolean): void {
    if (assign) {
      for (let i = scope.vars.length - 1; i >= 0; i--) {
        if (scope.vars[i]!.name === name) {
          scope.vars[i]!.value = value;
          return;
        }
      }
      throw new TemplateError(`template: undefined variable: ${name}`);
    }
    scope.vars.push({ name, value });
  }

  private lookup(scope: Scope, name: string, pos: number, src: string): unknown {
    for (let i = scope.vars.length - 1; i >= 0; i--) if (scope.vars[i]!.name === name) return scope.vars[i]!.value;
    return this.fail(pos, src, `undefined variable: ${name}`);
  }

  private evalPipe(pipe: Pipe, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let hasFinal = false;
    for (const cmd of pipe.cmds) {
      value = this.evalCmd(cmd, dot, scope, hasFinal, value);
      hasFinal = true;
    }
    for (const name of pipe.decl) this.declare(scope, name, value, pipe.assign);
    return value;
  }

  private evalCmd(cmd: Cmd, dot: unknown, scope: Scope, hasFinal: boolean, final: unknown): unknown {
    const [first, ...rest] = cmd.args as [Arg, ...Arg[]];
    const args = (): unknown[] => {
      const vals = rest.map((a) => this.evalArg(a, dot, scope, cmd));
      if (hasFinal) vals.push(final);
      return vals;
    };
    try {
      switch (first.kind) {
        case 'field':
          return this.chain(dot, first.names, args(), cmd);
        case 'var': {
          const v = this.lookup(scope, first.name, cmd.pos, cmd.src);
          if (first.names.length === 0) {
            if (rest.length > 0 || hasFinal) this.fail(cmd.pos, cmd.src, `can't give argument to non-function ${first.name}`);
            return v;
          }
          return this.chain(v, first.names, args(), cmd);
        }
        case 'pipe': {
          const v = this.evalPipe(first.pipe, dot, scope);
          if (first.names.length === 0) {
            if (rest.length > 0 || hasFinal) this.fail(cmd.pos, cmd.src, `can't give argument to non-function`);
            return v;
          }
          return this.chain(v, first.names, args(), cmd);
        }
        case 'ident': {
          const fn = scope.funcs[first.name];
          if (!fn) return this.fail(cmd.pos, cmd.src, `"${first.name}" is not a defined function`);
          try {
            return fn(...args());
          } catch (err) {
            if (err instanceof TemplateError) throw err;
            return this.fail(cmd.pos, cmd.src, `error calling ${first.name}: ${(err as Error).message}`);
          }
        }
        case 'dot':
        case 'literal':
          if (rest.length > 0 || hasFinal) this.fail(cmd.pos, cmd.src, `can't give argument to non-function ${cmd.src.split(/\s/)[0]}`);
          return first.kind === 'dot' ? dot : first.value;
      }
    } catch (err) {
      if (err instanceof TemplateError || err instanceof BreakSignal || err instanceof ContinueSignal) throw err;
      return this.fail(cmd.pos, cmd.src, (err as Error).message);
    }
  }

  private evalArg(arg: Arg, dot: unknown, scope: Scope, cmd: Cmd): unknown {
    switch (arg.kind) {
      case 'field':
        return this.chain(dot, arg.names, [], cmd);
      case 'dot':
        return dot;
      case 'var': {
        const v = this.lookup(scope, arg.name, cmd.pos, cmd.src);
        return arg.names.length ? this.chain(v, arg.names, [], cmd) : v;
      }
      case 'literal':
        return arg.value;
      case 'pipe': {
        const v = this.evalPipe(arg.pipe, dot, scope);
        return arg.names.length ? this.chain(v, arg.names, [], cmd) : v;
      }
      case 'ident': {
        const fn = scope.funcs[arg.name];
        if (!fn) return this.fail(cmd.pos, cmd.src, `"${arg.name}" is not a defined function`);
        return fn();
      }
    }
  }

  /** Follow `.A.B.C` from `receiver`; the last step gets `args` (a method call on a struct). */
  private chain(receiver: unknown, names: string[], args: unknown[], cmd: Cmd): unknown {
    let v = receiver;
    names.forEach((name, i) => {
      v = this.field(v, name, i === names.length - 1 ? args : [], cmd);
    });
    return v;
  }

  private field(receiver: unknown, name: string, args: unknown[], cmd: Cmd): unknown {
    if (receiver === undefined || receiver === null) return undefined;
    if (isStruct(receiver)) {
      if (!(name in receiver)) this.fail(cmd.pos, cmd.src, `can't evaluate field ${name} in type ${receiver[GO_STRUCT]}`);
      const member = receiver[name];
      if (typeof member === 'function') {
        try {
          return (member as TemplateFunc).apply(receiver, args);
        } catch (err) {
          return this.fail(cmd.pos, cmd.src, `error calling ${name}: ${(err as Error).message}`);
        }
      }
      if (args.length > 0) this.fail(cmd.pos, cmd.src, `${name} has arguments but cannot be invoked as function`);
      return member;
    }
    if (isMap(receiver)) {
      const member = Object.hasOwn(receiver, name) ? receiver[name] : undefined;
      // a map type with methods, as Docker's header context (`.Label "x"`)
      if (typeof member === 'function') return (member as TemplateFunc).apply(receiver, args);
      if (args.length > 0) this.fail(cmd.pos, cmd.src, `${name} is not a method but has arguments`);
      return member;
    }
    return this.fail(cmd.pos, cmd.src, `can't evaluate field ${name} in type ${goType(receiver)}`);
  }
}

/** Parse a template; syntax errors are TemplateErrors in Go's wording (`template: :1: unclosed action`). */
export function parseTemplate(source: string): Template {
  return new Template(source);
}
