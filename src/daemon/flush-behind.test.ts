import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { docker25Archive, harness, sha256, tarOf } from '../images/test-helpers.js';
import { chainIds } from '../snapshots/chain.js';
import { currentBootId, FlushBehind, repairPull, type FlushTargets } from './flush-behind.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pflush-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Targets that record what was flushed; `fail` makes the next syncs throw. */
function recorder(): FlushTargets & { synced: string[]; fail: boolean } {
  const r = {
    synced: [] as string[],
    fail: false,
    syncBlob(d: string): Promise<void> {
      if (r.fail) return Promise.reject(new Error('EIO'));
      r.synced.push(d);
      return Promise.resolve();
    },
    syncSnapshot(c: string): Promise<void> {
      if (r.fail) return Promise.reject(new Error('EIO'));
      r.synced.push(c);
      return Promise.resolve();
    },
  };
  return r;
}

async function journal(file: string): Promise<{ bootId: string; blobs: string[]; chains: string[] } | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { bootId: string; blobs: string[]; chains: string[] };
  } catch {
    return undefined;
  }
}

describe('FlushBehind', () => {
  test('a hold is on the disk before it returns, and gone once flushed', async (t) => {
    const file = join(await tempDir(t), 'unflushed.json');
    const targets = recorder();
    const fb = new FlushBehind(file, targets, 'boot-1');
    const flush = await fb.hold({ blobs: ['sha256:b1'], chains: ['sha256:c1'] });
    assert.deepEqual(await journal(file), { bootId: 'boot-1', blobs: ['sha256:b1'], chains: ['sha256:c1'] });
    assert.deepEqual(targets.synced, []);
    flush();
    flush(); // a second call does nothing
    await fb.idle();
    assert.deepEqual(targets.synced, ['sha256:b1', 'sha256:c1']);
    assert.equal(await journal(file), undefined);
  });

  test('the journal keeps what other pulls still hold', async (t) => {
    const file = join(await tempDir(t), 'unflushed.json');
    const fb = new FlushBehind(file, recorder(), 'boot-1');
    const first = await fb.hold({ blobs: ['sha256:b1'], chains: ['sha256:c1'] });
    const second = await fb.hold({ blobs: ['sha256:b2', 'sha256:b1'], chains: [] });
    assert.deepEqual(await journal(file), { bootId: 'boot-1', blobs: ['sha256:b1', 'sha256:b2'], chains: ['sha256:c1'] });
    first();
    await fb.idle();
    assert.deepEqual(await journal(file), { bootId: 'boot-1', blobs: ['sha256:b2', 'sha256:b1'], chains: [] });
    second();
    await fb.idle();
    assert.equal(await journal(file), undefined);
  });

  test('a flush that fails stays in the journal for the next start', async (t) => {
    const file = join(await tempDir(t), 'unflushed.json');
    const targets = recorder();
    const fb = new FlushBehind(file, targets, 'boot-1');
    const flush = await fb.hold({ blobs: ['sha256:b1'], chains: [] });
    targets.fail = true;
    flush();
    await fb.idle();
    assert.deepEqual((await journal(file))?.blobs, ['sha256:b1']);
  });

  test('at start: the same boot only flushes, an earlier boot repairs first', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'unflushed.json');
    const items = { blobs: ['sha256:b1'], chains: ['sha256:c1'] };

    await writeFile(file, JSON.stringify({ bootId: 'boot-1', ...items }));
    const same = recorder();
    const repaired: Array<{ blobs: readonly string[]; chains: readonly string[] }> = [];
    await new FlushBehind(file, same, 'boot-1').recover((i) => {
      repaired.push(i);
      return Promise.resolve();
    });
    assert.equal(repaired.length, 0);
    assert.deepEqual(same.synced, ['sha256:b1', 'sha256:c1']);
    assert.equal(await journal(file), undefined);

    await writeFile(file, JSON.stringify({ bootId: 'boot-0', ...items }));
    const other = recorder();
    await new FlushBehind(file, other, 'boot-1').recover((i) => {
      repaired.push(i);
      return Promise.resolve();
    });
    assert.deepEqual(repaired, [items]);
    assert.equal(await journal(file), undefined);

    // A repair that fails leaves the journal for the next start; nothing there, nothing to do.
    await writeFile(file, JSON.stringify({ bootId: 'boot-0', ...items }));
    await assert.rejects(new FlushBehind(file, recorder(), 'boot-1').recover(() => Promise.reject(new Error('disk gone'))), /disk gone/);
    assert.deepEqual((await journal(file))?.blobs, ['sha256:b1']);
    await rm(file);
    await new FlushBehind(file, recorder(), 'boot-1').recover(() => assert.fail('nothing to repair'));
  });

  test('an unreadable journal is dropped at start, nothing repaired', async (t) => {
    const file = join(await tempDir(t), 'unflushed.json');
    await writeFile(file, '{"bootId": ');
    const targets = recorder();
    await new FlushBehind(file, targets, 'boot-1').recover(() => assert.fail('nothing to repair'));
    assert.deepEqual(targets.synced, []);
    assert.equal(await journal(file), undefined);
  });

  test("this boot's ID is the kernel's", () => {
    assert.match(currentBootId(), /^[0-9a-f-]{36}$/);
  });
});

describe('repairPull', () => {
  /** An image of two uncompressed layers loaded into a fresh store: its blobs and chains. */
  async function twoLayers(t: TestContext) {
    const h = await harness(t);
    const l1 = await tarOf([{ name: 'base', data: 'base layer\n' }]);
    const l2 = await tarOf([{ name: 'hello', data: 'hello from the top layer\n' }]);
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(l1), sha256(l2)] } };
    await h.svc.load(Readable.from(await docker25Archive([{ config, layers: [l1, l2], tags: ['app:1'] }])));
    const chains = chainIds([sha256(l1), sha256(l2)]);
    const file = (chain: string, name: string): string => join(h.root, 'snapshots', chain.slice(7), 'fs', name);
    return { h, blobs: [sha256(l1), sha256(l2)], chains, file };
  }

  test('layers that lost data are unpacked again from their blobs', async (t) => {
    const { h, blobs, chains, file } = await twoLayers(t);
    await writeFile(file(chains[1]!, 'hello'), ''); // what a power cut leaves of a file
    await repairPull({ blobs, chains }, { images: h.svc, content: h.content, snapshots: h.snapshots });
    assert.equal(await readFile(file(chains[1]!, 'hello'), 'utf8'), 'hello from the top layer\n');
    assert.equal(await readFile(file(chains[0]!, 'base'), 'utf8'), 'base layer\n');
    assert.deepEqual((await h.svc.resolve('app:1')).repoTags, ['app:1']);
  });

  test('a blob that lost data is removed, and its layer waits for a pull', async (t) => {
    const { h, blobs, chains, file } = await twoLayers(t);
    const blobPath = join(h.root, 'content', 'blobs', 'sha256', blobs[1]!.slice(7));
    await rm(blobPath, { force: true });
    await writeFile(blobPath, 'cut short');
    await repairPull({ blobs: [blobs[1]!], chains: [chains[1]!] }, { images: h.svc, content: h.content, snapshots: h.snapshots });
    assert.equal(await h.content.has(blobs[1]!), false);
    assert.equal(await h.snapshots.has(chains[1]!), false);
    // What was not listed is left alone.
    assert.equal(await h.content.has(blobs[0]!), true);
    assert.equal(await readFile(file(chains[0]!, 'base'), 'utf8'), 'base layer\n');
  });
});
