import { readFile } from 'node:fs/promises';
import { basename, dirname, relative } from 'node:path';
import yaml from 'js-yaml';
import { ComposeError } from './compose.js';
import { PositionMap } from './positions.js';

/**
 * One Compose file as read: its text parsed by js-yaml, the positions of its keys, and the
 * way every error about it is worded: `compose.yaml:7: services.web.ports: must be a list`.
 */
export class SourceFile {
  readonly positions: PositionMap;

  private constructor(
    readonly path: string,
    readonly doc: Record<string, unknown>,
    text: string,
    private readonly shownAs: string,
  ) {
    this.positions = new PositionMap(text);
  }

  get dir(): string {
    return dirname(this.path);
  }

  /** Read and parse `path`; a YAML syntax error or a document that is not a mapping throws ComposeError. */
  static async read(path: string, cwd: string): Promise<SourceFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ComposeError(`open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
    }
    return SourceFile.parse(path, text, cwd);
  }

  static parse(path: string, text: string, cwd: string): SourceFile {
    const rel = relative(cwd, path);
    const shownAs = rel && !rel.startsWith('..') ? rel : path;
    let doc: unknown;
    try {
      doc = yaml.load(text, { filename: shownAs });
    } catch (err) {
      if (err instanceof yaml.YAMLException) {
        const line = err.mark ? `:${err.mark.line + 1}` : '';
        throw new ComposeError(`${shownAs}${line}: ${err.reason}`);
      }
      throw err;
    }
    if (doc === undefined || doc === null) doc = {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new ComposeError(`${shownAs}:1: top-level object must be a mapping`);
    return new SourceFile(path, doc as Record<string, unknown>, text, shownAs || basename(path));
  }

  /** The error for `path` in this file: `file:line: a.b.c: message`. */
  error(path: readonly string[], message: string): ComposeError {
    const line = this.positions.lineOf(path);
    const key = path.length > 0 ? `${path.join('.')}: ` : '';
    return new ComposeError(`${this.shownAs}${line !== undefined ? `:${line}` : ''}: ${key}${message}`);
  }

  /** The file as the user named it (relative to the working directory when inside it). */
  get name(): string {
    return this.shownAs;
  }
}
