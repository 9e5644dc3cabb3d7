import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The map of docs/design.md, checked: every import of every TypeScript file under src/ (type
 * imports too, read with TypeScript's own parser) against the rules of which part may know
 * which. A rule broken names the file, the import and the rule.
 */

/** The repository root: the nearest folder above this file holding package.json (works from src/ and dist/src/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the boundary test');
    dir = up;
  }
  return dir;
}

const SRC = join(repoRoot(), 'src');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** One relative import of a file: both as paths under src/ with '/' separators (`images/store.ts`). */
interface Edge {
  from: string;
  to: string;
  spec: string;
}

function importsOf(file: string): Edge[] {
  const from = relative(SRC, file).split(sep).join('/');
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({ from, spec, to: posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts') }));
}

/** The part of a path under src/: its first folder, or the file itself at src/'s top (`errors.ts`). */
function partOf(path: string): string {
  const i = path.indexOf('/');
  return i < 0 ? path : path.slice(0, i);
}

const SERVICES = ['containers', 'images', 'networks', 'volumes', 'plugins', 'build', 'distribution', 'snapshots', 'content', 'runtime', 'events'];
/** What the lowest parts may know: the shared helpers and the parts below them (the wire types, which import nothing, are below every part that answers in Docker's shapes). */
const SHARED = ['util', 'errors.ts', 'log.ts'];
const BELOW: Record<string, string[]> = {
  content: [...SHARED],
  snapshots: [...SHARED, 'content'],
  images: [...SHARED, 'wire', 'content', 'snapshots'],
};

/** The rule an import breaks, or undefined. Imports within one part are always allowed. */
export function brokenRule(from: string, to: string): string | undefined {
  const a = partOf(from);
  const b = partOf(to);
  if (a === b) return undefined;
  if (a === 'wire') return 'the wire types (generated from the Engine API schema) import nothing';
  if (a === 'cli' && !['client', 'util', 'compose', 'kube', 'wire'].includes(b)) return 'the CLI imports only src/client, src/util, src/compose, src/kube and the wire types';
  if (a === 'compose' && !['client', 'util', 'kube', 'wire'].includes(b)) return 'pier compose imports only src/client, src/util, src/kube and the wire types (it works through the API)';
  if (a === 'kube' && !['util', 'wire'].includes(b)) return 'the Kubernetes generator (src/kube) imports only src/util and the wire types: it turns descriptions into objects, and reaches neither the daemon nor the API';
  if (a === 'client' && !['util', 'wire'].includes(b)) return 'the API client imports only src/util and the wire types';
  if (['util', 'errors.ts', 'log.ts'].includes(a) && !SHARED.includes(b)) return 'the shared helpers (src/util, errors.ts, log.ts) import only each other';
  if (SERVICES.includes(a) && ['api', 'daemon', 'cli', 'client'].includes(b)) return `a service part (${a}) imports nothing of src/${b}`;
  if (a === 'runtime' && b === 'containers') return 'the runtime never imports the containers part (its caller)';
  const below = BELOW[a];
  if (below && !below.includes(b)) return `${a} imports only what is below it (${below.join(', ')})`;
  if (b === 'daemon' && a !== 'daemon') return 'only the daemon knows the daemon';
  return undefined;
}

/** The import cycles within one folder (as lists of files), found by depth-first search. */
function cyclesWithin(edges: Edge[], folder: string): string[][] {
  const inFolder = (p: string): boolean => p.startsWith(`${folder}/`);
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!inFolder(e.from) || !inFolder(e.to)) continue;
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

const edges = sourceFiles(SRC)
  .filter((f) => !f.endsWith('.test.ts'))
  .flatMap(importsOf);

void test('every import under src/ keeps to the map of the parts', () => {
  const broken = edges.flatMap((e) => {
    const rule = brokenRule(e.from, e.to);
    return rule ? [`src/${e.from} imports '${e.spec}': ${rule}`] : [];
  });
  assert.deepEqual(broken, []);
});

void test('no import loop within the lower parts', () => {
  const loops = ['images', 'content', 'snapshots', 'distribution', 'runtime'].flatMap((folder) => cyclesWithin(edges, folder).map((c) => c.join(' -> ')));
  assert.deepEqual(loops, []);
});

void test('the rules catch what they forbid', () => {
  assert.match(brokenRule('cli/main.ts', 'images/reference.ts') ?? '', /CLI/);
  assert.match(brokenRule('images/inspect.ts', 'api/streams.ts') ?? '', /service part/);
  assert.match(brokenRule('runtime/oci.ts', 'containers/containers.ts') ?? '', /runtime/);
  assert.match(brokenRule('snapshots/overlay.ts', 'images/images.ts') ?? '', /below/);
  assert.match(brokenRule('util/libc.ts', 'snapshots/mount.ts') ?? '', /shared helpers/);
  assert.equal(brokenRule('images/store.ts', 'snapshots/snapshotter.ts'), undefined);
  assert.equal(brokenRule('images/types.ts', 'wire/engine.ts'), undefined);
  assert.match(brokenRule('content/store.ts', 'wire/engine.ts') ?? '', /below/);
  assert.equal(brokenRule('cli/main.ts', 'client/client.ts'), undefined);
  assert.equal(brokenRule('cli/commands/compose.ts', 'compose/engine.ts'), undefined);
  assert.match(brokenRule('compose/engine.ts', 'containers/containers.ts') ?? '', /compose/);
  assert.equal(brokenRule('compose/kube.ts', 'kube/workload.ts'), undefined);
  assert.match(brokenRule('kube/objects.ts', 'client/client.ts') ?? '', /Kubernetes generator/);
  assert.match(brokenRule('kube/objects.ts', 'compose/compose.ts') ?? '', /Kubernetes generator/);
  assert.deepEqual(cyclesWithin([{ from: 'x/a.ts', to: 'x/b.ts', spec: '' }, { from: 'x/b.ts', to: 'x/a.ts', spec: '' }], 'x'), [['x/a.ts', 'x/b.ts', 'x/a.ts']]);
});
