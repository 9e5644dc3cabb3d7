/**
 * Where keys are in a YAML text, for error messages: the 1-based line of each mapping key
 * and sequence item written in block style, by path (`services.web.ports.0`). Keys inside
 * flow collections (`{a: 1}`) are not mapped; `lineOf` then answers the nearest ancestor's
 * line. A heuristic by indentation, never used to read values (js-yaml does that).
 */

export class PositionMap {
  private readonly lines = new Map<string, number>();

  constructor(text: string) {
    interface Frame {
      indent: number;
      path: string[];
      item: boolean;
    }
    const stack: Frame[] = [{ indent: -1, path: [], item: false }];
    const counters = new Map<string, number>();
    let blockIndent = -1;
    const src = text.split(/\r?\n/);
    for (let n = 0; n < src.length; n++) {
      const line = src[n]!;
      const content = line.trimStart();
      const indent = line.length - content.length;
      if (content === '' || content.startsWith('#')) continue;
      if (blockIndent >= 0) {
        if (indent > blockIndent) continue;
        blockIndent = -1;
      }
      if (content === '---' || content.startsWith('--- ')) continue;
      let col = indent;
      let rest = content;
      while (rest === '-' || rest.startsWith('- ')) {
        while (stack.length > 1 && (stack[stack.length - 1]!.indent > col || (stack[stack.length - 1]!.indent === col && stack[stack.length - 1]!.item))) stack.pop();
        const parent = stack[stack.length - 1]!.path;
        const key = parent.join('\0');
        const index = counters.get(key) ?? 0;
        counters.set(key, index + 1);
        const path = [...parent, String(index)];
        this.set(path, n + 1);
        stack.push({ indent: col, path, item: true });
        const after = rest.slice(1);
        const trimmed = after.trimStart();
        col += 1 + after.length - trimmed.length;
        rest = trimmed;
      }
      const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[][^#]*?)\s*:(?:\s+(.*))?$/.exec(rest);
      if (!m) continue;
      let key = m[1]!;
      if (key.startsWith('"')) key = JSON.parse(key) as string;
      else if (key.startsWith("'")) key = key.slice(1, -1).replace(/''/g, "'");
      while (stack.length > 1 && stack[stack.length - 1]!.indent >= col) stack.pop();
      const path = [...stack[stack.length - 1]!.path, key];
      this.set(path, n + 1);
      stack.push({ indent: col, path, item: false });
      counters.delete(path.join('\0'));
      const value = (m[2] ?? '').replace(/\s+#.*$/, '');
      if (/^[|>][-+0-9]*$/.test(value)) blockIndent = col;
    }
  }

  private set(path: string[], line: number): void {
    const key = path.join('\0');
    if (!this.lines.has(key)) this.lines.set(key, line);
  }

  /** The line of `path`, else of its nearest mapped ancestor; undefined when none is mapped. */
  lineOf(path: readonly string[]): number | undefined {
    for (let len = path.length; len > 0; len--) {
      const line = this.lines.get(path.slice(0, len).join('\0'));
      if (line !== undefined) return line;
    }
    return undefined;
  }
}
