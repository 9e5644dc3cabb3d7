import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { EngineError } from '../errors.js';
import { diffTar } from './diff.js';
import { extractLayer } from './extract.js';
import { devNumbers, lgetxattr, lsetxattr, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/libc.js';
import { listAll, sha256, tarOf, treeOf } from './test-helpers.js';

async function tmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp('/tmp/pex-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder to extract into, and a sentinel folder beside it that no layer may touch. */
async function dirs(t: TestContext): Promise<{ dest: string; sentinel: string }> {
  const base = await tmp(t);
  const dest = `${base}/dest`;
  const sentinel = `${base}/sentinel`;
  await mkdir(dest);
  await mkdir(sentinel);
  await writeFile(`${sentinel}/secret`, 'untouched');
  return { dest, sentinel };
}

function isInvalid(message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, 'invalid', err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

async function assertSentinelUntouched(sentinel: string): Promise<void> {
  assert.deepEqual(await listAll(sentinel), ['/secret']);
  assert.equal(await readFile(`${sentinel}/secret`, 'utf8'), 'untouched');
  assert.equal((await lstat(`${sentinel}/secret`)).nlink, 1);
}

void test('extracts every kind of entry with its metadata, and the DiffID is the sha256 of the tar', async (t) => {
  const { dest } = await dirs(t);
  const tar = await tarOf([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/hostname', data: 'box\n', mode: 0o644, uid: 1000, gid: 1001, mtime: new Date(1_600_000_000_000) },
    { name: 'bin/', type: 'directory', mode: 0o750, uid: 2, gid: 3 },
    { name: 'bin/su', data: '#!/bin/sh\n', mode: 0o4755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/busybox', data: 'ELF', mode: 0o755 },
    { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'x', data: 'attrs', mode: 0o600, pax: { 'SCHILY.xattr.user.color': 'blue' } },
  ]);
  const res = await extractLayer(Readable.from([tar]), dest);
  assert.equal(res.diffId, sha256(tar));
  assert.equal(res.size, tar.length);

  const tree = await treeOf(dest, { mtimes: true });
  assert.deepEqual(tree['/etc/hostname'], { type: 'file', mode: 0o644, uid: 1000, gid: 1001, mtime: 1_600_000_000, content: sha256(Buffer.from('box\n')).slice(7, 19) });
  assert.equal(tree['/bin']?.mode, 0o750);
  assert.equal(tree['/bin']?.uid, 2);
  assert.equal(tree['/bin/su']?.mode, 0o4755);
  assert.equal(tree['/bin/sh']?.target, 'busybox');
  assert.equal(tree['/dev/null']?.type, 'char');
  assert.equal(tree['/dev/null']?.dev, '1:3');
  assert.equal(tree['/dev/null']?.mode, 0o666);
  assert.equal(tree['/dev/sda']?.type, 'block');
  assert.equal(tree['/dev/sda']?.dev, '8:0');
  assert.equal(tree['/run/fifo']?.type, 'fifo');
  assert.equal(tree['/run']?.mode, 0o755, 'implied parents are 0755');
  assert.equal(tree['/tmp']?.mode, 0o1777);
  assert.deepEqual(tree['/x']?.xattrs, { 'user.color': Buffer.from('blue').toString('hex') });
  const ls = await lstat(`${dest}/bin/ls`);
  assert.equal(ls.ino, (await lstat(`${dest}/bin/busybox`)).ino, 'a hard link shares the inode');
  assert.equal(ls.nlink, 2);
  // Directory mtimes are set after their content.
  assert.equal(Math.floor((await lstat(`${dest}/etc`)).mtimeMs / 1000), 1_700_000_000);
});

void test('whiteouts become overlay whiteouts and opaque markers', async (t) => {
  const { dest } = await dirs(t);
  const tar = await tarOf([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/.wh.motd', data: '' },
    { name: 'var/cache/.wh..wh..opq', data: '' },
    { name: 'var/cache/new', data: 'n' },
    { name: '.wh..wh.plnk', data: '' },
  ]);
  await extractLayer(Readable.from([tar]), dest);
  const wh = await lstat(`${dest}/etc/motd`);
  assert.ok(wh.isCharacterDevice());
  assert.deepEqual(devNumbers(wh.rdev), { major: 0, minor: 0 });
  assert.equal(lgetxattr(`${dest}/var/cache`, 'trusted.overlay.opaque')?.toString(), 'y');
  assert.equal(await readFile(`${dest}/var/cache/new`, 'utf8'), 'n');
  assert.deepEqual(await listAll(dest), ['/etc', '/etc/motd', '/var', '/var/cache', '/var/cache/new']);
});

void test('a whiteout of a path the same layer created keeps it; a dir over a whiteout is opaque', async (t) => {
  const { dest } = await dirs(t);
  const tar = await tarOf([
    { name: 'a/', type: 'directory' },
    { name: 'a/f', data: 'kept' },
    { name: '.wh.a', data: '' },
    { name: '.wh.b', data: '' },
    { name: 'b/', type: 'directory' },
  ]);
  await extractLayer(Readable.from([tar]), dest);
  assert.equal(await readFile(`${dest}/a/f`, 'utf8'), 'kept');
  assert.equal(lgetxattr(`${dest}/a`, 'trusted.overlay.opaque')?.toString(), 'y');
  assert.ok((await lstat(`${dest}/b`)).isDirectory());
  assert.equal(lgetxattr(`${dest}/b`, 'trusted.overlay.opaque')?.toString(), 'y');
});

void test('names that climb out of the layer are refused and write nothing', async (t) => {
  for (const name of ['../escape', 'a/../../escape', './../../x']) {
    const { dest, sentinel } = await dirs(t);
    const tar = await tarOf([
      { name: 'ok', data: 'fine' },
      { name, data: 'pwned' },
    ]);
    await assert.rejects(extractLayer(Readable.from([tar]), dest), isInvalid(/points outside the layer/), name);
    await assertSentinelUntouched(sentinel);
    assert.deepEqual((await listAll(`${dest}/..`)).filter((p) => !p.startsWith('/dest') && !p.startsWith('/sentinel')), []);
  }
});

void test('absolute names and a/../b are contained in the layer', async (t) => {
  const { dest, sentinel } = await dirs(t);
  const tar = await tarOf([
    { name: `${sentinel}/secret`, data: 'inside' },
    { name: '/abs', data: 'abs' },
    { name: 'a/../b', data: 'b' },
  ]);
  await extractLayer(Readable.from([tar]), dest);
  await assertSentinelUntouched(sentinel);
  assert.equal(await readFile(`${dest}${sentinel}/secret`, 'utf8'), 'inside');
  assert.equal(await readFile(`${dest}/abs`, 'utf8'), 'abs');
  assert.equal(await readFile(`${dest}/b`, 'utf8'), 'b');
});

void test('symlinked parents resolve inside the layer (chroot semantics), never outside', async (t) => {
  const { dest, sentinel } = await dirs(t);
  const tar = await tarOf([
    // an absolute symlink to the sentinel, then a file under it
    { name: 'a', type: 'symlink', linkname: sentinel },
    { name: 'a/secret', data: 'pwned-a' },
    // a chain: b -> c, c -> ../../../../..<sentinel>
    { name: 'b', type: 'symlink', linkname: 'c' },
    { name: 'c', type: 'symlink', linkname: `../../../../..${sentinel}` },
    { name: 'b/new', data: 'pwned-b' },
    // a relative symlink climbing out
    { name: 'd', type: 'symlink', linkname: '../sentinel' },
    { name: 'd/secret', data: 'pwned-d' },
    // a directory entry over a symlink replaces the symlink
    { name: 'e', type: 'symlink', linkname: sentinel },
    { name: 'e/', type: 'directory' },
    { name: 'e/secret', data: 'pwned-e' },
    // a file over a symlink replaces the symlink, not its target
    { name: 'f', type: 'symlink', linkname: `${sentinel}/secret` },
    { name: 'f', data: 'pwned-f' },
  ]);
  await extractLayer(Readable.from([tar]), dest);
  await assertSentinelUntouched(sentinel);
  assert.equal(await readFile(`${dest}${sentinel}/secret`, 'utf8'), 'pwned-a');
  assert.equal(await readFile(`${dest}${sentinel}/new`, 'utf8'), 'pwned-b');
  assert.equal(await readFile(`${dest}/sentinel/secret`, 'utf8'), 'pwned-d');
  assert.equal(await readFile(`${dest}/e/secret`, 'utf8'), 'pwned-e');
  assert.equal(await readFile(`${dest}/f`, 'utf8'), 'pwned-f');
  assert.equal(await readlink(`${dest}/a`), sentinel, 'the symlinks themselves stay as the layer has them');
});

void test('a symlink loop is invalid', async (t) => {
  const { dest, sentinel } = await dirs(t);
  const tar = await tarOf([
    { name: 'l1', type: 'symlink', linkname: 'l2' },
    { name: 'l2', type: 'symlink', linkname: 'l1' },
    { name: 'l1/x', data: 'x' },
  ]);
  await assert.rejects(extractLayer(Readable.from([tar]), dest), isInvalid(/too many levels of symbolic links/));
  await assertSentinelUntouched(sentinel);
});

void test('hard links out of the layer are refused or contained', async (t) => {
  {
    const { dest, sentinel } = await dirs(t);
    const tar = await tarOf([{ name: 'h', type: 'link', linkname: '../sentinel/secret' }]);
    await assert.rejects(extractLayer(Readable.from([tar]), dest), isInvalid(/hard link target of "..\/sentinel\/secret" points outside/));
    await assertSentinelUntouched(sentinel);
  }
  {
    // through a symlinked parent: resolves inside the layer, where there is no such file
    const { dest, sentinel } = await dirs(t);
    const tar = await tarOf([
      { name: 'a', type: 'symlink', linkname: sentinel },
      { name: 'h', type: 'link', linkname: 'a/secret' },
    ]);
    await assert.rejects(extractLayer(Readable.from([tar]), dest), isInvalid(/hard link "h" to missing "a\/secret"/));
    await assertSentinelUntouched(sentinel);
  }
  {
    // an absolute target names the layer's own file
    const { dest, sentinel } = await dirs(t);
    const tar = await tarOf([
      { name: 'sentinel/secret', data: 'mine' },
      { name: 'h', type: 'link', linkname: '/sentinel/secret' },
    ]);
    await extractLayer(Readable.from([tar]), dest);
    await assertSentinelUntouched(sentinel);
    assert.equal((await lstat(`${dest}/h`)).ino, (await lstat(`${dest}/sentinel/secret`)).ino);
  }
  {
    // a hard link to a symlink that points out is only another symlink
    const { dest, sentinel } = await dirs(t);
    const tar = await tarOf([
      { name: 's', type: 'symlink', linkname: `${sentinel}/secret` },
      { name: 'h', type: 'link', linkname: 's' },
      { name: 'h', data: 'overwrite' },
    ]);
    await extractLayer(Readable.from([tar]), dest);
    await assertSentinelUntouched(sentinel);
    assert.equal(await readlink(`${dest}/s`), `${sentinel}/secret`);
    assert.equal(await readFile(`${dest}/h`, 'utf8'), 'overwrite');
  }
});

void test('a hard link to a file of a lower layer becomes a copy of it', async (t) => {
  const base = await tmp(t);
  await mkdir(`${base}/lower/usr/bin`, { recursive: true });
  await mkdir(`${base}/dest`);
  await writeFile(`${base}/lower/usr/bin/tool`, 'lower tool', { mode: 0o751 });
  lsetxattr(`${base}/lower/usr/bin/tool`, 'user.k', Buffer.from('v'));
  const tar = await tarOf([{ name: 'usr/bin/tool2', type: 'link', linkname: 'usr/bin/tool' }]);
  await extractLayer(Readable.from([tar]), `${base}/dest`, [`${base}/lower`]);
  assert.equal(await readFile(`${base}/dest/usr/bin/tool2`, 'utf8'), 'lower tool');
  const st = await lstat(`${base}/dest/usr/bin/tool2`);
  assert.equal(st.mode & 0o7777, 0o751);
  assert.equal(lgetxattr(`${base}/dest/usr/bin/tool2`, 'user.k')?.toString(), 'v');
  assert.equal(st.nlink, 1);
  assert.equal((await lstat(`${base}/lower/usr/bin/tool`)).nlink, 1, 'the lower layer is not touched');
});

void test('a truncated or corrupt tar is invalid', async (t) => {
  const tar = await tarOf([
    { name: 'a', data: Buffer.alloc(5000, 1) },
    { name: 'b', data: 'bbb' },
  ]);
  {
    const { dest } = await dirs(t);
    await assert.rejects(extractLayer(Readable.from([tar.subarray(0, 2000)]), dest), isInvalid(/^layer tar: unexpected end of data$/));
  }
  {
    const { dest } = await dirs(t);
    const corrupt = Buffer.from(tar);
    corrupt[5632 + 10] = 0x41; // inside the header of b: its checksum no longer matches
    await assert.rejects(extractLayer(Readable.from([corrupt]), dest), isInvalid(/invalid tar header/));
  }
  {
    const { dest } = await dirs(t);
    await assert.rejects(extractLayer(Readable.from([Buffer.from('this is not a tar at all, just text'.repeat(20))]), dest), isInvalid());
  }
});

void test('an error of the source stream reaches the caller unchanged', async (t) => {
  const { dest } = await dirs(t);
  const tar = await tarOf([{ name: 'a', data: Buffer.alloc(100_000, 1) }]);
  let sent = false;
  const src = new Readable({
    read() {
      if (!sent) this.push(tar.subarray(0, 20_000));
      else this.destroy(new Error('registry connection reset'));
      sent = true;
    },
  });
  await assert.rejects(extractLayer(src, dest), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'registry connection reset');
    return true;
  });
});

void test('devices, mode 0, big ids, long names, and binary xattrs survive diffTar then extract', async (t) => {
  const base = await tmp(t);
  const src = `${base}/src`;
  const longDir = 'd'.repeat(120);
  const longName = `${longDir}/${'n'.repeat(90)}-é`;
  await mkdir(`${src}/${longDir}`, { recursive: true });
  await writeFile(`${src}/${longName}`, 'long');
  const { chown, symlink } = await import('node:fs/promises');
  await chown(`${src}/${longName}`, 3_000_000, 70_000);
  await symlink('t'.repeat(150), `${src}/longlink`);
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0xff, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  await writeFile(`${src}/ping`, 'ping');
  lsetxattr(`${src}/ping`, 'security.capability', cap);
  lsetxattr(`${src}/ping`, 'user.text', Buffer.from('plain'));
  mknod(`${src}/tty`, S_IFCHR | 0o620, makedev(4, 300));
  mknod(`${src}/disk`, S_IFBLK | 0o600, makedev(259, 70_000));
  mknod(`${src}/pipe`, S_IFIFO | 0o644);
  await writeFile(`${src}/zero-mode`, '');
  await chmod(`${src}/zero-mode`, 0);
  const chunks: Buffer[] = [];
  for await (const c of diffTar(src)) chunks.push(c as Buffer);
  const tar = Buffer.concat(chunks);
  await mkdir(`${base}/out`);
  const res = await extractLayer(Readable.from([tar]), `${base}/out`);
  assert.equal(res.diffId, sha256(tar));
  assert.deepEqual(lgetxattr(`${base}/out/ping`, 'security.capability'), cap);
  assert.equal(lgetxattr(`${base}/out/ping`, 'user.text')?.toString(), 'plain');
  const st = await lstat(`${base}/out/${longName}`);
  assert.equal(st.uid, 3_000_000);
  assert.equal(st.gid, 70_000);
  assert.equal(await readlink(`${base}/out/longlink`), 't'.repeat(150));
  const tree = await treeOf(`${base}/out`, { mtimes: true });
  assert.equal(tree['/tty']?.dev, '4:300');
  assert.equal(tree['/disk']?.dev, '259:70000');
  assert.equal(tree['/pipe']?.type, 'fifo');
  assert.equal(tree['/zero-mode']?.mode, 0);
  assert.deepEqual(tree, await treeOf(src, { mtimes: true }));
});

void test('implied folders take the lower layers metadata; a folder replaced by a file keeps no stale times', async (t) => {
  const base = await tmp(t);
  await mkdir(`${base}/lower/opt`, { recursive: true });
  await chmod(`${base}/lower/opt`, 0o750);
  await lchown(`${base}/lower/opt`, 7, 8);
  await utimes(`${base}/lower/opt`, 1_400_000_000, 1_400_000_000);
  await mkdir(`${base}/dest`);
  const tar = await tarOf([
    { name: 'opt/app', data: 'app' },
    { name: 'd/e/', type: 'directory', mode: 0o700 },
    { name: 'd', data: 'now a file' },
  ]);
  await extractLayer(Readable.from([tar]), `${base}/dest`, [`${base}/lower`]);
  const st = await lstat(`${base}/dest/opt`);
  assert.deepEqual({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs }, { mode: 0o750, uid: 7, gid: 8, mtime: 1_400_000_000_000 });
  assert.equal(await readFile(`${base}/dest/d`, 'utf8'), 'now a file');
});

void test('symlinks keep owners and times; paths through them, entries over them and over folders holding them', async (t) => {
  const { dest } = await dirs(t);
  const applets = Array.from({ length: 100 }, (_, i) => `applet${i}`);
  const tar = await tarOf([
    { name: 'bin/', type: 'directory', mode: 0o755, mtime: new Date(1_500_000_000_000) },
    ...applets.map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox', uid: 7, gid: 8, mtime: new Date(1_400_000_000_000) })),
    { name: 'usr/lib/', type: 'directory', mode: 0o755 },
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'lib/libc.so', data: 'libc' }, // through the symlink just made
    { name: 'bin/applet3', data: 'a file over a symlink' },
    { name: 'bin/applet4', type: 'symlink', linkname: 'other' }, // a symlink over a symlink
    { name: 'bin/ln', type: 'link', linkname: 'bin/applet5' }, // a hard link to a symlink
    { name: 'old/', type: 'directory', mode: 0o755 },
    ...applets.slice(0, 40).map((a) => ({ name: `old/${a}`, type: 'symlink' as const, linkname: 'x' })),
    { name: 'old', data: 'a file over a folder of symlinks' },
    { name: 'sbin/', type: 'directory', mode: 0o755, mtime: new Date(1_300_000_000_000) },
    ...applets.slice(0, 40).map((a) => ({ name: `sbin/${a}`, type: 'symlink' as const, linkname: '../bin/busybox' })),
  ]);
  await extractLayer(Readable.from([tar]), dest);
  const tree = await treeOf(dest, { mtimes: true });
  for (const a of applets.filter((x) => x !== 'applet3' && x !== 'applet4')) {
    assert.deepEqual(
      { type: tree[`/bin/${a}`]?.type, target: tree[`/bin/${a}`]?.target, uid: tree[`/bin/${a}`]?.uid, gid: tree[`/bin/${a}`]?.gid, mtime: tree[`/bin/${a}`]?.mtime },
      { type: 'symlink', target: 'busybox', uid: 7, gid: 8, mtime: 1_400_000_000 },
      a,
    );
  }
  assert.equal(await readFile(`${dest}/usr/lib/libc.so`, 'utf8'), 'libc');
  assert.equal(await readFile(`${dest}/bin/applet3`, 'utf8'), 'a file over a symlink');
  assert.equal(await readlink(`${dest}/bin/applet4`), 'other');
  assert.equal(await readlink(`${dest}/bin/ln`), 'busybox');
  assert.equal(await readFile(`${dest}/old`, 'utf8'), 'a file over a folder of symlinks');
  assert.equal((await readdir(`${dest}/sbin`)).length, 40);
  // A folder's time is set after its content.
  assert.equal(Math.floor((await lstat(`${dest}/bin`)).mtimeMs / 1000), 1_500_000_000);
  assert.equal(Math.floor((await lstat(`${dest}/sbin`)).mtimeMs / 1000), 1_300_000_000);
});

void test('a symlink that cannot be made fails the layer with its name, once nothing writes any more', async (t) => {
  const { dest } = await dirs(t);
  const tar = await tarOf([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/ok', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/toolong', type: 'symlink', linkname: 'x'.repeat(5000) },
    ...Array.from({ length: 50 }, (_, i) => ({ name: `bin/after${i}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc/hostname', data: 'box\n' },
  ]);
  // What is there the moment the extraction fails.
  let atFailure: string[] = [];
  const extracting = extractLayer(Readable.from([tar]), dest).catch((err: unknown) => {
    atFailure = readdirSync(`${dest}/bin`).sort();
    throw err;
  });
  await assert.rejects(extracting, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /layer tar: bin\/toolong/);
    assert.match(err.message, /ENAMETOOLONG|name too long/i);
    return true;
  });
  // Nothing is made after the failure was told.
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual((await readdir(`${dest}/bin`)).sort(), atFailure);
  assert.ok(atFailure.includes('ok'));
});
