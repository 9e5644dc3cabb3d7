import { lineCol, type ActionItem, type TextItem, type Tok } from './lexer.js';
import { TemplateError, type Arg, type Cmd, type Node, type Pipe } from './types.js';

/**
 * Go's template parser: tokens into the tree of `types.ts` (pipelines, `if`/`with`/`range`
 * with their `else` branches, `break`/`continue`). It rejects what Go's parser rejects at parse
 * time, an unknown function among them, in Go's words; it evaluates nothing.
 */

const KNOWN_FUNCS = new Set([
  'and', 'or', 'not', 'len', 'index', 'slice', 'print', 'printf', 'println', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'urlquery',
  'json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate',
]);

export class Parser {
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
