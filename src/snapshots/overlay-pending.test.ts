import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile, symlink } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { chainIds } from './chain.js';
import { OverlaySnapshotter } from './overlay.js';
import { syncTree } from './sync-tree.js';
import { addInodeFlags, FS_TOPDIR_FL, inodeFlags, lgetxattr, mknod, S_IFIFO } from '../util/libc.js';
import { listAll, sha256, tarOf, treeOf, type TarSpec } from './test-helpers.js';
import { BASE, env, kind, SECOND } from './overlay-test-kit.js';

const PARENT: TarSpec[] = [
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/sh', data: 'parent shell', mode: 0o751, uid: 3, gid: 4, mtime: new Date(1_500_000_000_000), pax: { 'SCHILY.xattr.user.k': 'v' } },
  { name: 'opt/', type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: new Date(1_400_000_000_000) },
  { name: 'srv/', type: 'directory', mode: 0o711, uid: 9, gid: 9 },
];

/** A stream that holds `bytes` back until `release()`: a parent layer still downloading. */
function heldBack(bytes: Buffer): { stream: Readable; release: () => void } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const stream = Readable.from(
    (async function* () {
      await gate;
      yield bytes;
    })(),
  );
  return { stream, release };
}

/** Resolves once `s` has been read to its end. */
function readToEnd(s: Readable): Promise<void> {
  return new Promise((resolve) => s.once('end', resolve));
}

/** The snapshots being built under tmp/, and the files in them. */
async function building(root: string): Promise<string[]> {
  return (await listAll(`${root}/snapshots/tmp`)).filter((p) => /^\/apply-\w+\/fs\//.test(p)).map((p) => p.replace(/^\/apply-\w+\/fs/, ''));
}

void test('a child layer unpacks before its parent is committed, and commits after it', async (t) => {
  const { root, snap, target } = await env(t);
  const tar1 = await tarOf(PARENT);
  const tar2 = await tarOf(SECOND);
  const [c1, c2] = chainIds([sha256(tar1), sha256(tar2)]);
  const parentTar = heldBack(tar1);
  const parentApply = snap.applyLayer(null, parentTar.stream, sha256(tar1));
  const childTar = Readable.from([tar2]);
  const childApply = snap.applyLayer(c1!, childTar, sha256(tar2), { parentReady: parentApply });
  let childDone = false;
  void childApply.then(() => (childDone = true), () => undefined);

  // The child's tar is read to its end and unpacked while the parent has not even started.
  await readToEnd(childTar);
  for (let i = 0; i < 100 && !(await building(root)).includes('/usr/lib/libc.so'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok((await building(root)).includes('/usr/lib/libc.so'), 'the child is unpacked in tmp/');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(childDone, false);
  assert.equal(await snap.has(c2!), false);
  assert.deepEqual(await snap.list(), []);

  parentTar.release();
  const [l1, l2] = await Promise.all([parentApply, childApply]);
  assert.equal(l1.chainId, c1);
  assert.deepEqual(l2, { diffId: sha256(tar2), chainId: c2, size: tar2.length });
  assert.deepEqual(
    await snap.list(),
    [
      { chainId: c1!, parent: null },
      { chainId: c2!, parent: c1! },
    ].sort((a, b) => (a.chainId < b.chainId ? -1 : 1)),
  );
  assert.deepEqual(await readdir(`${root}/snapshots/tmp`), []);
  await snap.prepare('early', c2!);
  const rootfs = await target();
  await snap.mount('early', rootfs);
  assert.equal(await readFile(`${rootfs}/bin/sh`, 'utf8'), 'parent shell');
  assert.equal(await readFile(`${rootfs}/usr/lib/libc.so`, 'utf8'), 'libc');
  await snap.unmount(rootfs);
});

void test('a folder the child implies takes the mode, owner and times of the parent, after the fact', async (t) => {
  const { root, snap } = await env(t);
  const tar1 = await tarOf(PARENT);
  const tar2 = await tarOf([
    { name: 'opt/app/run', data: 'run', mode: 0o755 }, // opt/ and opt/app/ implied
    { name: 'srv/www/index.html', data: 'hi' }, // srv/ implied, then listed below: the tar wins
    { name: 'srv/', type: 'directory', mode: 0o700, uid: 1, gid: 2 },
    { name: 'new/file', data: 'x' }, // new/ implied, absent below: 0755 root
  ]);
  const [c1, c2] = chainIds([sha256(tar1), sha256(tar2)]);
  const parentTar = heldBack(tar1);
  const parentApply = snap.applyLayer(null, parentTar.stream, sha256(tar1));
  const childTar = Readable.from([tar2]);
  const childApply = snap.applyLayer(c1!, childTar, sha256(tar2), { parentReady: parentApply });
  await readToEnd(childTar);
  for (let i = 0; i < 100 && !(await building(root)).includes('/new/file'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok((await building(root)).includes('/new/file'));

  parentTar.release();
  await Promise.all([parentApply, childApply]);
  const tree = await treeOf(snap.fsDir(c2!));
  assert.deepEqual({ mode: tree['/opt']?.mode, uid: tree['/opt']?.uid, gid: tree['/opt']?.gid }, { mode: 0o750, uid: 7, gid: 8 });
  assert.equal((await stat(`${snap.fsDir(c2!)}/opt`)).mtimeMs, 1_400_000_000_000);
  assert.deepEqual({ mode: tree['/opt/app']?.mode, uid: tree['/opt/app']?.uid }, { mode: 0o755, uid: 0 });
  assert.deepEqual({ mode: tree['/srv']?.mode, uid: tree['/srv']?.uid, gid: tree['/srv']?.gid }, { mode: 0o700, uid: 1, gid: 2 });
  assert.deepEqual({ mode: tree['/new']?.mode, uid: tree['/new']?.uid }, { mode: 0o755, uid: 0 });

  // The same layer on a committed parent gives the same tree.
  const again = await snap.applyLayer(c1!, Readable.from([tar2]));
  assert.equal(again.chainId, c2);
  const t2 = await env(t);
  const p2 = await t2.snap.applyLayer(null, Readable.from([tar1]));
  const l2 = await t2.snap.applyLayer(p2.chainId, Readable.from([tar2]));
  assert.deepEqual(await treeOf(t2.snap.fsDir(l2.chainId), { mtimes: true }), await treeOf(snap.fsDir(c2!), { mtimes: true }));
});

void test('a hard link to a file of a pending parent waits for it and copies it', async (t) => {
  const { snap } = await env(t);
  const tar1 = await tarOf(PARENT);
  const tar2 = await tarOf([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/sh2', type: 'link', linkname: 'bin/sh' },
    { name: 'bin/after', data: 'after the link' },
  ]);
  const [c1, c2] = chainIds([sha256(tar1), sha256(tar2)]);
  const parentTar = heldBack(tar1);
  const parentApply = snap.applyLayer(null, parentTar.stream, sha256(tar1));
  const childApply = snap.applyLayer(c1!, Readable.from([tar2]), sha256(tar2), { parentReady: parentApply });
  await new Promise((r) => setTimeout(r, 100));
  parentTar.release();
  await Promise.all([parentApply, childApply]);
  const fs2 = snap.fsDir(c2!);
  assert.equal(await readFile(`${fs2}/bin/sh2`, 'utf8'), 'parent shell');
  const st = await stat(`${fs2}/bin/sh2`);
  assert.deepEqual({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs, nlink: st.nlink }, { mode: 0o751, uid: 3, gid: 4, mtime: 1_500_000_000_000, nlink: 1 });
  assert.equal(lgetxattr(`${fs2}/bin/sh2`, 'user.k')?.toString(), 'v');
  assert.equal(await readFile(`${fs2}/bin/after`, 'utf8'), 'after the link');
  assert.equal((await stat(`${snap.fsDir(c1!)}/bin/sh`)).nlink, 1, 'the parent is not touched');
});

void test('a parent that fails fails its children and leaves nothing behind', async (t) => {
  const { root, snap } = await env(t);
  const tar1 = await tarOf([...PARENT, { name: 'big', data: Buffer.alloc(100_000, 7) }]);
  const tar2 = await tarOf(SECOND);
  const tar3 = await tarOf([{ name: 'third', data: '3' }]);
  const [c1, c2] = chainIds([sha256(tar1), sha256(tar2)]);
  const parentTar = heldBack(tar1.subarray(0, tar1.length - 50_000));
  const parentApply = snap.applyLayer(null, parentTar.stream, sha256(tar1));
  // One child read to its end and waiting for the parent, one still downloading.
  const child = snap.applyLayer(c1!, Readable.from([tar2]), sha256(tar2), { parentReady: parentApply });
  const slow = new PassThrough();
  slow.write(tar3.subarray(0, 600));
  const grandchild = snap.applyLayer(c2!, slow, sha256(tar3), { parentReady: child });
  await new Promise((r) => setTimeout(r, 100));
  parentTar.release();
  const failed = kind('invalid', /unexpected end of data/);
  await assert.rejects(parentApply, failed);
  await assert.rejects(child, failed);
  await assert.rejects(grandchild, failed);
  assert.equal(slow.destroyed, true, 'the stream still downloading is stopped');
  assert.deepEqual(await snap.list(), []);
  assert.deepEqual(await readdir(`${root}/snapshots/tmp`), []);
  assert.deepEqual((await readdir(`${root}/snapshots`)).sort(), ['tmp']);
});

void test('syncTree flushes a small tree file by file (never opening a fifo, a device or a symlink) and a large one with syncfs', async (t) => {
  const dir = await mkdtemp('/tmp/psync-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const small = `${dir}/small`;
  await mkdir(`${small}/a/b`, { recursive: true });
  await writeFile(`${small}/a/b/file`, 'data');
  await writeFile(`${small}/secret`, 'no one may read this', { mode: 0o000 });
  await symlink('/nowhere', `${small}/a/dangling`);
  mknod(`${small}/a/fifo`, S_IFIFO | 0o644); // opening it to fsync would block for ever
  mknod(`${small}/whiteout`, 0o020000, 0n);
  const before = await listAll(small);
  await syncTree(small);
  assert.deepEqual(await listAll(small), before);

  const large = `${dir}/large`;
  await mkdir(large);
  await Promise.all(Array.from({ length: 600 }, (_, i) => writeFile(`${large}/f${i}`, String(i))));
  mknod(`${large}/fifo`, S_IFIFO | 0o644);
  await syncTree(large);
  assert.equal((await readdir(large)).length, 601);
});

void test('a pull\'s layers (flushed later) are unpacked in a folder marked as the top of directory trees (chattr +T); layers flushed at once and containers layers not', async (t) => {
  // ext4 (this machine's /tmp): each new layer goes to a block group of its own.
  const { root, snap } = await env(t);
  const probe = await mkdtemp('/tmp/pov-flags-');
  t.after(() => rm(probe, { recursive: true, force: true }));
  addInodeFlags(probe, FS_TOPDIR_FL); // throws if /tmp's filesystem has no such flag: the assertions below would mean nothing
  const tar = await tarOf(BASE);
  const a = await snap.applyLayer(null, Readable.from([tar]), undefined, { durable: false });
  assert.equal(inodeFlags(`${root}/snapshots/new`) & FS_TOPDIR_FL, FS_TOPDIR_FL);
  assert.equal(await snap.has(a.chainId), true);
  assert.deepEqual(await readdir(`${root}/snapshots/new`), []);
  // A layer flushed before it is committed (a build step's), and a container's layer, stay
  // beside the others: a block group of their own would cost them its metadata I/O.
  await snap.applyLayer(a.chainId, Readable.from([await tarOf([{ name: 'x', data: 'x' }])]));
  await snap.prepare('c1', a.chainId);
  assert.equal(inodeFlags(`${root}/snapshots/tmp`) & FS_TOPDIR_FL, 0);

  // tmpfs has no such flag: layers are made all the same.
  const shm = await mkdtemp('/dev/shm/pov-');
  t.after(() => rm(shm, { recursive: true, force: true }));
  assert.throws(() => addInodeFlags(shm, FS_TOPDIR_FL), /ENOTSUP|ENOTTY|EINVAL|EOPNOTSUPP/);
  const onShm = new OverlaySnapshotter(shm);
  const b = await onShm.applyLayer(null, Readable.from([tar]), undefined, { durable: false });
  assert.equal(b.chainId, a.chainId);
  assert.equal(await onShm.has(b.chainId), true);
});
