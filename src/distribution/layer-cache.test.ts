import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzip, harness, streamOf, tarOf, type Harness } from '../images/test-helpers.js';
import { MediaType } from '../images/types.js';
import { LayerCache } from './layer-cache.js';

/**
 * An image of one layer holding `file`, tagged `name`, and the compressed blob a push would
 * have made for it; pushed to `registry.example/<name>` unless `pushed` is false.
 */
async function imageWithCompressedLayer(h: Harness, cache: LayerCache, name: string, file: string, pushed = true): Promise<{ id: string; diffId: string; blob: string }> {
  const tar = await tarOf([{ name: file, data: `${file}\n`.repeat(1000) }]);
  const image = await h.svc.importImage(streamOf(tar), { repo: name, tag: '1', message: name });
  const blob = await h.content.put(gzip(tar));
  const diffId = image.diffIds[0]!;
  await cache.rememberCompressed(diffId, { mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size });
  if (pushed) await cache.rememberRepo(blob.digest, `registry.example/${name}`);
  return { id: image.id, diffId, blob: blob.digest };
}

void test('compressed blobs made for a push go once no image has their layer, and not before', async (t) => {
  const h = await harness(t);
  const cache = new LayerCache(h.root);
  await cache.init();
  const deps = { images: h.svc, content: h.content };
  const a = await imageWithCompressedLayer(h, cache, 'a', 'same');
  const b = await imageWithCompressedLayer(h, cache, 'b', 'other');
  const c = await imageWithCompressedLayer(h, cache, 'c', 'third', false);
  // Another image with a's layer (another config: another message).
  const twin = await h.svc.importImage(streamOf(await tarOf([{ name: 'same', data: 'same\n'.repeat(1000) }])), { repo: 'twin', tag: '1', message: 'twin' });
  assert.notEqual(twin.id, a.id);
  assert.deepEqual(twin.diffIds, [a.diffId]);

  // Nothing deleted: nothing goes.
  await cache.collect(deps);
  for (const x of [a, b, c]) assert.ok(await h.content.has(x.blob));

  // a deleted, but twin still has the layer: its compressed blob stays.
  await h.svc.delete('a:1');
  await cache.collect(deps);
  assert.ok(await h.content.has(a.blob));
  assert.equal(cache.compressedOf(a.diffId)?.digest, a.blob);

  // The last image with the layer deleted: the blob goes. Its digest stays as a hint, with the
  // repository that holds it, for a later push of the same layer.
  await h.svc.delete('twin:1');
  await h.svc.delete('c:1');
  await cache.collect(deps);
  assert.equal(await h.content.has(a.blob), false);
  assert.equal(cache.compressedOf(a.diffId)?.digest, a.blob);
  assert.deepEqual(cache.reposOf(a.blob), ['registry.example/a']);
  // c was never pushed anywhere: nothing of it is kept.
  assert.equal(await h.content.has(c.blob), false);
  assert.equal(cache.compressedOf(c.diffId), undefined);
  // b is untouched.
  assert.ok(await h.content.has(b.blob));
  assert.deepEqual(cache.reposOf(b.blob), ['registry.example/b']);

  // So is it on disk, for a restarted daemon.
  const reread = new LayerCache(h.root);
  await reread.init();
  assert.equal(reread.compressedOf(a.diffId)?.digest, a.blob);
  assert.equal(reread.compressedOf(c.diffId), undefined);
  assert.equal(reread.compressedOf(b.diffId)?.digest, b.blob);
});

void test('a leased compressed blob (a push uploading it) outlives its image until the lease is released', async (t) => {
  const h = await harness(t);
  const cache = new LayerCache(h.root);
  await cache.init();
  const deps = { images: h.svc, content: h.content };
  const b = await imageWithCompressedLayer(h, cache, 'b', 'other', false);
  const lease = h.svc.lease();
  lease.addBlob(b.blob);
  await h.svc.delete('b:1');
  await cache.collect(deps);
  assert.ok(await h.content.has(b.blob));
  assert.equal(cache.compressedOf(b.diffId)?.digest, b.blob, 'still remembered, to be collected later');
  lease.release();
  await cache.collect(deps);
  assert.equal(await h.content.has(b.blob), false);
  assert.equal(cache.compressedOf(b.diffId), undefined);
});

void test('collections asked for at once run one after the other and all settle', async (t) => {
  const h = await harness(t);
  const cache = new LayerCache(h.root);
  await cache.init();
  const deps = { images: h.svc, content: h.content };
  const made = [];
  for (const name of ['a', 'b', 'c']) made.push(await imageWithCompressedLayer(h, cache, name, name, false));
  const runs: Array<Promise<void>> = [];
  for (const name of ['a', 'b', 'c']) {
    await h.svc.delete(`${name}:1`);
    runs.push(cache.collect(deps));
  }
  await Promise.all(runs);
  for (const m of made) {
    assert.equal(await h.content.has(m.blob), false);
    assert.equal(cache.compressedOf(m.diffId), undefined);
  }
});
