import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { IdMap } from '../util/idmap.js';
import { devNumbers, lgetxattr, lsetxattr } from '../util/libc.js';
import { mapKey } from './layer-copies.js';
import { unmount } from './mount.js';
import { OverlaySnapshotter } from './overlay.js';
import type { UsernsLayers } from './snapshotter.js';
import { listAll, tarOf, treeOf, type NodeInfo, type TarSpec } from './test-helpers.js';

/**
 * Chown'd copies of layers for containers with a user namespace (`usernsLayers: 'copy'`):
 * what the copy holds, what a container mounted on it sees, who shares it, when it goes.
 */

const MAP: IdMap = { uid: 300000, gid: 310000, size: 65536 };
const OTHER: IdMap = { uid: 400000, gid: 410000, size: 65536 };

const BASE: TarSpec[] = [
  { name: './', type: 'directory', mode: 0o755 },
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/su', data: 'setuid binary', mode: 0o4755 },
  { name: 'bin/login', type: 'link', linkname: 'bin/su' },
  { name: 'bin/sh', type: 'symlink', linkname: 'su' },
  { name: 'bin/wall', data: 'setgid', mode: 0o2755, gid: 5 },
  { name: 'bin/ping', data: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.user.tag': 'capable' } },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'home/', type: 'directory', mode: 0o755 },
  { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'home/user/notes', data: 'notes', mode: 0o600, uid: 1000, gid: 1000 },
  { name: 'home/user/link', type: 'symlink', linkname: 'notes', uid: 1000, gid: 1000 },
  { name: 'far', data: 'beyond the range', uid: 70000, gid: 70001 },
  { name: 'dev/', type: 'directory', mode: 0o755 },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/motd', data: 'hello\n' },
  { name: 'etc/passwd', data: 'root:x:0:0\n' },
  { name: 'var/', type: 'directory', mode: 0o755 },
  { name: 'var/cache/', type: 'directory', mode: 0o755 },
  { name: 'var/cache/old', data: 'old' },
];
const SECOND: TarSpec[] = [
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/.wh.motd', data: '' },
  { name: 'var/', type: 'directory', mode: 0o755 },
  { name: 'var/cache/', type: 'directory', mode: 0o755, uid: 7, gid: 8 },
  { name: 'var/cache/.wh..wh..opq', data: '' },
  { name: 'var/cache/new', data: 'new' },
];

interface Env {
  root: string;
  snap: OverlaySnapshotter;
  chains: [string, string];
  target: () => Promise<string>;
}

async function env(t: TestContext, usernsLayers: UsernsLayers = 'copy'): Promise<Env> {
  const root = await mkdtemp('/tmp/plc-');
  const targets: string[] = [];
  t.after(async () => {
    for (const m of targets.reverse()) await unmount(m, { detach: true });
    await rm(root, { recursive: true, force: true });
  });
  const snap = new OverlaySnapshotter(root, { usernsLayers });
  const l1 = await snap.applyLayer(null, Readable.from([await tarOf(BASE)]));
  const l2 = await snap.applyLayer(l1.chainId, Readable.from([await tarOf(SECOND)]));
  let n = 0;
  return {
    root,
    snap,
    chains: [l1.chainId, l2.chainId],
    target: async () => {
      const p = `${root}/mnt${n++}`;
      await mkdir(p);
      targets.push(p);
      return p;
    },
  };
}

const copyDir = (e: Env, map: IdMap, chainId: string): string => `${e.root}/snapshots/idcopies/${mapKey(map)}/${chainId.slice(7)}`;

/** `tree` with every owner as `map` shows it on the host (beyond the range: 65534). */
function shifted(tree: Record<string, NodeInfo>, map: IdMap): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const shift = (id: number, base: number): number => (id < map.size ? base + id : 65534);
  for (const [p, info] of Object.entries(tree)) out[p] = { ...info, uid: shift(info.uid, map.uid), gid: shift(info.gid, map.gid) };
  return out;
}

/** Wait (up to 2 s) for `dir` to hold nothing: removals finish their files in the background. */
async function emptied(dir: string): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = await readdir(dir).catch(() => []);
    if (left.length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(left, [], `${dir} is emptied`);
}

async function mounted(e: Env, key: string, map: IdMap): Promise<string> {
  await e.snap.prepare(key, e.chains[1]);
  const rootfs = await e.target();
  await e.snap.mount(key, rootfs, { idmap: map });
  return rootfs;
}

void test('a layer\'s copy has its owners shifted into the range and everything else kept', async (t) => {
  const e = await env(t);
  // A file capability is cleared by a chown: the copy must set it after.
  const cap = Buffer.from('0000000200200000000000000000000000000000', 'hex'); // v2, cap_net_raw permitted
  lsetxattr(`${e.snap.fsDir(e.chains[0])}/bin/ping`, 'security.capability', cap);
  const rootfs = await mounted(e, 'c1', MAP);

  for (const [i, chainId] of e.chains.entries()) {
    const copy = copyDir(e, MAP, chainId);
    const original = await treeOf(e.snap.fsDir(chainId), { mtimes: true });
    assert.ok(Object.keys(original).length > (i === 0 ? 15 : 3), 'the layer has the tree the test means');
    assert.deepEqual(await treeOf(copy, { mtimes: true }), shifted(original, MAP), `layer ${i}: the copy is the layer with owners shifted`);
    // Folders' times too (treeOf compares those of non-folders), and the root's owner and mode.
    for (const dir of ['', '/etc', '/var/cache']) {
      const [a, b] = [await stat(`${e.snap.fsDir(chainId)}${dir}`), await stat(`${copy}${dir}`)];
      assert.equal(Math.floor(b.mtimeMs / 1000), Math.floor(a.mtimeMs / 1000), `mtime of ${dir || '/'}`);
    }
    const root = await stat(copy);
    assert.deepEqual([root.uid, root.gid, root.mode & 0o7777], [MAP.uid, MAP.gid, 0o755]);
  }
  const base = copyDir(e, MAP, e.chains[0]);
  const top = copyDir(e, MAP, e.chains[1]);
  // Spelled out what treeOf compared: setuid and setgid kept through the chown, a hard link still one.
  assert.equal((await lstat(`${base}/bin/su`)).mode & 0o7777, 0o4755);
  assert.equal((await lstat(`${base}/bin/wall`)).mode & 0o7777, 0o2755);
  assert.equal((await lstat(`${base}/bin/wall`)).gid, MAP.gid + 5);
  assert.equal((await lstat(`${base}/bin/login`)).ino, (await lstat(`${base}/bin/su`)).ino);
  assert.equal((await lstat(`${base}/bin/su`)).nlink, 2);
  assert.equal((await lstat(`${base}/bin/sh`)).uid, MAP.uid, 'a symlink\'s own owner');
  assert.equal((await lstat(`${base}/home/user/notes`)).uid, MAP.uid + 1000);
  assert.equal((await lstat(`${base}/far`)).uid, 65534, 'an ID beyond the range is the overflow ID');
  assert.deepEqual(lgetxattr(`${base}/bin/ping`, 'security.capability'), cap);
  const dev = await lstat(`${base}/dev/null`);
  assert.deepEqual(devNumbers(dev.rdev), { major: 1, minor: 3 });
  // The whiteout and the opaque folder of the second layer are what overlayfs reads.
  const wh = await lstat(`${top}/etc/motd`);
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a whiteout stays a char 0:0');
  assert.equal(lgetxattr(`${top}/var/cache`, 'trusted.overlay.opaque')?.toString(), 'y');

  // What the container sees: the image's files owned by its root, the layers merged as before.
  assert.equal((await stat(`${rootfs}/bin/su`)).uid, MAP.uid);
  assert.equal((await stat(`${rootfs}/bin/su`)).mode & 0o7777, 0o4755);
  assert.deepEqual((await readdir(`${rootfs}/etc`)).sort(), ['passwd']);
  assert.deepEqual(await readdir(`${rootfs}/var/cache`), ['new']);
  assert.equal((await stat(`${rootfs}/var/cache`)).uid, MAP.uid + 7);
  assert.equal(await readFile(`${rootfs}/home/user/link`, 'utf8'), 'notes');
  // The committed layers themselves are untouched.
  assert.equal((await lstat(`${e.snap.fsDir(e.chains[0])}/bin/su`)).uid, 0);
  // Writes land with the host IDs of the writer (root here): a copy-up keeps the mapped owner.
  await writeFile(`${rootfs}/etc/passwd`, 'root:x:0:0\nu:x:1:1\n');
  assert.equal((await lstat(`${e.root}/snapshots/active/c1/upper/etc/passwd`)).uid, MAP.uid);
});

void test('containers of one mapping share its copies; each mapping has its own; the last removal of a mapping takes its copies', async (t) => {
  const e = await env(t);
  const a = await mounted(e, 'a', MAP);
  const copy = copyDir(e, MAP, e.chains[0]);
  const made = await lstat(`${copy}/bin/su`);
  const b = await mounted(e, 'b', MAP);
  assert.equal((await lstat(`${copy}/bin/su`)).ino, made.ino, 'the second container reuses the copy');
  assert.equal((await stat(`${b}/bin/su`)).uid, MAP.uid);
  const c = await mounted(e, 'c', OTHER);
  assert.equal((await stat(`${c}/bin/su`)).uid, OTHER.uid);
  assert.deepEqual((await readdir(`${e.root}/snapshots/idcopies`)).sort(), [mapKey(MAP), mapKey(OTHER)]);
  assert.equal((await readdir(`${e.root}/snapshots/idcopies/${mapKey(MAP)}`)).length, 2, 'one copy per layer');
  // The mount's lower dirs are the copies.
  const info = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.includes(` ${a} `)) ?? '';
  assert.match(info, new RegExp(`lowerdir=[^,]*/idcopies/${mapKey(MAP)}/${e.chains[1].slice(7)}:`));

  // A mounted writable layer is not removed (its copies stay); an unmounted one is, with no copy going while another uses it.
  await assert.rejects(e.snap.removeActive('a'), /is mounted/);
  await e.snap.unmount(a);
  await e.snap.removeActive('a');
  assert.equal((await lstat(`${copy}/bin/su`)).ino, made.ino, 'b still uses the copy');
  await e.snap.unmount(b);
  await e.snap.removeActive('b');
  assert.deepEqual(await readdir(`${e.root}/snapshots/idcopies`), [mapKey(OTHER)], 'the last of MAP took its copies');
  // A stopped container keeps its copies: mounted again, it finds them.
  await e.snap.unmount(c);
  const otherCopy = await lstat(`${copyDir(e, OTHER, e.chains[0])}/bin/su`);
  const c2 = await e.target();
  await e.snap.mount('c', c2, { idmap: OTHER });
  assert.equal((await lstat(`${copyDir(e, OTHER, e.chains[0])}/bin/su`)).ino, otherCopy.ino);
  await e.snap.unmount(c2);
  await e.snap.removeActive('c');
  assert.deepEqual(await readdir(`${e.root}/snapshots/idcopies`), []);
  // The image's layers go as before, and nothing of the copies stays.
  await e.snap.remove(e.chains[1]);
  await e.snap.remove(e.chains[0]);
  await emptied(`${e.root}/snapshots/tmp`);
  assert.deepEqual(await listAll(`${e.root}/snapshots`), ['/active', '/idcopies', '/l', '/tmp']);
});

void test('a removed layer takes its copies; recover() removes half-made copies and copies no writable layer records', async (t) => {
  const e = await env(t);
  const rootfs = await mounted(e, 'k', MAP);
  await e.snap.unmount(rootfs);
  // A copy of a layer nothing records (as a crash between a removal's steps leaves it), and a half-made one.
  const orphan = `${e.root}/snapshots/idcopies/${mapKey(OTHER)}/${e.chains[0].slice(7)}`;
  await mkdir(orphan, { recursive: true });
  await mkdir(`${e.root}/snapshots/tmp/copy-0123456789abcdef/c/bin`, { recursive: true });
  const fresh = new OverlaySnapshotter(e.root, { usernsLayers: 'copy' });
  await fresh.recover();
  assert.deepEqual(await readdir(`${e.root}/snapshots/idcopies`), [mapKey(MAP)], 'only the recorded copies stay');
  // The half-made copy is gone; the orphan's files go in the background after its rename.
  await emptied(`${e.root}/snapshots/tmp`);
  assert.equal((await readdir(`${e.root}/snapshots/idcopies/${mapKey(MAP)}`)).length, 2);

  // Removing a layer removes its copies (the writable layer goes first: the layer is in use till then).
  await fresh.removeActive('k');
  await mkdir(orphan, { recursive: true });
  await fresh.remove(e.chains[1]);
  await fresh.remove(e.chains[0]);
  assert.deepEqual(await listAll(`${e.root}/snapshots/idcopies`), [`/${mapKey(OTHER)}`]);
});

void test('usernsLayers auto uses idmapped layers where the kernel takes them, and both ways give the same view', async (t) => {
  const copied = await env(t, 'copy');
  const auto = await env(t, 'auto');
  const viaCopies = await mounted(copied, 'v', MAP);
  const viaAuto = await mounted(auto, 'v', MAP);
  const info = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.includes(` ${viaAuto} `)) ?? '';
  const idmapped = !info.includes('/idcopies/');
  t.diagnostic(idmapped ? 'auto: idmapped layers' : 'auto: this kernel cannot idmap overlay layers, copies');
  assert.equal((await readdir(`${auto.root}/snapshots/idcopies`).catch(() => [])).length > 0, !idmapped);
  assert.deepEqual(await treeOf(viaAuto, { mtimes: true }), await treeOf(viaCopies, { mtimes: true }));
  assert.equal((await stat(`${viaAuto}/bin/su`)).uid, MAP.uid);
});
