import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, stat, unlink, writeFile, symlink, link, rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { test } from 'node:test';
import { chainIds } from './chain.js';
import { isMountPoint } from './mount.js';
import { lgetxattr, lsetxattr } from '../util/libc.js';
import { listAll, sha256, tarOf, treeOf } from './test-helpers.js';
import { BASE, bytes, env, kind, SECOND } from './overlay-test-kit.js';

/** The entries of a tar: name → type (whiteouts and markers are plain files). */
async function entriesOf(tar: Buffer): Promise<Array<{ name: string; type: string; linkname?: string; size: number }>> {
  const ex = extract();
  const out: Array<{ name: string; type: string; linkname?: string; size: number }> = [];
  const done = (async () => {
    for await (const e of ex) {
      const h = e.header;
      out.push({ name: h.name, type: h.type, size: h.size, ...(h.type === 'link' || h.type === 'symlink' ? { linkname: h.linkname } : {}) });
      for await (const _ of e) {
        // drain
      }
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

void test('layers, a container on them, its diff, and the diff applied again give the same view', async (t) => {
  const { snap, target } = await env(t);
  const tar1 = await tarOf(BASE);
  const tar2 = await tarOf(SECOND);
  const l1 = await snap.applyLayer(null, Readable.from([tar1]));
  const l2 = await snap.applyLayer(l1.chainId, Readable.from([tar2]));
  assert.equal(l1.diffId, sha256(tar1));
  assert.equal(l2.diffId, sha256(tar2));
  assert.deepEqual([l1.chainId, l2.chainId], chainIds([l1.diffId, l2.diffId]));
  assert.equal(l2.size, tar2.length);
  assert.deepEqual(await snap.list(), [
    { chainId: l1.chainId, parent: null },
    { chainId: l2.chainId, parent: l1.chainId },
  ].sort((a, b) => (a.chainId < b.chainId ? -1 : 1)));

  const m = await snap.prepare('ctr1', l2.chainId);
  assert.deepEqual(m.lowerDirs, [snap.fsDir(l2.chainId), snap.fsDir(l1.chainId)]);
  assert.deepEqual(await snap.mounts('ctr1'), m);
  const rootfs = await target();
  await snap.mount('ctr1', rootfs);
  assert.equal(await isMountPoint(rootfs), true);

  // The merged view: both layers, the whiteout hides motd.
  assert.deepEqual((await readdir(`${rootfs}/etc`)).sort(), ['hosts', 'passwd']);
  assert.equal(await readFile(`${rootfs}/bin/sh`, 'utf8'), 'shell');

  // A container changes things.
  await writeFile(`${rootfs}/etc/passwd`, 'root:x:0:0\nuser:x:1000:1000\n');
  await unlink(`${rootfs}/etc/hosts`);
  await mkdir(`${rootfs}/home/user`, { recursive: true });
  await writeFile(`${rootfs}/home/user/notes`, 'notes');
  await link(`${rootfs}/home/user/notes`, `${rootfs}/home/user/notes2`);
  await symlink('notes', `${rootfs}/home/user/latest`);
  await chmod(`${rootfs}/bin/sh`, 0o700);
  await rm(`${rootfs}/var/cache`, { recursive: true });
  await mkdir(`${rootfs}/var/cache`);
  await writeFile(`${rootfs}/var/cache/c`, 'c');
  await rename(`${rootfs}/usr/lib/libc.so`, `${rootfs}/usr/lib/libc.so.6`);
  const view = await treeOf(rootfs, { mtimes: true });

  // As Docker: a dir is listed when its own attributes changed or a child was added or
  // deleted, not because a child was modified (/bin, /usr were only copied up).
  assert.deepEqual(await snap.changes('ctr1'), [
    { Path: '/bin/sh', Kind: 0 },
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/hosts', Kind: 2 },
    { Path: '/etc/passwd', Kind: 0 },
    { Path: '/home', Kind: 1 },
    { Path: '/home/user', Kind: 1 },
    { Path: '/home/user/latest', Kind: 1 },
    { Path: '/home/user/notes', Kind: 1 },
    { Path: '/home/user/notes2', Kind: 1 },
    { Path: '/usr/lib', Kind: 0 },
    { Path: '/usr/lib/libc.so', Kind: 2 },
    { Path: '/usr/lib/libc.so.6', Kind: 1 },
    { Path: '/var', Kind: 0 },
    { Path: '/var/cache', Kind: 0 },
    { Path: '/var/cache/a', Kind: 2 },
    { Path: '/var/cache/b', Kind: 2 },
    { Path: '/var/cache/c', Kind: 1 },
  ]);

  const diff = await bytes(snap.diff('ctr1'));
  const entries = await entriesOf(diff);
  assert.deepEqual(
    entries.map((e) => `${e.type} ${e.name}${e.linkname !== undefined ? ` -> ${e.linkname}` : ''}`),
    [
      'directory bin/',
      'file bin/sh',
      'directory etc/',
      'file etc/.wh.hosts',
      'file etc/passwd',
      'directory home/',
      'directory home/user/',
      'symlink home/user/latest -> notes',
      'file home/user/notes',
      'link home/user/notes2 -> home/user/notes',
      'directory usr/',
      'directory usr/lib/',
      'file usr/lib/.wh.libc.so',
      'file usr/lib/libc.so.6',
      'directory var/',
      'directory var/cache/',
      'file var/cache/.wh..wh..opq',
      'file var/cache/c',
    ],
  );
  // The same changes give the same bytes.
  assert.deepEqual(await bytes(snap.diff('ctr1')), diff);

  await snap.unmount(rootfs);
  assert.equal(await isMountPoint(rootfs), false);

  // Commit: the diff as a layer on the same parent, then a new container on it sees the same.
  const l3 = await snap.applyLayer(l2.chainId, Readable.from([diff]));
  assert.equal(l3.diffId, sha256(diff));
  await snap.prepare('ctr2', l3.chainId);
  const rootfs2 = await target();
  await snap.mount('ctr2', rootfs2);
  assert.deepEqual(await treeOf(rootfs2, { mtimes: true }), view);
  assert.deepEqual(await snap.changes('ctr2'), []);
  await snap.unmount(rootfs2);
});

void test('applyLayer is idempotent, and checks the expected DiffID', async (t) => {
  const { root, snap } = await env(t);
  const tar = await tarOf(BASE);
  const a = await snap.applyLayer(null, Readable.from([tar]));
  const b = await snap.applyLayer(null, Readable.from([tar]));
  assert.deepEqual(b, a);
  const c = await snap.applyLayer(null, Readable.from([tar]), a.diffId);
  assert.deepEqual(c, a);
  // The fast path still reads the stream and checks it.
  const other = await tarOf([{ name: 'x', data: 'x' }]);
  await assert.rejects(snap.applyLayer(null, Readable.from([other]), a.diffId), kind('invalid', /DiffID mismatch/));
  const wrong = sha256(Buffer.from('not this'));
  await assert.rejects(snap.applyLayer(null, Readable.from([other]), wrong), kind('invalid', /DiffID mismatch/));
  assert.equal(await snap.has(wrong), false);
  assert.equal(await snap.has(sha256(other)), false);
  assert.deepEqual(await snap.list(), [{ chainId: a.chainId, parent: null }]);
  assert.deepEqual(await readdir(`${root}/snapshots/tmp`), []);
  assert.ok((await snap.usage(a.chainId)) >= 'shellroot:x:0:0\nhello\nab'.length);
});

void test('a truncated or hostile layer leaves no snapshot behind', async (t) => {
  const { root, snap } = await env(t);
  const tar = await tarOf([...BASE, { name: 'big', data: Buffer.alloc(100_000, 7) }]);
  await assert.rejects(snap.applyLayer(null, Readable.from([tar.subarray(0, tar.length - 50_000)])), kind('invalid', /unexpected end of data/));
  const hostile = await tarOf([{ name: 'ok', data: 'ok' }, { name: '../../../../../tmp/pier-escape', data: 'x' }]);
  await assert.rejects(snap.applyLayer(null, Readable.from([hostile])), kind('invalid', /outside the layer/));
  assert.deepEqual(await snap.list(), []);
  assert.deepEqual(await readdir(`${root}/snapshots/tmp`), []);
  assert.deepEqual((await readdir(`${root}/snapshots`)).sort(), ['tmp']);
  await assert.rejects(stat('/tmp/pier-escape'), /ENOENT/);
});

void test('placeholders: mount points the runtime made are left out of changes and diff, with the folders made or copied up for them', async (t) => {
  const { snap, target } = await env(t);
  const l1 = await snap.applyLayer(null, Readable.from([await tarOf(BASE)]));
  const placeholders = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sbin/docker-init'];
  await snap.prepare('ph', l1.chainId);
  const rootfs = await target();
  await snap.mount('ph', rootfs);
  // What a runtime does for its bind mounts: empty files, and /sbin made for the init.
  for (const f of ['etc/hostname', 'etc/hosts', 'etc/resolv.conf']) await writeFile(`${rootfs}/${f}`, '');
  await mkdir(`${rootfs}/sbin`);
  await writeFile(`${rootfs}/sbin/docker-init`, '');
  assert.deepEqual(await snap.changes('ph', { placeholders }), []);
  assert.deepEqual(await entriesOf(await bytes(snap.diff('ph', { placeholders }))), []);
  // Without the option they are there, as before.
  assert.deepEqual((await snap.changes('ph')).map((c) => c.Path), ['/etc', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sbin', '/sbin/docker-init']);

  // A real change beside them keeps its folder; a placeholder with content is a real file.
  await writeFile(`${rootfs}/etc/added`, 'x');
  await writeFile(`${rootfs}/etc/hostname`, 'written while stopped\n');
  assert.deepEqual(await snap.changes('ph', { placeholders }), [
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/added', Kind: 1 },
    { Path: '/etc/hostname', Kind: 1 },
  ]);
  assert.deepEqual((await entriesOf(await bytes(snap.diff('ph', { placeholders })))).map((e) => e.name), ['etc/', 'etc/added', 'etc/hostname']);
  // A folder of the image whose own mode changed is a change even when it holds only placeholders.
  await unlink(`${rootfs}/etc/added`);
  await writeFile(`${rootfs}/etc/hostname`, '');
  assert.deepEqual(await snap.changes('ph', { placeholders }), []);
  await chmod(`${rootfs}/etc`, 0o700);
  assert.deepEqual(await snap.changes('ph', { placeholders }), [{ Path: '/etc', Kind: 0 }]);
  await snap.unmount(rootfs);
});

void test('an image with no layers: the writable layer is bind-mounted', async (t) => {
  const { snap, target } = await env(t);
  const m = await snap.prepare('scratch', null);
  assert.deepEqual(m.lowerDirs, []);
  const rootfs = await target();
  await snap.mount('scratch', rootfs);
  await writeFile(`${rootfs}/hello`, 'hi');
  await snap.unmount(rootfs);
  const entries = await entriesOf(await bytes(snap.diff('scratch')));
  assert.deepEqual(entries.map((e) => e.name), ['hello']);
  assert.deepEqual(await snap.changes('scratch'), [{ Path: '/hello', Kind: 1 }]);
  assert.equal(await snap.activeUsage('scratch'), 2);
});

void test('writable layers: conflicts, notFound, removal', async (t) => {
  const { root, snap, target } = await env(t);
  const l1 = await snap.applyLayer(null, Readable.from([await tarOf(BASE)]));
  const l2 = await snap.applyLayer(l1.chainId, Readable.from([await tarOf(SECOND)]));
  await snap.prepare('k1', l2.chainId);
  await assert.rejects(snap.prepare('k1', l2.chainId), kind('conflict', /already exists/));
  await assert.rejects(snap.prepare('k2', sha256(Buffer.from('no such chain'))), kind('notFound', /snapshot sha256:\w+ not found/));
  await assert.rejects(snap.prepare('../evil', null), kind('invalid'));
  await assert.rejects(snap.mounts('nope'), kind('notFound', /writable layer nope not found/));
  await assert.rejects(bytes(snap.diff('nope')), kind('notFound'));

  await assert.rejects(snap.remove(l1.chainId), kind('conflict', /parent of snapshot/));
  await assert.rejects(snap.remove(l2.chainId), kind('conflict', /used by writable layer k1/));

  const rootfs = await target();
  await snap.mount('k1', rootfs);
  await writeFile(`${rootfs}/data`, '12345');
  assert.equal(await snap.activeUsage('k1'), 5);
  await assert.rejects(snap.removeActive('k1'), kind('conflict', /mounted/));
  await snap.unmount(rootfs);
  await snap.unmount(rootfs); // unmounting twice is fine
  await snap.removeActive('k1');
  await assert.rejects(snap.removeActive('k1'), kind('notFound'));
  await snap.remove(l2.chainId);
  await snap.remove(l1.chainId);
  await assert.rejects(snap.remove(l1.chainId), kind('notFound'));
  assert.deepEqual(await snap.list(), []);
  assert.deepEqual(await listAll(`${root}/snapshots`), ['/active', '/l', '/tmp']);
});

void test('the root of a writable layer takes the mode and owner of the image root', async (t) => {
  const { snap, target } = await env(t);
  const l1 = await snap.applyLayer(null, Readable.from([await tarOf([{ name: './', type: 'directory', mode: 0o700, uid: 5, gid: 6 }, ...BASE])]));
  await snap.prepare('r', l1.chainId);
  const rootfs = await target();
  await snap.mount('r', rootfs);
  const st = await stat(rootfs);
  assert.equal(st.mode & 0o7777, 0o700);
  assert.equal(st.uid, 5);
  assert.equal(st.gid, 6);
});

void test('many layers mount through short links, and past a page through mount(8)', async (t) => {
  const { snap, target } = await env(t);
  let parent: string | null = null;
  const counts = [60, 150];
  let applied = 0;
  for (const count of counts) {
    for (; applied < count; applied++) {
      const tar = await tarOf([{ name: `layer${applied}`, data: String(applied) }]);
      parent = (await snap.applyLayer(parent, Readable.from([tar]))).chainId;
    }
    const key = `many${count}`;
    await snap.prepare(key, parent);
    const rootfs = await target();
    await snap.mount(key, rootfs);
    const mountinfo = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.includes(` ${rootfs} `)) ?? '';
    // 60 full paths overflow the page; 60 short absolute links fit; 150 need relative ones.
    assert.match(mountinfo, count === 60 ? /lowerdir=\/[^,:]+\/snapshots\/l\/[a-f0-9]{16}:/ : /lowerdir=l\/[a-f0-9]{16}:/);
    const names = await readdir(rootfs);
    assert.equal(names.length, count);
    assert.equal(await readFile(`${rootfs}/layer0`, 'utf8'), '0');
    assert.equal(await readFile(`${rootfs}/layer${count - 1}`, 'utf8'), String(count - 1));
    await writeFile(`${rootfs}/top`, 'top');
    await snap.unmount(rootfs);
    assert.deepEqual(await snap.changes(key), [{ Path: '/top', Kind: 1 }]);
  }
});

void test('xattrs and opaque dirs of a layer are what overlayfs reads', async (t) => {
  const { snap, target } = await env(t);
  const l1 = await snap.applyLayer(null, Readable.from([await tarOf(BASE)]));
  const l2 = await snap.applyLayer(
    l1.chainId,
    Readable.from([
      await tarOf([
        { name: 'var/cache/.wh..wh..opq', data: '' },
        { name: 'var/cache/z', data: 'z', pax: { 'SCHILY.xattr.user.origin': 'layer2' } },
      ]),
    ]),
  );
  await snap.prepare('x', l2.chainId);
  const rootfs = await target();
  await snap.mount('x', rootfs);
  assert.deepEqual(await readdir(`${rootfs}/var/cache`), ['z']);
  assert.equal(lgetxattr(`${rootfs}/var/cache/z`, 'user.origin')?.toString(), 'layer2');
  lsetxattr(`${rootfs}/var/cache/z`, 'user.origin', Buffer.from('container'));
  await snap.unmount(rootfs);
  const diff = await bytes(snap.diff('x'));
  assert.ok(diff.includes(Buffer.from('SCHILY.xattr.user.origin=container')));
  assert.ok(!diff.includes(Buffer.from('trusted.overlay')), 'overlay bookkeeping stays out of layers');
});

void test('prepare and mount are fast', async (t) => {
  const { snap, target } = await env(t);
  let parent: string | null = null;
  for (let i = 0; i < 5; i++) {
    parent = (await snap.applyLayer(parent, Readable.from([await tarOf([{ name: `f${i}`, data: 'x' }])]))).chainId;
  }
  const rootfs = await target();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await snap.prepare(`fast${i}`, parent);
    await snap.mount(`fast${i}`, rootfs);
    times.push(performance.now() - t0);
    await snap.unmount(rootfs);
  }
  times.sort((a, b) => a - b);
  t.diagnostic(`prepare + mount, median of 5: ${times[2]!.toFixed(2)} ms`);
  assert.ok(times[2]! < 150, `prepare + mount took ${times[2]!.toFixed(1)} ms`);
});

// ---- layers unpacked before their parent is committed (applyLayer's parentReady) ----
