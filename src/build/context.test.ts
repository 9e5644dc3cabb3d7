import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { BuildContext, checksumSources, collectSources } from './context.js';

async function tree(t: TestContext): Promise<string> {
  const dir = await mkdtemp('/tmp/pctx-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'src', 'sub'), { recursive: true });
  await writeFile(join(dir, 'src', 'a.txt'), 'a');
  await writeFile(join(dir, 'src', 'b.log'), 'b');
  await writeFile(join(dir, 'src', 'sub', 'c.txt'), 'c');
  await writeFile(join(dir, 'top.txt'), 'top');
  await symlink('/etc', join(dir, 'etc-link'));
  await symlink('../../../../top.txt', join(dir, 'src', 'climb'));
  return dir;
}

const rels = (entries: Array<{ rel: string; type: string }>): string[] => entries.map((e) => `${e.type}:${e.rel}`);

test('a folder source lists its tree sorted, links stay links', async (t) => {
  const dir = await tree(t);
  const [s] = await collectSources(dir, ['src']);
  assert.equal(s!.isDir, true);
  assert.deepEqual(rels(s!.entries), ['dir:', 'file:a.txt', 'file:b.log', 'symlink:climb', 'dir:sub', 'file:sub/c.txt']);
});

test('.., absolute paths and symlinks never leave the root', async (t) => {
  const dir = await tree(t);
  const [a] = await collectSources(dir, ['../../top.txt']);
  assert.equal(a!.entries[0]!.hostPath, join(dir, 'top.txt'));
  const [b] = await collectSources(dir, ['/src/a.txt']);
  assert.equal(b!.entries[0]!.hostPath, join(dir, 'src', 'a.txt'));
  // src/climb -> ../../../../top.txt resolves to the root's top.txt, as in a chroot.
  const [c] = await collectSources(dir, ['src/climb']);
  assert.equal(c!.entries[0]!.hostPath, join(dir, 'top.txt'));
  // etc-link -> /etc is the root's own /etc, which does not exist.
  await assert.rejects(collectSources(dir, ['etc-link/passwd']), /file not found in build context/);
});

test('globs match per component; no match is an error', async (t) => {
  const dir = await tree(t);
  const sources = await collectSources(dir, ['src/*.txt', 's?c/s*/c.[a-z]xt']);
  assert.deepEqual(sources.map((s) => s.entries[0]!.hostPath), [join(dir, 'src', 'a.txt'), join(dir, 'src', 'sub', 'c.txt')]);
  await assert.rejects(collectSources(dir, ['*.none']), /no source files were specified/);
});

test('.dockerignore with exceptions filters what a COPY takes', async (t) => {
  const dir = await tree(t);
  await writeFile(join(dir, '.dockerignore'), '# comment\nsrc/*.log\nsrc/sub\n!src/sub/c.txt\n');
  const ctx = await BuildContext.ofDir(dir);
  const [s] = await collectSources(dir, ['src'], (rel) => !ctx.ignored(rel));
  assert.deepEqual(rels(s!.entries), ['dir:', 'file:a.txt', 'symlink:climb', 'dir:sub', 'file:sub/c.txt']);
  await assert.rejects(collectSources(dir, ['src/b.log'], (rel) => !ctx.ignored(rel)), /excluded by .dockerignore|file not found/);
});

test('the checksum follows content, names and modes, not times', async (t) => {
  const dir = await tree(t);
  const sum = async (): Promise<string> => checksumSources(await collectSources(dir, ['src']));
  const first = await sum();
  assert.equal(await sum(), first);
  await writeFile(join(dir, 'src', 'a.txt'), 'a');
  assert.equal(await sum(), first, 'rewriting the same bytes changes nothing');
  await writeFile(join(dir, 'src', 'sub', 'c.txt'), 'C');
  assert.notEqual(await sum(), first);
});

test('readDockerfile finds the named file inside the context only', async (t) => {
  const dir = await tree(t);
  await writeFile(join(dir, 'Dockerfile.dev'), 'FROM scratch\n');
  const ctx = await BuildContext.ofDir(dir);
  assert.equal(await ctx.readDockerfile('Dockerfile.dev'), 'FROM scratch\n');
  assert.equal(await ctx.readDockerfile('../../Dockerfile.dev'), 'FROM scratch\n');
  await assert.rejects(ctx.readDockerfile('Dockerfile'), /Cannot locate specified Dockerfile: Dockerfile/);
});
