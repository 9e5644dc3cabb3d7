import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { isKind } from '../errors.js';
import { listAll, tarOf, type TarSpec } from '../snapshots/test-helpers.js';
import { RootDir } from './root-dir.js';
import { unpack, type UnpackOptions } from './unpack.js';

let base: string;
let rootPath: string;
let outside: string;
let root: RootDir;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'unpack-'));
  rootPath = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(rootPath, 'dest'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'canary'), 'host');
  root = RootDir.open(rootPath);
});

afterEach(() => {
  root.close();
  rmSync(base, { recursive: true, force: true });
});

async function unpackInto(dest: string, entries: TarSpec[], opts?: UnpackOptions): Promise<void> {
  await unpack(Readable.from(await tarOf(entries)), root, dest.split('/').filter(Boolean), opts);
}

/** Nothing outside the root changed: the canary is as it was and alone. */
async function assertHostUntouched(): Promise<void> {
  assert.equal(readFileSync(join(outside, 'canary'), 'utf8'), 'host');
  assert.deepEqual(await listAll(outside), ['/canary']);
  assert.deepEqual((await listAll(base)).filter((p) => !p.startsWith('/root') && !p.startsWith('/outside')), []);
}

describe('unpack', () => {
  test('files, folders, symlinks, hard links and their metadata', async () => {
    await unpackInto('/dest', [
      { name: 'dir/', type: 'directory', mode: 0o750, uid: 12, gid: 34, mtime: new Date(1_600_000_000_000) },
      { name: 'dir/file', data: 'hello', mode: 0o4755, uid: 56, gid: 78, mtime: new Date(1_500_000_000_000) },
      { name: 'dir/link', type: 'symlink', linkname: 'file' },
      { name: 'dir/hard', type: 'link', linkname: 'dir/file' },
      { name: 'implied/deep/f', data: 'x' },
    ]);
    const d = join(rootPath, 'dest');
    const dir = statSync(join(d, 'dir'));
    assert.equal(dir.mode & 0o7777, 0o750);
    assert.deepEqual([dir.uid, dir.gid, Math.floor(dir.mtimeMs / 1000)], [12, 34, 1_600_000_000]);
    const f = statSync(join(d, 'dir', 'file'));
    assert.equal(readFileSync(join(d, 'dir', 'file'), 'utf8'), 'hello');
    assert.deepEqual([f.mode & 0o7777, f.uid, f.gid, Math.floor(f.mtimeMs / 1000)], [0o4755, 56, 78, 1_500_000_000]);
    assert.equal(readlinkSync(join(d, 'dir', 'link')), 'file');
    assert.equal(statSync(join(d, 'dir', 'hard')).ino, f.ino);
    assert.equal(statSync(join(d, 'implied', 'deep')).mode & 0o7777, 0o755);
  });

  test('a leading / stays under the folder; ./ is skipped', async () => {
    await unpackInto('/dest', [
      { name: './', type: 'directory', mode: 0o700 },
      { name: '/abs/file', data: 'a' },
      { name: '//x', data: 'b' },
    ]);
    assert.equal(readFileSync(join(rootPath, 'dest', 'abs', 'file'), 'utf8'), 'a');
    assert.equal(readFileSync(join(rootPath, 'dest', 'x'), 'utf8'), 'b');
    assert.equal(statSync(join(rootPath, 'dest')).mode & 0o777, 0o755, 'the folder keeps its own mode');
    await assertHostUntouched();
  });

  test('a name climbing above the folder fails with "invalid entry name", and writes nothing there', async () => {
    for (const name of ['../x', 'a/../../x', '../../../../../../../..' + outside + '/canary']) {
      await assert.rejects(unpackInto('/dest', [{ name, data: 'evil' }]), (err: Error) => isKind(err, 'invalid') && /invalid entry name/.test(err.message));
    }
    assert.ok(!existsSync(join(rootPath, 'x')));
    await assertHostUntouched();
  });

  test('a symlink to / or to ../.. in the tar, then a file through it: written inside the root', async () => {
    await unpackInto('/dest', [
      { name: 'up', type: 'symlink', linkname: '../../../../..' },
      { name: 'hostroot', type: 'symlink', linkname: '/' },
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'up/via-up', data: '1' },
      { name: `hostroot${outside}/canary`, data: '2' },
      { name: 'abs/canary', data: '3' },
    ]);
    assert.equal(readFileSync(join(rootPath, 'via-up'), 'utf8'), '1');
    assert.equal(readFileSync(join(rootPath, outside, 'canary'), 'utf8'), '3');
    await assertHostUntouched();
  });

  test('a symlink already in the tree, pointing out, is followed inside the root', async () => {
    symlinkSync(outside, join(rootPath, 'dest', 'out'));
    symlinkSync('/', join(rootPath, 'dest', 'slash'));
    await unpackInto('/dest', [
      { name: 'out/canary', data: 'x' },
      { name: 'slash/top', data: 'y' },
    ]);
    assert.equal(readFileSync(join(rootPath, outside, 'canary'), 'utf8'), 'x');
    assert.equal(readFileSync(join(rootPath, 'top'), 'utf8'), 'y');
    await assertHostUntouched();
  });

  test('a symlink as the last component is replaced, never written through', async () => {
    symlinkSync(join(outside, 'canary'), join(rootPath, 'dest', 'f'));
    await unpackInto('/dest', [{ name: 'f', data: 'new' }]);
    assert.ok(lstatSync(join(rootPath, 'dest', 'f')).isFile());
    assert.equal(readFileSync(join(rootPath, 'dest', 'f'), 'utf8'), 'new');
    await assertHostUntouched();
  });

  test('hard links: a target out of the folder is invalid, an absolute one is under it', async () => {
    await assert.rejects(unpackInto('/dest', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]), (err: Error) => isKind(err, 'invalid') && /invalid hardlink target/.test(err.message));
    writeFileSync(join(rootPath, 'dest', 't'), 'target');
    await unpackInto('/dest', [{ name: 'h', type: 'link', linkname: '/t' }]);
    assert.equal(statSync(join(rootPath, 'dest', 'h')).ino, statSync(join(rootPath, 'dest', 't')).ino);
    // Through a symlink that points out: the link is made to what is inside the root, or fails.
    symlinkSync(outside, join(rootPath, 'dest', 'o'));
    await assert.rejects(unpackInto('/dest', [{ name: 'h2', type: 'link', linkname: 'o/canary' }]), /missing|ENOENT/);
    await assertHostUntouched();
  });

  test('noOverwriteDirNonDir: Docker\'s messages both ways', async () => {
    mkdirSync(join(rootPath, 'dest', 'd'));
    writeFileSync(join(rootPath, 'dest', 'f'), '');
    await assert.rejects(unpackInto('/dest', [{ name: 'd', data: 'x' }], { noOverwriteDirNonDir: true }), /cannot overwrite directory "d" with non-directory "\/dest"/);
    await assert.rejects(unpackInto('/dest', [{ name: 'f/', type: 'directory' }], { noOverwriteDirNonDir: true }), /cannot overwrite non-directory "f\/" with directory "\/dest"/);
    // Without it, the folder is replaced.
    await unpackInto('/dest', [{ name: 'd', data: 'x' }]);
    assert.equal(readFileSync(join(rootPath, 'dest', 'd'), 'utf8'), 'x');
  });

  test('chown gives every entry one owner; noLchown leaves the owner alone', async () => {
    await unpackInto('/dest', [{ name: 'a/b', data: 'x', uid: 5, gid: 6 }, { name: 'l', type: 'symlink', linkname: 'a', uid: 5, gid: 6 }], { chown: { uid: 1000, gid: 1001 } });
    for (const p of ['a', 'a/b', 'l']) {
      const st = lstatSync(join(rootPath, 'dest', p));
      assert.deepEqual([st.uid, st.gid], [1000, 1001], p);
    }
    await unpackInto('/dest', [{ name: 'c', data: 'x', uid: 5, gid: 6 }], { noLchown: true });
    assert.equal(lstatSync(join(rootPath, 'dest', 'c')).uid, process.getuid!());
  });

  test('rename maps names and hard-link targets', async () => {
    await unpackInto('/dest', [
      { name: 'src/', type: 'directory' },
      { name: 'src/f', data: 'x' },
      { name: 'src/h', type: 'link', linkname: 'src/f' },
    ], { rename: (n) => n.replace(/^src/, 'renamed') });
    assert.equal(statSync(join(rootPath, 'dest', 'renamed', 'h')).ino, statSync(join(rootPath, 'dest', 'renamed', 'f')).ino);
  });

  test('a truncated tar fails with invalid; what came before stays', async () => {
    const tar = await tarOf([{ name: 'first', data: 'ok' }, { name: 'second', data: 'x'.repeat(5000) }]);
    await assert.rejects(unpack(Readable.from(tar.subarray(0, 1536)), root, ['dest']), (err: Error) => isKind(err, 'invalid'));
    assert.equal(readFileSync(join(rootPath, 'dest', 'first'), 'utf8'), 'ok');
  });
});
