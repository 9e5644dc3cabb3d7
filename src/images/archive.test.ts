import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extract } from 'tar-stream';
import { EngineError } from '../errors.js';
import {
  collect,
  configFor,
  docker25Archive,
  gzip,
  harness,
  sha256,
  stateOf,
  streamOf,
  tarOf,
  type Harness,
} from './test-helpers.js';

function kindOf(kind: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

/** Every entry of a tar: name → content (files) or '<dir>'. */
async function entriesOf(tar: Buffer): Promise<Map<string, Buffer | '<dir>'>> {
  const out = new Map<string, Buffer | '<dir>'>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.set(entry.header.name, entry.header.type === 'directory' ? '<dir>' : Buffer.concat(chunks));
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

async function fileIn(h: Harness, chainId: string, path: string): Promise<string> {
  return readFile(join(h.root, 'snapshots', chainId.slice(7), 'fs', path), 'utf8');
}

void test('load: a Docker 25+ archive, in any entry order, gives the archived image with its tags', async (t) => {
  for (const metadataFirst of [false, true]) {
    const h = await harness(t);
    const l1 = await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', data: 'ID=test\n' }]);
    const l2 = await tarOf([{ name: 'app', data: 'binary' }, { name: 'etc/.wh.os-release' }]);
    const config = configFor([l1, l2]);
    const archive = await docker25Archive([{ config, layers: [l1, l2], tags: ['docker.io/library/busybox:latest', 'busybox:musl'] }], { metadataFirst });
    const seen: string[] = [];
    const loaded = await h.svc.load(streamOf(archive), (img) => seen.push(img.id));
    const id = sha256(JSON.stringify(config));
    assert.deepEqual(loaded, [{ id, tags: ['busybox:latest', 'busybox:musl'], replaced: [] }]);
    assert.deepEqual(seen, [id]);
    const image = await h.svc.resolve('busybox:musl');
    assert.equal(image.id, id);
    assert.deepEqual(image.repoTags, ['busybox:latest', 'busybox:musl']);
    assert.equal(await fileIn(h, image.chainIds[0]!, 'etc/os-release'), 'ID=test\n');
    assert.equal(await fileIn(h, image.chainIds[1]!, 'app'), 'binary');
    // The archive's own OCI manifest is kept (its layers are the blobs we keep).
    assert.equal(image.manifest.digest, sha256((await h.content.read(image.manifest.digest)).toString()));
    assert.deepEqual(h.svc.tagHistory('busybox:latest').map((e) => e.cause), ['load']);
    assert.ok(h.events.some((e) => e.Action === 'load' && e.ID === id));
  }
});

void test('load: a pre-25 archive with <id>.json, gzip and symlinked layer.tar, and repositories', async (t) => {
  const h = await harness(t);
  const base = await tarOf([{ name: 'base.txt', data: 'base layer\n' }]);
  const top = await tarOf([{ name: 'top.txt', data: 'top layer\n' }]);
  const config1 = configFor([base, top], { created: '2020-01-01T00:00:00Z' });
  const config2 = configFor([base], { created: '2019-01-01T00:00:00Z' });
  const id1 = sha256(JSON.stringify(config1)).slice(7);
  const id2 = sha256(JSON.stringify(config2)).slice(7);
  const [lb, lt] = ['a'.repeat(64), 'b'.repeat(64)];
  const archive = await tarOf([
    { name: 'repositories', data: JSON.stringify({ app: { '1': lt }, base: { latest: lb } }) },
    {
      name: 'manifest.json',
      data: JSON.stringify([
        { Config: `${id1}.json`, RepoTags: ['app:1'], Layers: [`${lb}/layer.tar`, `${lt}/layer.tar`] },
        { Config: `${id2}.json`, RepoTags: ['base:latest'], Layers: [`${'c'.repeat(64)}/layer.tar`] },
      ]),
    },
    { name: `${lb}/`, type: 'directory' },
    { name: `${lb}/VERSION`, data: '1.0' },
    { name: `${lb}/json`, data: '{}' },
    { name: `${lb}/layer.tar`, data: base },
    { name: `${lt}/`, type: 'directory' },
    { name: `${lt}/layer.tar`, data: gzip(top) },
    { name: `${'c'.repeat(64)}/layer.tar`, type: 'symlink', linkname: `../${lb}/layer.tar` },
    { name: `${id1}.json`, data: JSON.stringify(config1) },
    { name: `${id2}.json`, data: JSON.stringify(config2) },
  ]);
  const loaded = await h.svc.load(streamOf(gzip(archive)));
  assert.deepEqual(
    loaded.map((l) => [l.id, l.tags]),
    [
      [`sha256:${id1}`, ['app:1']],
      [`sha256:${id2}`, ['base:latest']],
    ],
  );
  const app = await h.svc.resolve('app:1');
  // The gzip layer is kept uncompressed, named by its DiffID.
  assert.deepEqual(app.layers.map((l) => l.digest), [sha256(base), sha256(top)]);
  assert.equal(await h.content.has(sha256(gzip(top))), false, 'the compressed copy is not kept');
  assert.equal(await fileIn(h, app.chainIds[1]!, 'top.txt'), 'top layer\n');
  assert.equal((await h.svc.resolve('base')).chainIds[0], app.chainIds[0]);
});

void test('save writes Docker 25+ layout; loading it back gives the same image ID and tags', async (t) => {
  const h = await harness(t);
  const l1 = await tarOf([{ name: 'hello.txt', data: 'hello world\n' }]);
  const config = configFor([l1]);
  await h.svc.load(streamOf(await docker25Archive([{ config, layers: [l1], tags: ['localhost:5000/team/app:v1'] }])));
  const imported = await h.svc.importImage(streamOf(await tarOf([{ name: 'x', data: 'imported' }])), { repo: 'imp', tag: 'latest' });
  const image = await h.svc.resolve('localhost:5000/team/app:v1');

  const saved = await collect(await h.svc.save(['localhost:5000/team/app:v1', imported.id]));
  const entries = await entriesOf(saved);
  assert.equal(entries.get('blobs/'), '<dir>');
  assert.equal(entries.get('oci-layout')!.toString(), '{"imageLayoutVersion":"1.0.0"}');
  const manifestJson = JSON.parse(entries.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  assert.deepEqual(manifestJson, [
    { Config: `blobs/sha256/${image.id.slice(7)}`, RepoTags: ['localhost:5000/team/app:v1'], Layers: [`blobs/sha256/${sha256(l1).slice(7)}`] },
    { Config: `blobs/sha256/${imported.id.slice(7)}`, RepoTags: [], Layers: [`blobs/sha256/${imported.diffIds[0]!.slice(7)}`] },
  ]);
  const index = JSON.parse(entries.get('index.json')!.toString()) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  assert.deepEqual(index.manifests[0]!.annotations, {
    'io.containerd.image.name': 'localhost:5000/team/app:v1',
    'org.opencontainers.image.ref.name': 'v1',
  });
  assert.equal(index.manifests[1]!.annotations, undefined, 'an image saved by ID is untagged');
  assert.deepEqual(JSON.parse(entries.get('repositories')!.toString()), { 'localhost:5000/team/app': { v1: sha256(l1).slice(7) } });
  // Every blob is named by its digest; layers are saved byte for byte.
  for (const [name, data] of entries) {
    if (name.startsWith('blobs/sha256/') && data !== '<dir>') assert.equal(sha256(data), `sha256:${name.slice('blobs/sha256/'.length)}`);
  }
  assert.deepEqual(entries.get(`blobs/sha256/${sha256(l1).slice(7)}`), l1);
  assert.ok(h.events.some((e) => e.Action === 'save' && e.ID === image.id));

  // Round trip into an empty store.
  const other = await harness(t);
  const loaded = await other.svc.load(streamOf(saved));
  assert.deepEqual(
    loaded.map((l) => [l.id, l.tags]),
    [
      [image.id, ['localhost:5000/team/app:v1']],
      [imported.id, []],
    ],
  );
  const back = await other.svc.resolve('localhost:5000/team/app:v1');
  assert.equal(back.manifest.digest, image.manifest.digest);
  // Saving it again from the new store gives the same bytes.
  assert.deepEqual(await collect(await other.svc.save(['localhost:5000/team/app:v1', imported.id])), saved);
});

void test('save by repository name saves all its tags; unknown names fail before any byte', async (t) => {
  const h = await harness(t);
  const a = await h.svc.importImage(streamOf(await tarOf([{ name: 'a', data: 'a' }])), { repo: 'repo', tag: 'a' });
  await h.svc.setTag('repo:b', a.id, 'tag');
  const entries = await entriesOf(await collect(await h.svc.save(['repo'])));
  const manifestJson = JSON.parse(entries.get('manifest.json')!.toString()) as Array<{ RepoTags: string[] }>;
  assert.deepEqual(manifestJson.map((m) => m.RepoTags), [['repo:a', 'repo:b']]);
  await assert.rejects(h.svc.save(['repo:a', 'missing:1']), kindOf('notFound', /No such image: missing:1/));
});

void test('a truncated or corrupt archive is refused and leaves the store as it was', async (t) => {
  const h = await harness(t);
  const keep = await tarOf([{ name: 'keep', data: 'old image' }]);
  await h.svc.load(streamOf(await docker25Archive([{ config: configFor([keep]), layers: [keep], tags: ['app:latest'] }])));
  const before = await stateOf(h);
  const historyBefore = h.svc.tagHistory('app:latest');

  const l1 = await tarOf([{ name: 'big', data: Buffer.alloc(200_000, 7) }]);
  const l2 = await tarOf([{ name: 'more', data: 'second layer' }]);
  const good = await docker25Archive([{ config: configFor([l1, l2]), layers: [l1, l2], tags: ['app:latest'] }]);

  // Cut in the middle of a blob, and just before the metadata at the end.
  for (const cut of [100_000, good.length - 1500]) {
    await assert.rejects(h.svc.load(streamOf(good.subarray(0, cut))), kindOf('invalid', /invalid archive/), `cut at ${cut}`);
    assert.deepEqual(await stateOf(h), before, `cut at ${cut}`);
  }
  // A layer whose bytes do not hash to its diff_id: everything is unpacked first, so no tag moves.
  const liar = configFor([l1, l2]);
  (liar.rootfs as { diff_ids: string[] }).diff_ids[1] = sha256('something else');
  const lying = await docker25Archive([{ config: liar, layers: [l1, l2], tags: ['app:latest'] }]);
  await assert.rejects(h.svc.load(streamOf(lying)), kindOf('invalid', /DiffID mismatch|digest mismatch/));
  assert.deepEqual(await stateOf(h), before);
  // A blob whose bytes do not match its name.
  const tampered = Buffer.from(good);
  const at = tampered.indexOf(Buffer.from('second layer'));
  tampered.write('SECOND', at);
  await assert.rejects(h.svc.load(streamOf(tampered)), kindOf('invalid', /digest mismatch/));
  assert.deepEqual(await stateOf(h), before);
  // The same, for a blob the store already holds (its copy in the archive is still checked).
  const keepTampered = await docker25Archive([{ config: configFor([keep]), layers: [keep], tags: ['app:latest'] }]);
  keepTampered.write('OLD', keepTampered.indexOf(Buffer.from('old image')));
  await assert.rejects(h.svc.load(streamOf(keepTampered)), kindOf('invalid', /digest mismatch/));
  assert.deepEqual(await stateOf(h), before);
  // Not a tar; a tar without manifest.json or index.json; garbage manifest.json.
  await assert.rejects(h.svc.load(streamOf(Buffer.from('hello, this is not an archive'.repeat(30)))), kindOf('invalid', /invalid archive/));
  await assert.rejects(h.svc.load(streamOf(await tarOf([{ name: 'README', data: 'hi' }]))), kindOf('invalid', /does not contain a manifest.json/));
  await assert.rejects(h.svc.load(streamOf(await tarOf([{ name: 'manifest.json', data: '{"not":"a list"}' }]))), kindOf('invalid', /manifest.json/));
  assert.deepEqual(await stateOf(h), before);
  assert.deepEqual(h.svc.tagHistory('app:latest'), historyBefore);
});

void test('load reports tags taken from another image, and a plain OCI layout loads by its annotations', async (t) => {
  const h = await harness(t);
  const v1 = await tarOf([{ name: 'v', data: '1' }]);
  const v2 = await tarOf([{ name: 'v', data: '2' }]);
  const [first] = await h.svc.load(streamOf(await docker25Archive([{ config: configFor([v1]), layers: [v1], tags: ['app:latest'] }])));
  // An OCI layout without manifest.json (skopeo, buildx --output type=oci).
  const oci = await docker25Archive([{ config: configFor([v2]), layers: [v2], tags: ['docker.io/library/app:latest'] }]);
  const entries = await entriesOf(oci);
  entries.delete('manifest.json');
  const withoutManifest = await tarOf([...entries].map(([name, data]) => (data === '<dir>' ? { name, type: 'directory' as const } : { name, data })));
  const [second] = await h.svc.load(streamOf(withoutManifest));
  assert.deepEqual(second!.replaced, [{ tag: 'app:latest', previous: first!.id }]);
  assert.equal((await h.svc.resolve('app')).id, second!.id);
  assert.deepEqual(h.svc.tagHistory('app').map((e) => [e.cause, e.previous]), [
    ['load', null],
    ['load', first!.id],
  ]);
  // The old image is kept, untagged (dangling).
  assert.deepEqual((await h.svc.get(first!.id)).repoTags, []);
});

void test('load: layer tars named freely at the top level (as manifest.json lists them), larger than any metadata file', async (t) => {
  const h = await harness(t);
  // 33 MiB: above the 32 MiB limit for metadata files, so it must be spooled as a blob.
  const big = await tarOf([{ name: 'data/blob', data: Buffer.alloc(33 * 1024 * 1024, 'x') }]);
  const config = configFor([big]);
  const id = sha256(JSON.stringify(config)).slice(7);
  const archive = await tarOf([
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${id}.json`, RepoTags: ['free:1'], Layers: ['layer0.tar'] }]) },
    { name: `${id}.json`, data: JSON.stringify(config) },
    { name: 'layer0.tar', data: big },
  ]);
  const loaded = await h.svc.load(streamOf(archive, 1 << 20));
  assert.deepEqual(loaded.map((l) => [l.id, l.tags]), [[`sha256:${id}`, ['free:1']]]);

  // A metadata file over the limit is refused with its own reason, not a stream error.
  const hugeConfig = await tarOf([{ name: 'manifest.json', data: Buffer.alloc(33 * 1024 * 1024, ' ') }]);
  await assert.rejects(h.svc.load(streamOf(hugeConfig, 1 << 20)), kindOf('invalid', /manifest\.json is too large/));
});
