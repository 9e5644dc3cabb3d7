import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { extract } from 'tar-stream';
import { packTree, type PackOptions } from './pack.js';
import { closeLocation, RootDir } from './root-dir.js';
import { unpack } from './unpack.js';
import { treeOf } from '../snapshots/test-helpers.js';

let base: string;
let rootPath: string;
let root: RootDir;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'pack-'));
  rootPath = join(base, 'root');
  mkdirSync(join(rootPath, 'app', 'sub'), { recursive: true });
  writeFileSync(join(rootPath, 'app', 'b.txt'), 'bee');
  writeFileSync(join(rootPath, 'app', 'a.txt'), 'a'.repeat(70_000));
  chownSync(join(rootPath, 'app', 'a.txt'), 1000, 2000);
  chmodSync(join(rootPath, 'app', 'a.txt'), 0o4750);
  utimesSync(join(rootPath, 'app', 'a.txt'), 1_600_000_000.7, 1_600_000_000.7);
  linkSync(join(rootPath, 'app', 'b.txt'), join(rootPath, 'app', 'sub', 'hard'));
  symlinkSync('../a.txt', join(rootPath, 'app', 'sub', 'link'));
  root = RootDir.open(rootPath);
});

afterEach(() => {
  root.close();
  rmSync(base, { recursive: true, force: true });
});

interface Seen {
  name: string;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string | null;
  data?: string;
}

async function entriesOf(path: string, opts: PackOptions, locate: Parameters<RootDir['locate']>[1] = {}): Promise<Seen[]> {
  const loc = root.locate(path, locate);
  try {
    const ex = extract();
    const out: Seen[] = [];
    const reading = (async () => {
      for await (const e of ex) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        const h = e.header;
        out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime ? h.mtime.getTime() / 1000 : undefined, linkname: h.linkname, data: Buffer.concat(chunks).toString() });
      }
    })();
    packTree(loc, opts).pipe(ex);
    await reading;
    return out;
  } finally {
    closeLocation(loc);
  }
}

describe('packTree', () => {
  test('a folder: named by its top, children in lexical order, parents first', async () => {
    const seen = await entriesOf('/app', { top: 'app' });
    assert.deepEqual(seen.map((e) => `${e.type} ${e.name}`), [
      'directory app/',
      'file app/a.txt',
      'file app/b.txt',
      'directory app/sub/',
      'link app/sub/hard',
      'symlink app/sub/link',
    ]);
    const a = seen.find((e) => e.name === 'app/a.txt')!;
    assert.deepEqual([a.mode, a.uid, a.gid, a.size, a.mtime, a.data?.length], [0o4750, 1000, 2000, 70_000, 1_600_000_000, 70_000]);
    assert.equal(seen.find((e) => e.name === 'app/sub/hard')!.linkname, 'app/b.txt');
    assert.equal(seen.find((e) => e.name === 'app/sub/link')!.linkname, '../a.txt');
  });

  test('top "." (a path ending in /.), "" (the root) and null (export)', async () => {
    assert.deepEqual((await entriesOf('/app/sub', { top: '.' })).map((e) => e.name), ['./', './hard', './link']);
    const rootEntries = (await entriesOf('/', { top: '' })).map((e) => e.name);
    assert.deepEqual(rootEntries.slice(0, 3), ['/', '/app/', '/app/a.txt']);
    const exported = (await entriesOf('/', { top: null })).map((e) => e.name);
    assert.deepEqual(exported.slice(0, 2), ['app/', 'app/a.txt']);
  });

  test('a file, and a symlink as the top: the link itself, unless followed', async () => {
    assert.deepEqual((await entriesOf('/app/b.txt', { top: 'b.txt' })).map((e) => [e.type, e.name, e.data]), [['file', 'b.txt', 'bee']]);
    assert.deepEqual((await entriesOf('/app/sub/link', { top: 'link' })).map((e) => [e.type, e.linkname]), [['symlink', '../a.txt']]);
    const followed = await entriesOf('/app/sub/link', { top: 'link' }, { follow: true });
    assert.deepEqual(followed.map((e) => [e.type, e.name, e.size]), [['file', 'link', 70_000]]);
  });

  test('a symlink pointing out of the root is packed as a link, never followed', async () => {
    symlinkSync('/etc/passwd', join(rootPath, 'app', 'host'));
    const seen = await entriesOf('/app', { top: 'app' });
    assert.deepEqual(seen.filter((e) => e.name === 'app/host').map((e) => [e.type, e.linkname, e.data]), [['symlink', '/etc/passwd', '']]);
  });

  test('what it packs, unpack gives back the same', async () => {
    const loc = root.locate('/app');
    const copyPath = join(base, 'copy');
    mkdirSync(copyPath);
    const copy = RootDir.open(copyPath);
    try {
      await unpack(Readable.from(packTree(loc, { top: 'app' })), copy, []);
    } finally {
      closeLocation(loc);
      copy.close();
    }
    assert.deepEqual(await treeOf(copyPath, { mtimes: true }), await treeOf(join(rootPath), { mtimes: true }));
  });
});
