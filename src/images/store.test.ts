import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../errors.js';
import type { Image } from './images.js';
import { configFor, docker25Archive, gzip, harness, sha256, stateOf, streamOf, tarOf, type Harness } from './test-helpers.js';

function kindOf(kind: string, message?: RegExp | string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

const rootfs = (): Promise<Buffer> =>
  tarOf([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/hello', data: '#!/bin/sh\necho hello\n', mode: 0o755 },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', data: 'welcome\n' },
  ]);

async function importTagged(h: Harness, repo: string, tag: string, content = 'x'): Promise<Image> {
  const tar = await tarOf([{ name: 'file', data: content }]);
  return h.svc.importImage(streamOf(tar), { repo, tag });
}

void test('import: a gzip rootfs becomes a one-layer image, stored uncompressed and unpacked', async (t) => {
  const h = await harness(t);
  const tar = await rootfs();
  const image = await h.svc.importImage(streamOf(gzip(tar)), {
    repo: 'example/app',
    tag: 'v1',
    message: 'first import',
    changes: ['CMD ["/bin/hello"]', 'ENV GREETING=hi', 'EXPOSE 8080'],
  });
  assert.match(image.id, /^sha256:[a-f0-9]{64}$/);
  assert.deepEqual(image.repoTags, ['example/app:v1']);
  assert.deepEqual(image.diffIds, [sha256(tar)]);
  // The layer blob is the uncompressed tar, so save is exact.
  assert.equal(image.layers[0]!.digest, sha256(tar));
  assert.equal(image.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  assert.deepEqual(await h.content.read(image.layers[0]!.digest), tar);
  // The image ID is the digest of the config blob.
  assert.equal(sha256(await h.content.read(image.id)), image.id);
  const cfg = await h.svc.config(image);
  assert.deepEqual(cfg.config?.Cmd, ['/bin/hello']);
  assert.deepEqual(cfg.config?.Env, ['GREETING=hi']);
  assert.equal(cfg.comment, 'first import');
  assert.deepEqual(cfg.history?.map((x) => x.comment), ['first import']);
  // The files are in the snapshot.
  const top = h.svc.topChainId(image)!;
  assert.equal(await readFile(join(h.root, 'snapshots', top.slice(7), 'fs', 'etc', 'motd'), 'utf8'), 'welcome\n');
  assert.ok(image.size > 0);
  assert.deepEqual(
    h.events.map((e) => e.Action),
    ['import', 'tag'],
  );
  assert.equal(h.events[1]!.name, 'example/app:v1');
});

void test('import: a bad reference or change is refused before the body is read, storing nothing', async (t) => {
  const h = await harness(t);
  const before = await stateOf(h);
  const tar = await rootfs();
  await assert.rejects(h.svc.importImage(streamOf(tar), { repo: 'Bad/Name' }), kindOf('invalid', /must be lowercase/));
  await assert.rejects(h.svc.importImage(streamOf(tar), { changes: ['RUN rm -rf /'] }), kindOf('invalid', 'run is not a valid change command'));
  await assert.rejects(h.svc.importImage(streamOf(tar), { platform: 'windows/amd64' }), kindOf('invalid', /not supported/));
  await assert.rejects(h.svc.importImage(streamOf(Buffer.from('this is not a tar at all, just text'.repeat(40))), {}), kindOf('invalid', /tar/));
  await assert.rejects(h.svc.importImage(streamOf(randomBytes(3_000_000)), {}), kindOf('invalid', /layer tar/));
  assert.deepEqual(await stateOf(h), before);
});

void test('resolve follows Docker lookup order and names the missing image', async (t) => {
  const h = await harness(t);
  const image = await importTagged(h, 'busybox', 'latest');
  const hex = image.id.slice(7);
  for (const name of ['busybox', 'busybox:latest', 'docker.io/library/busybox', image.id, hex, hex.slice(0, 12), `sha256:${hex.slice(0, 6)}`]) {
    assert.equal((await h.svc.resolve(name)).id, image.id, name);
  }
  await assert.rejects(h.svc.resolve('alpine'), kindOf('notFound', 'No such image: alpine:latest'));
  await assert.rejects(h.svc.resolve('busybox:1.36'), kindOf('notFound', 'No such image: busybox:1.36'));
  await assert.rejects(h.svc.resolve(`sha256:${'0'.repeat(64)}`), kindOf('notFound', `No such image: sha256:${'0'.repeat(64)}`));
  await assert.rejects(h.svc.resolve('UPPER'), kindOf('invalid', /must be lowercase/));
});

void test('tag history records every move with its cause, and survives a restart', async (t) => {
  const h = await harness(t);
  const a = await importTagged(h, 'app', '1', 'a');
  const b = await importTagged(h, 'other', '1', 'b');
  await h.svc.setTag('app:1', b.id, 'tag');
  await h.svc.setTag('app:1', b.id, 'tag'); // no move: not recorded
  await h.svc.setTag('app:1', a.id, 'rollback');
  assert.equal(await h.svc.removeTag('app:1'), a.id);
  const moves = h.svc.tagHistory('app:1').map((e) => [e.cause, e.image, e.previous]);
  assert.deepEqual(moves, [
    ['import', a.id, null],
    ['tag', b.id, a.id],
    ['rollback', a.id, b.id],
    ['untag', null, a.id],
  ]);
  assert.deepEqual(h.svc.tagHistory('docker.io/library/app:1').length, 4, 'same tag, normalized');
  assert.deepEqual(h.svc.tagHistory('never:seen'), []);
  const again = await h.reopen();
  assert.deepEqual(again.tagHistory('app:1').map((e) => e.cause), ['import', 'tag', 'rollback', 'untag']);
  assert.deepEqual((await again.resolve('other:1')).id, b.id);
  await assert.rejects(again.resolve('app:1'), kindOf('notFound'));
  await assert.rejects(h.svc.removeTag('app:1'), kindOf('notFound'));
});

void test('delete by tag untags while other references remain, then deletes with the layer', async (t) => {
  const h = await harness(t);
  const image = await importTagged(h, 'app', '1');
  await h.svc.setTag('app:2', image.id, 'tag');
  assert.deepEqual(await h.svc.delete('app:1'), [{ Untagged: 'app:1' }]);
  assert.equal((await h.svc.resolve('app:2')).id, image.id);
  const chain = h.svc.topChainId(image)!;
  const items = await h.svc.delete('app:2');
  assert.deepEqual(items, [{ Untagged: 'app:2' }, { Deleted: image.id }, { Deleted: chain }]);
  await assert.rejects(h.svc.resolve(image.id), kindOf('notFound'));
  assert.equal(await h.snapshots.has(chain), false);
  assert.equal(await h.content.has(image.id), false);
  assert.equal(await h.content.has(image.layers[0]!.digest), false);
  assert.deepEqual(
    h.events.filter((e) => e.Action === 'untag' || e.Action === 'delete').map((e) => e.Action),
    ['untag', 'untag', 'delete'],
  );
});

void test('delete by ID: refused when referenced in several repositories unless forced', async (t) => {
  const h = await harness(t);
  const image = await importTagged(h, 'one', 'latest');
  await h.svc.setTag('two:latest', image.id, 'tag');
  const short = image.id.slice(7, 19);
  await assert.rejects(
    h.svc.delete(short),
    kindOf('conflict', `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`),
  );
  const items = await h.svc.delete(short, { force: true });
  assert.deepEqual(items.slice(0, 3), [{ Untagged: 'one:latest' }, { Untagged: 'two:latest' }, { Deleted: image.id }]);
  assert.deepEqual(await h.svc.list(), []);
});

void test('delete refuses images used by containers, and keeps layers a stopped container needs until gc', async (t) => {
  const h = await harness(t);
  const image = await importTagged(h, 'app', 'latest');
  const short = image.id.slice(7, 19);
  const chain = h.svc.topChainId(image)!;
  const ctr = 'c'.repeat(64);
  h.usage.set(image.id, { any: true, running: true, containerIds: [ctr] });
  await assert.rejects(
    h.svc.delete('app'),
    kindOf('conflict', `conflict: unable to remove repository reference "app" (must force) - container cccccccccccc is using its referenced image ${short}`),
  );
  await assert.rejects(
    h.svc.delete(image.id, { force: true }),
    kindOf('conflict', `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container cccccccccccc`),
  );
  h.usage.set(image.id, { any: true, running: false, containerIds: [ctr] });
  await assert.rejects(
    h.svc.delete(image.id),
    kindOf('conflict', `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container cccccccccccc`),
  );
  assert.deepEqual(await h.svc.delete('app', { force: true }), [{ Untagged: 'app:latest' }, { Deleted: image.id }]);
  await assert.rejects(h.svc.resolve(image.id), kindOf('notFound'));
  // The stopped container still needs the layer.
  assert.equal(await h.snapshots.has(chain), true);
  await h.svc.gc();
  assert.equal(await h.snapshots.has(chain), true, 'still used');
  h.usage.delete(image.id);
  await h.svc.gc();
  assert.equal(await h.snapshots.has(chain), false, 'collected once the container is gone');
  assert.equal(await h.content.has(image.id), false);
});

void test('delete refuses an image with child images', async (t) => {
  const h = await harness(t);
  const parent = await importTagged(h, 'base', 'latest', 'p');
  const cfg = await h.svc.config(parent);
  const child = await h.svc.createImage({ config: { ...cfg, comment: 'child' }, layers: parent.layers, parent: parent.id });
  await h.svc.setTag('child:latest', child.id, 'commit');
  await assert.rejects(h.svc.delete(parent.id, { force: true }), kindOf('conflict', /cannot be forced\) - image has dependent child images/));
  // Untagging the parent by name is fine; deleting the child prunes the now-dangling parent.
  assert.deepEqual(await h.svc.delete('base'), [{ Untagged: 'base:latest' }]);
  const items = await h.svc.delete('child');
  assert.deepEqual(items.slice(0, 3), [{ Untagged: 'child:latest' }, { Deleted: child.id }, { Deleted: parent.id }]);
  assert.deepEqual(await h.svc.list(), []);
});

void test('layers are shared: two images with the same base store it once, and it lives while either does', async (t) => {
  const h = await harness(t);
  const base = await tarOf([{ name: 'base.txt', data: 'shared base layer' }]);
  const top1 = await tarOf([{ name: 'one.txt', data: 'one' }]);
  const top2 = await tarOf([{ name: 'two.txt', data: 'two' }]);
  const archive = await docker25Archive([
    { config: configFor([base, top1]), layers: [base, top1], tags: ['one:latest'] },
    { config: configFor([base, top2]), layers: [base, top2], tags: ['two:latest'] },
  ]);
  await h.svc.load(streamOf(archive));
  const one = await h.svc.resolve('one');
  const two = await h.svc.resolve('two');
  assert.equal(one.chainIds[0], two.chainIds[0]);
  assert.equal((await h.snapshots.list()).length, 3);
  assert.equal((await h.content.list()).filter((b) => b.digest === sha256(base)).length, 1);
  const deleted = await h.svc.delete('one');
  assert.deepEqual(deleted, [{ Untagged: 'one:latest' }, { Deleted: one.id }, { Deleted: one.chainIds[1]! }]);
  assert.equal(await h.snapshots.has(one.chainIds[0]!), true);
  assert.equal(await h.content.has(sha256(base)), true);
  await h.svc.delete('two');
  assert.deepEqual(await h.snapshots.list(), []);
  assert.deepEqual(await h.content.list(), []);
});

void test('prune removes dangling images (or all unused ones) and reports the space', async (t) => {
  const h = await harness(t);
  const kept = await importTagged(h, 'kept', 'latest', 'k');
  const dangling = await importTagged(h, 'tmp', 'latest', 'd');
  await h.svc.removeTag('tmp');
  const used = await importTagged(h, 'used', 'latest', 'u');
  h.usage.set(used.id, { any: true, running: false, containerIds: ['d'.repeat(64)] });
  const report = await h.svc.prune(new Map());
  assert.deepEqual(report.ImagesDeleted?.slice(0, 2), [{ Deleted: dangling.id }, { Deleted: dangling.chainIds[0]! }]);
  assert.equal(report.SpaceReclaimed, dangling.size);
  assert.equal((await h.svc.list()).length, 2);
  const all = await h.svc.prune(new Map([['dangling', ['false']]]));
  assert.deepEqual(all.ImagesDeleted?.slice(0, 2), [{ Untagged: 'kept:latest' }, { Deleted: kept.id }]);
  assert.deepEqual((await h.svc.list()).map((i) => i.id), [used.id]);
  assert.deepEqual(await h.svc.prune(new Map()), { ImagesDeleted: null, SpaceReclaimed: 0 });
  await assert.rejects(h.svc.prune(new Map([['nope', ['x']]])), kindOf('invalid', "invalid filter 'nope'"));
});

void test('inspect, history and list answer in Docker shapes', async (t) => {
  const h = await harness(t);
  const l1 = await tarOf([{ name: 'a', data: 'aaaa' }]);
  const l2 = await tarOf([{ name: 'b', data: 'bbbbbbbb' }]);
  const config = configFor([l1, l2], {
    config: { Cmd: ['sh'], Labels: { team: 'core' }, Env: ['PATH=/bin'] },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD a /' },
      { created: '2024-01-01T00:00:01Z', created_by: 'LABEL team=core', empty_layer: true },
      { created: '2024-01-01T00:00:02Z', created_by: 'ADD b /', comment: 'second' },
    ],
  });
  await h.svc.load(streamOf(await docker25Archive([{ config, layers: [l1, l2], tags: ['web:1.0'] }])));
  const image = await h.svc.resolve('web:1.0');

  const inspect = await h.svc.inspect('web:1.0');
  assert.equal(inspect.Id, image.id);
  assert.deepEqual(inspect.RepoTags, ['web:1.0']);
  assert.deepEqual(inspect.Config, { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { team: 'core' } });
  assert.deepEqual(inspect.RootFS, { Type: 'layers', Layers: [sha256(l1), sha256(l2)] });
  assert.equal(inspect.GraphDriver.Name, 'overlay2');
  assert.equal(inspect.GraphDriver.Data?.UpperDir, join(h.root, 'snapshots', image.chainIds[1]!.slice(7), 'fs'));
  assert.equal(inspect.GraphDriver.Data?.LowerDir, join(h.root, 'snapshots', image.chainIds[0]!.slice(7), 'fs'));
  assert.equal(inspect.Created, '2024-01-02T03:04:05Z');
  assert.equal(inspect.Size, image.size);
  assert.equal('ContainerConfig' in inspect, false, 'gone since API 1.45');

  const hist = await h.svc.history('web:1.0');
  assert.deepEqual(
    hist.map((x) => [x.Id, x.CreatedBy, x.Size > 0, x.Comment, x.Tags]),
    [
      [image.id, 'ADD b /', true, 'second', ['web:1.0']],
      ['<missing>', 'LABEL team=core', false, '', null],
      ['<missing>', 'ADD a /', true, '', null],
    ],
  );
  assert.equal(hist[0]!.Created, Date.parse('2024-01-01T00:00:02Z') / 1000);
  assert.equal(hist[0]!.Size, image.layerSizes[1]);

  const untagged = await importTagged(h, 'gone', 'latest', 'g');
  await h.svc.removeTag('gone');
  const list = await h.svc.summaries({});
  const web = list.find((s) => s.Id === image.id)!;
  assert.deepEqual(web, {
    Containers: -1,
    Created: Date.parse('2024-01-02T03:04:05Z') / 1000,
    Id: image.id,
    Labels: { team: 'core' },
    ParentId: '',
    RepoDigests: [],
    RepoTags: ['web:1.0'],
    SharedSize: -1,
    Size: image.size,
  });
  assert.deepEqual(list[0]!.Id, untagged.id, 'newest first');
  assert.deepEqual((await h.svc.summaries({ filters: new Map([['dangling', ['true']]]) })).map((s) => s.Id), [untagged.id]);
  assert.deepEqual((await h.svc.summaries({ filters: new Map([['reference', ['we*']]]) })).map((s) => s.Id), [image.id]);
  assert.deepEqual((await h.svc.summaries({ filters: new Map([['label', ['team=core']]]) })).map((s) => s.Id), [image.id]);
  assert.deepEqual((await h.svc.summaries({ filters: new Map([['label', ['team=edge']]]) })), []);
  assert.deepEqual(list.find((s) => s.Id === untagged.id)!.RepoTags, []);
  await assert.rejects(h.svc.summaries({ filters: new Map([['colour', ['red']]]) }), kindOf('invalid', "invalid filter 'colour'"));
});
