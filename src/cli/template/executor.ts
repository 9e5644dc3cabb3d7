import { FUNCS } from './functions.js';
import { lex, lineCol } from './lexer.js';
import { Parser } from './parser.js';
import { GO_STRUCT, TemplateError, type Arg, type Cmd, type ControlNode, type Node, type Pipe, type TemplateFunc } from './types.js';
import { fmtValue, goType, isMap, isStruct, printValue, truth } from './values.js';

/**
 * A parsed template and its execution against data: fields, methods of GO_STRUCT values,
 * variables and scopes, control structures. Execution errors are TemplateErrors in Go's
 * wording (`template: :1:2: executing "" at <.X>: ...`); the data is never changed.
 */

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
