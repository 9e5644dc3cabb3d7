import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { goFileMode, goTime, isGoDir, isGoSymlink, parseArchivePath } from './archive-path.js';

void test('archive paths read as moby reads them', () => {
  const cases: Array<[string, { abs: string; folder: boolean; name: string; top: string }]> = [
    ['/etc/hosts', { abs: '/etc/hosts', folder: false, name: 'hosts', top: 'hosts' }],
    ['etc/hosts', { abs: '/etc/hosts', folder: false, name: 'hosts', top: 'hosts' }],
    ['/etc/', { abs: '/etc', folder: true, name: 'etc', top: 'etc' }],
    ['/etc/.', { abs: '/etc', folder: true, name: '.', top: '.' }],
    ['/etc/./', { abs: '/etc', folder: true, name: '.', top: '.' }],
    ['.', { abs: '/', folder: true, name: '.', top: '.' }],
    ['/', { abs: '/', folder: true, name: '/', top: '' }],
    ['/a/../../b//c', { abs: '/b/c', folder: false, name: 'c', top: 'c' }],
  ];
  for (const [path, want] of cases) assert.deepEqual(parseArchivePath(path), want, path);
});

void test('Go file modes and times', () => {
  const dir = mkdtempSync(join(tmpdir(), 'apath-'));
  try {
    symlinkSync('x', join(dir, 'l'));
    const d = goFileMode(lstatSync(dir));
    assert.equal(d, 2 ** 31 + 0o700);
    assert.ok(isGoDir(d) && !isGoSymlink(d));
    const l = goFileMode(lstatSync(join(dir, 'l')));
    assert.ok(isGoSymlink(l) && !isGoDir(l));
    assert.equal(goFileMode(lstatSync('/dev/null')), 2 ** 26 + 2 ** 21 + 0o666);
    assert.equal(goFileMode(lstatSync('/tmp')), 2 ** 31 + 2 ** 20 + 0o777);
  } finally {
    rmSync(dir, { recursive: true });
  }
  assert.equal(goTime(Date.UTC(2024, 0, 2, 3, 4, 5)), '2024-01-02T03:04:05Z');
  assert.equal(goTime(Date.UTC(2024, 0, 2, 3, 4, 5, 120)), '2024-01-02T03:04:05.12Z');
});
