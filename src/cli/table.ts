import { FUNCS, GO_STRUCT, HEADER_FUNCS, parseTemplate, TemplateError, type GoStruct } from './template/template.js';

/**
 * Docker's list output: a `--format` template rendered once per row, and for `table ...`
 * formats a header row, all aligned by Go's tabwriter as Docker configures it (minimum
 * cell width 10, padding 3, spaces).
 */

export interface TabwriterOptions {
  minwidth: number;
  padding: number;
}

const DOCKER_TABWRITER: TabwriterOptions = { minwidth: 10, padding: 3 };

/** Width of a cell as Go's tabwriter counts it: one per rune. */
function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Go's text/tabwriter (no flags): cells end at tabs; a column is as wide as its widest cell
 * plus padding (at least minwidth) within each block of consecutive lines that have it; the
 * last cell of a line is not a column and is printed as is.
 */
export function tabwrite(text: string, opts: TabwriterOptions = DOCKER_TABWRITER): string {
  const trailingNewline = text.endsWith('\n');
  const lines = (trailingNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];
  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const cells = lines[i]!;
      let line = '';
      cells.forEach((cell, j) => {
        if (j < cells.length - 1 && j < widths.length) line += cell + ' '.repeat(Math.max(0, widths[j]! - runeCount(cell)));
        else if (j < cells.length - 1) line += cell;
        else line += cell;
      });
      out.push(line);
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue;
      // a block of lines with a cell in this column begins at t
      writeLines(start, t);
      start = t;
      let width = opts.minwidth;
      for (; t < line1; t++) {
        const cells = lines[t]!;
        if (column >= cells.length - 1) break;
        width = Math.max(width, runeCount(cells[column]!) + opts.padding);
      }
      widths.push(width);
      format(start, t);
      widths.pop();
      start = t;
      t--; // the loop's t++ moves to the first line after the block
    }
    writeLines(start, line1);
  };
  format(0, lines.length);
  return out.join('\n') + (trailingNewline ? '\n' : '');
}

/** Docker's header context: a field's header (`CONTAINER ID`), and `.Label "com.x.y"` as `y`. */
export function headerContext(headers: Record<string, string>): Record<string, unknown> {
  return {
    ...headers,
    Label: (name: string) => (name.split('.').pop() ?? '').replace(/[-_]/g, ' '),
  };
}

/** A row for a `--format` template: a Go struct with zero-argument methods (and methods with arguments). */
export function goStruct(typeName: string, fields: Record<string, unknown>): GoStruct {
  const row = { [GO_STRUCT]: typeName, ...fields } as GoStruct;
  // `{{json .}}` marshals every zero-argument method, keys sorted, as Docker's formatter does.
  Object.defineProperty(row, 'toJSON', {
    enumerable: false,
    value: () => {
      const obj: Record<string, unknown> = {};
      for (const key of Object.keys(fields).sort()) {
        const v = fields[key];
        if (typeof v === 'function') {
          if (v.length === 0) obj[key] = (v as () => unknown).call(row);
        } else obj[key] = v;
      }
      return obj;
    },
  });
  return row;
}

export interface FormatSpec {
  /** The user's `--format`, or the command's default (`table {{.ID}}\t...`). */
  format: string;
  /** Field name → column header, for `table` formats. */
  headers: Record<string, string>;
}

/** `table` formats print a header and align columns; others print each row as rendered. */
export function isTable(format: string): boolean {
  return format.startsWith('table');
}

/** Docker's preFormat: drop `table`, trim spaces, turn the two-character `\t` and `\n` into tab and newline. */
export function prepareFormat(format: string): string {
  const body = isTable(format) ? format.slice('table'.length) : format;
  return body.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/** The `--format` shortcut `json` means `{{json .}}`, as in Docker. */
export function expandFormat(format: string): string {
  return format === 'json' ? '{{json .}}' : format;
}

/**
 * Render rows with a format. Every row is rendered before anything is returned, so a
 * template error leaves no half-written output; it throws a TemplateError.
 */
export function renderList(spec: FormatSpec, rows: unknown[]): string {
  const format = expandFormat(spec.format);
  const tmpl = parseTemplate(prepareFormat(format));
  let body = '';
  for (const row of rows) body += `${tmpl.execute(row, FUNCS)}\n`;
  if (!isTable(format)) return body;
  let header: string;
  try {
    header = tmpl.execute(headerContext(spec.headers), HEADER_FUNCS);
  } catch (err) {
    // Docker ignores a header that does not render (a method with no header, say).
    if (!(err instanceof TemplateError)) throw err;
    header = '';
  }
  return tabwrite(`${header}\n${body}`);
}
