import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getRebaseName, goBase, nameRebaser, prepareArchiveCopy, preserveTrailingDotOrSeparator, splitPathDirEntry } from './copy-rules.js';

void test('paths as Go and go-archive read them', () => {
  assert.deepEqual(['/a/b', '/a/b/', '/a/.', '/', '', 'x'].map(goBase), ['b', 'b', '.', '/', '.', 'x']);
  assert.deepEqual(splitPathDirEntry('/a/b/'), ['/a', 'b']);
  assert.deepEqual(splitPathDirEntry('/a/b/.'), ['/a/b', '.']);
  assert.deepEqual(splitPathDirEntry('/'), ['/', '/']);
  assert.equal(preserveTrailingDotOrSeparator('/a/b', 'a/b/.'), '/a/b/.');
  assert.equal(preserveTrailingDotOrSeparator('/a/b', 'a/b/'), '/a/b/');
  assert.equal(preserveTrailingDotOrSeparator('/a/b', 'a/b'), '/a/b');
  assert.deepEqual(getRebaseName('/link', '/real/target'), ['/real/target', 'link']);
  assert.deepEqual(getRebaseName('/link/', '/real/link'), ['/real/link/', '']);
  assert.deepEqual(getRebaseName('/link/.', '/t'), ['/t/.', '']);
});

void test('where a copy unpacks, and the name it takes there', () => {
  const file = { path: '/src/f', exists: true, isDir: false };
  const dir = { path: '/src/d', exists: true, isDir: true };
  assert.deepEqual(prepareArchiveCopy(file, { path: '/dst', exists: true, isDir: true }), { dir: '/dst', top: null });
  assert.deepEqual(prepareArchiveCopy(file, { path: '/dst/g', exists: true, isDir: false }), { dir: '/dst', top: 'g' });
  assert.deepEqual(prepareArchiveCopy(file, { path: '/dst/new', exists: false, isDir: false }), { dir: '/dst', top: 'new' });
  assert.deepEqual(prepareArchiveCopy(dir, { path: '/dst/new', exists: false, isDir: false }), { dir: '/dst', top: 'new' });
  assert.deepEqual(prepareArchiveCopy({ ...dir, path: '/src/d/.' }, { path: '/dst/new', exists: false, isDir: false }), { dir: '/dst', top: 'new' });
  assert.throws(() => prepareArchiveCopy(dir, { path: '/dst/g', exists: true, isDir: false }), /cannot copy directory/);
  assert.throws(() => prepareArchiveCopy(file, { path: '/dst/missing/', exists: false, isDir: false }), /no such directory/);
});

void test('entries renamed as go-archive renames them', () => {
  const r = nameRebaser('dir', 'new');
  assert.deepEqual(['dir/', 'dir/a', 'dirx', 'other'].map(r), ['new/', 'new/a', 'dirx', 'other']);
  const dot = nameRebaser('.', 'new');
  assert.deepEqual(['./', './a'].map(dot), ['new/', 'new/a']);
  const root = nameRebaser('', 'out');
  assert.deepEqual(['/', '/bin/sh'].map(root), ['out/', 'out/bin/sh']);
});
