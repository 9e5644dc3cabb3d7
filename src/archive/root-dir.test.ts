import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { at, chmodNoFollow, closeLocation, lstatAt, MAX_SYMLINKS, openDirAt, removeAllAt, RootDir, type Location } from './root-dir.js';

/** Every test has a root with a canary beside it, outside: nothing may ever reach it. */
let base: string;
let rootPath: string;
let outside: string;
let root: RootDir;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'rootdir-'));
  rootPath = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(join(rootPath, 'etc'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'canary'), 'host');
  writeFileSync(join(rootPath, 'etc', 'passwd'), 'container');
  root = RootDir.open(rootPath);
});

afterEach(() => {
  root.close();
  rmSync(base, { recursive: true, force: true });
});

/** The host path a location names (for asserting where it lies). */
function hostPathOf(loc: Location): string {
  return join(rootPath, ...loc.resolved);
}

function located(path: string, opts?: Parameters<RootDir['locate']>[1]): Location {
  const loc = root.locate(path, opts);
  closeLocation(loc);
  return loc;
}

describe('RootDir.locate', () => {
  test('a plain path: its folder and name', () => {
    const loc = root.locate('/etc/passwd');
    try {
      assert.deepEqual(loc.resolved, ['etc', 'passwd']);
      assert.equal(loc.name, 'passwd');
      assert.equal(readFileSync(at(loc.dirFd, loc.name)).toString(), 'container');
    } finally {
      closeLocation(loc);
    }
  });

  test('the root itself, and a path that climbs above it, name the root', () => {
    for (const p of ['/', '', '.', '/..', '../../..', 'etc/../..']) {
      const loc = root.locate(p);
      try {
        assert.equal(loc.name, null, p);
        assert.deepEqual(loc.resolved, []);
        assert.ok(lstatAt(loc).isDirectory());
      } finally {
        closeLocation(loc);
      }
    }
  });

  test('a symlink to / on the way leads to the root, not the host', () => {
    symlinkSync('/', join(rootPath, 'hostroot'));
    assert.deepEqual(located('/hostroot/etc/passwd').resolved, ['etc', 'passwd']);
    // The host's folder is looked for inside the root, where it does not exist.
    assert.throws(() => root.locate(`/hostroot${outside}/canary`), { code: 'ENOENT' });
    mkdirSync(join(rootPath, outside), { recursive: true });
    assert.deepEqual(located(`/hostroot${outside}/canary`).resolved, [...outside.split('/').filter(Boolean), 'canary']);
  });

  test('a symlink to ../../.. climbs no higher than the root', () => {
    mkdirSync(join(rootPath, 'a', 'b'), { recursive: true });
    symlinkSync('../../../../../..', join(rootPath, 'a', 'b', 'up'));
    const loc = located('/a/b/up/etc/passwd');
    assert.equal(hostPathOf(loc), join(rootPath, 'etc', 'passwd'));
    // Followed as the last component too.
    assert.deepEqual(located('/a/b/up', { follow: true }).resolved, []);
    assert.equal(located('/a/b/up', { follow: true }).name, null);
  });

  test('the last component is followed only when asked', () => {
    symlinkSync('/etc', join(rootPath, 'conf'));
    assert.deepEqual(located('/conf').resolved, ['conf']);
    assert.deepEqual(located('/conf', { follow: true }).resolved, ['etc']);
    symlinkSync('etc/passwd', join(rootPath, 'pw'));
    assert.deepEqual(located('/pw', { follow: true }).resolved, ['etc', 'passwd']);
  });

  test('relative links resolve from their own folder, .. physically after a link', () => {
    mkdirSync(join(rootPath, 'x', 'y'), { recursive: true });
    symlinkSync('x/y', join(rootPath, 'deep'));
    // deep/.. is x (the link's target's parent), as the kernel resolves it.
    assert.deepEqual(located('/deep/../y').resolved, ['x', 'y']);
  });

  test('a symlink loop fails with ELOOP after MAX_SYMLINKS links', () => {
    symlinkSync('b', join(rootPath, 'a'));
    symlinkSync('a', join(rootPath, 'b'));
    assert.throws(() => root.locate('/a/x'), { code: 'ELOOP' });
    assert.throws(() => root.locate('/a', { follow: true }), { code: 'ELOOP' });
    // A chain of exactly MAX_SYMLINKS links still resolves.
    for (let i = 0; i < MAX_SYMLINKS; i++) symlinkSync(i === MAX_SYMLINKS - 1 ? 'etc' : `l${i + 1}`, join(rootPath, `l${i}`));
    assert.deepEqual(located('/l0/passwd').resolved, ['etc', 'passwd']);
  });

  test('a missing folder on the way is ENOENT, a file on the way ENOTDIR', () => {
    assert.throws(() => root.locate('/nope/x'), { code: 'ENOENT' });
    assert.throws(() => root.locate('/etc/passwd/x'), { code: 'ENOTDIR' });
    // A missing last component is the caller's to judge.
    assert.equal(located('/etc/nope').name, 'nope');
  });

  test('create makes the missing folders, through links inside the root', () => {
    symlinkSync('/opt', join(rootPath, 'o'));
    const loc = located('/o/a/b/file', { create: { owner: { uid: 1234, gid: 5678 } } });
    assert.deepEqual(loc.resolved, ['opt', 'a', 'b', 'file']);
    const st = statSync(join(rootPath, 'opt', 'a', 'b'));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 5678);
    assert.ok(!existsSync(join(rootPath, 'opt', 'a', 'b', 'file')));
  });

  test('a folder swapped for a symlink during the walk never leads out', () => {
    /** Right after /data is opened, the container swaps /data/sub for a link to `target`. */
    const swapTo = (target: string) => (resolved: readonly string[]) => {
      if (resolved.join('/') !== 'data') return;
      renameSync(join(rootPath, 'data', 'sub'), join(rootPath, 'data', `old-${Math.random()}`));
      symlinkSync(target, join(rootPath, 'data', 'sub'));
    };
    mkdirSync(join(rootPath, 'data', 'sub'), { recursive: true });
    // To the host's folder: followed inside the root, where that path does not exist.
    assert.throws(() => root.locate('/data/sub/canary', { onStep: swapTo(outside) }), { code: 'ENOENT' });
    // To / and to ../..: the container's own root.
    rmSync(join(rootPath, 'data', 'sub'));
    mkdirSync(join(rootPath, 'data', 'sub'));
    assert.deepEqual(located('/data/sub/etc/passwd', { onStep: swapTo('/') }).resolved, ['etc', 'passwd']);
    rmSync(join(rootPath, 'data', 'sub'));
    mkdirSync(join(rootPath, 'data', 'sub'));
    assert.deepEqual(located('/data/sub/etc/passwd', { onStep: swapTo('../../../..') }).resolved, ['etc', 'passwd']);
  });

  test('a folder swapped after it was located: opening it fails instead of following', () => {
    mkdirSync(join(rootPath, 'dest'));
    const loc = root.locate('/dest');
    try {
      renameSync(join(rootPath, 'dest'), join(rootPath, 'dest.old'));
      symlinkSync(outside, join(rootPath, 'dest'));
      assert.throws(() => openDirAt(loc), { code: 'ENOTDIR' });
    } finally {
      closeLocation(loc);
    }
  });

  test('an open folder stays the folder it was, wherever it is moved', () => {
    mkdirSync(join(rootPath, 'w'));
    const loc = root.locate('/w/file');
    try {
      renameSync(join(rootPath, 'w'), join(rootPath, 'moved'));
      symlinkSync(outside, join(rootPath, 'w'));
      writeFileSync(at(loc.dirFd, loc.name!), 'written');
      assert.equal(readFileSync(join(rootPath, 'moved', 'file'), 'utf8'), 'written');
      assert.ok(!existsSync(join(outside, 'file')));
    } finally {
      closeLocation(loc);
    }
  });
});

describe('RootDir.realPath', () => {
  test('follows every link inside the root, and keeps what does not exist', () => {
    symlinkSync('/etc', join(rootPath, 'conf'));
    symlinkSync('../conf/missing/x', join(rootPath, 'etc', 'broken'));
    assert.equal(root.realPath('/conf/passwd'), '/etc/passwd');
    assert.equal(root.realPath('/conf/broken'), '/etc/missing/x');
    symlinkSync('/', join(rootPath, 'up'));
    assert.equal(root.realPath('/up'), '/');
    assert.equal(root.realPath('/nope/../etc'), '/etc');
  });
});

describe('operations at a location', () => {
  test('removeAllAt removes a tree, a symlink in it but never its target', () => {
    mkdirSync(join(rootPath, 'tree', 'a'), { recursive: true });
    writeFileSync(join(rootPath, 'tree', 'a', 'f'), 'x');
    symlinkSync(outside, join(rootPath, 'tree', 'toHost'));
    const loc = root.locate('/tree');
    try {
      removeAllAt(loc.dirFd, loc.name!);
    } finally {
      closeLocation(loc);
    }
    assert.ok(!existsSync(join(rootPath, 'tree')));
    assert.equal(readFileSync(join(outside, 'canary'), 'utf8'), 'host');
  });

  test('chmodNoFollow changes a file, and leaves what a symlink points to alone', () => {
    writeFileSync(join(rootPath, 'f'), '');
    symlinkSync(join(outside, 'canary'), join(rootPath, 'l'));
    const before = lstatSync(join(outside, 'canary')).mode;
    const loc = root.locate('/');
    try {
      chmodNoFollow(loc.dirFd, 'f', 0o4710);
      chmodNoFollow(loc.dirFd, 'l', 0o777);
    } finally {
      closeLocation(loc);
    }
    assert.equal(lstatSync(join(rootPath, 'f')).mode & 0o7777, 0o4710);
    assert.equal(lstatSync(join(outside, 'canary')).mode, before);
  });

  test('no fd is left open by walks', () => {
    symlinkSync('b', join(rootPath, 'a'));
    symlinkSync('a', join(rootPath, 'b'));
    const fdsBefore = openFds();
    for (let i = 0; i < 20; i++) {
      located('/etc/passwd');
      assert.throws(() => root.locate('/a/x'));
      assert.throws(() => root.locate('/etc/passwd/x'));
      root.realPath('/etc/none/x');
    }
    assert.equal(openFds(), fdsBefore);
  });
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
