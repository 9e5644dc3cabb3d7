/**
 * The template's public types and its syntax tree: what the parser produces and the executor
 * walks. Errors of parsing and of execution alike are TemplateErrors in Go's wording.
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

export type Arg =
  | { kind: 'field'; names: string[] }
  | { kind: 'dot' }
  | { kind: 'var'; name: string; names: string[] }
  | { kind: 'literal'; value: unknown }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipe; names: string[] };

export interface Cmd {
  args: Arg[];
  pos: number;
  src: string;
}

export interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Cmd[];
  pos: number;
  src: string;
}

export interface ControlNode {
  type: 'if' | 'with' | 'range';
  pipe: Pipe;
  list: Node[];
  elseList: Node[] | undefined;
}

export type Node = { type: 'text'; text: string } | { type: 'action'; pipe: Pipe } | ControlNode | { type: 'break' | 'continue'; pos: number };
