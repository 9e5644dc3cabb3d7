/** The part of js-yaml 4 pier uses (no @types/js-yaml is installed). */
declare module 'js-yaml' {
  export interface Mark {
    name: string | null;
    /** 0-based. */
    line: number;
    /** 0-based. */
    column: number;
    snippet?: string;
  }
  export class YAMLException extends Error {
    reason: string;
    mark: Mark | undefined;
  }
  export interface LoadOptions {
    filename?: string;
    json?: boolean;
  }
  export interface DumpOptions {
    indent?: number;
    noRefs?: boolean;
    lineWidth?: number;
    sortKeys?: boolean | ((a: string, b: string) => number);
    quotingType?: "'" | '"';
    schema?: Schema;
  }
  export interface TypeOptions {
    kind: 'scalar' | 'sequence' | 'mapping';
    resolve?: (data: string) => boolean;
    construct?: (data: string) => unknown;
  }
  export class Type {
    readonly tag: string;
    constructor(tag: string, opts: TypeOptions);
  }
  export class Schema {
    extend(types: { implicit?: Type[]; explicit?: Type[] }): Schema;
  }
  export const DEFAULT_SCHEMA: Schema;
  export function load(text: string, opts?: LoadOptions): unknown;
  export function dump(value: unknown, opts?: DumpOptions): string;
  const yaml: { load: typeof load; dump: typeof dump; YAMLException: typeof YAMLException; Type: typeof Type; DEFAULT_SCHEMA: Schema };
  export default yaml;
}
