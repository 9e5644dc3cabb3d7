import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { EngineError } from '../errors.js';
import { chainIds } from '../snapshots/chain.js';
import { gzip, harness, sha256, stateOf, tarOf, type Harness, type TarEntrySpec } from '../images/test-helpers.js';
import { parseChallenges, parseRegistryAuthHeader } from './auth.js';
import type { DistributionDeps } from './distribution.js';
import { LayerCache } from './layer-cache.js';
import type { ProgressMessage } from './progress.js';
import { uncompressed } from '../util/decompress.js';
import { parsePlatform, selectManifest } from './manifests.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { isInsecure } from './registry-host.js';

/**
 * Pull and push against a registry in this process that misbehaves on purpose: bad digests,
 * 500s, unknown media types, schema 1, missing tags.
 */

interface FakeRegistry {
  host: string;
  blobs: Map<string, Buffer>;
  manifests: Map<string, { body: Buffer; type: string }>;
  /** Serve other bytes than asked for these digests. */
  corrupt: Set<string>;
  /** Serve these bytes for these digests instead. */
  substitute: Map<string, Buffer>;
  /** Answer blob requests for these digests after this many milliseconds. */
  delay: Map<string, number>;
  /** Cut the connection halfway through the next answer for these digests (once each). */
  cut: Set<string>;
  /** Answer 500 to everything. */
  broken: boolean;
}

async function fakeRegistry(t: TestContext): Promise<FakeRegistry> {
  const state = { blobs: new Map<string, Buffer>(), manifests: new Map<string, { body: Buffer; type: string }>(), corrupt: new Set<string>(), substitute: new Map<string, Buffer>(), delay: new Map<string, number>(), cut: new Set<string>(), broken: false };
  const uploads = new Map<string, Buffer[]>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = Buffer.concat(chunks);
      if (state.broken) {
        res.writeHead(500).end('boom');
        return;
      }
      if (url.pathname === '/v2/') return void res.writeHead(200).end('{}');
      let m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
      if (m) {
        const key = `${m[1]}:${m[2]}`;
        if (req.method === 'PUT') {
          state.manifests.set(key, { body, type: req.headers['content-type'] ?? '' });
          state.manifests.set(`${m[1]}:${sha256(body)}`, { body, type: req.headers['content-type'] ?? '' });
          return void res.writeHead(201, { 'docker-content-digest': sha256(body) }).end();
        }
        const found = state.manifests.get(key);
        if (!found) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return void res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha256(found.body) }).end(found.body);
      }
      m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]+)$/.exec(url.pathname);
      if (m) {
        const blob = state.blobs.get(m[2]!);
        if (!blob) return void res.writeHead(404).end();
        const out = state.substitute.get(m[2]!) ?? (state.corrupt.has(m[2]!) ? Buffer.from(blob).fill(0x61, 0, Math.min(16, blob.length)) : blob);
        const answer = (): void => {
          res.writeHead(200, { 'content-length': String(out.length) });
          if (req.method === 'GET' && state.cut.delete(m![2]!)) {
            res.write(out.subarray(0, out.length >> 1), () => res.socket?.destroy());
            return;
          }
          res.end(req.method === 'HEAD' ? undefined : out);
        };
        const ms = state.delay.get(m[2]!);
        if (ms === undefined) answer();
        else setTimeout(answer, ms);
        return;
      }
      m = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(url.pathname);
      if (m) {
        if (req.method === 'POST') {
          const id = String(uploads.size + 1);
          uploads.set(id, []);
          return void res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}` }).end();
        }
        const parts = uploads.get(m[2]!) ?? [];
        parts.push(body);
        if (req.method === 'PATCH') return void res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${m[2]}` }).end();
        const all = Buffer.concat(parts);
        if (sha256(all) !== url.searchParams.get('digest')) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
        state.blobs.set(sha256(all), all);
        return void res.writeHead(201).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return Object.assign(state, { host: `127.0.0.1:${(server.address() as { port: number }).port}` });
}

async function deps(h: Harness): Promise<DistributionDeps> {
  const layers = new LayerCache(h.root);
  await layers.init();
  return { images: h.svc, content: h.content, snapshots: h.snapshots, layers, insecure: [] };
}

/** An image of one gzip layer in the fake registry under `repo:tag`; returns the manifest digest. */
async function serveImage(reg: FakeRegistry, repo: string, tag: string, file = 'hello'): Promise<{ manifest: string; layer: string }> {
  const tar = await tarOf([{ name: file, data: `${file}\n` }]);
  const layer = gzip(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  reg.blobs.set(sha256(layer), layer);
  reg.blobs.set(sha256(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  reg.manifests.set(`${repo}:${tag}`, { body: manifest, type: 'application/vnd.docker.distribution.manifest.v2+json' });
  return { manifest: sha256(manifest), layer: sha256(layer) };
}

/** An image of several gzip layers (the tars of `layers`) under `repo:tag`; returns the layer blobs. */
async function serveLayers(reg: FakeRegistry, repo: string, tag: string, layers: TarEntrySpec[][]): Promise<{ tars: Buffer[]; blobs: Buffer[] }> {
  const tars = await Promise.all(layers.map((l) => tarOf(l)));
  const blobs = tars.map((t) => gzip(t));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map((t) => sha256(t)) } }));
  for (const b of [...blobs, config]) reg.blobs.set(sha256(b), b);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(b), size: b.length })),
    }),
  );
  reg.manifests.set(`${repo}:${tag}`, { body: manifest, type: 'application/vnd.docker.distribution.manifest.v2+json' });
  return { tars, blobs };
}

/** Four layers: folders implied by later layers, a hard link to a lower file, a whiteout, 200 kB of data each. */
const FOUR: TarEntrySpec[][] = [
  [
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/tool', data: 'tool v1', mode: 0o755 },
    { name: 'opt/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
    { name: 'data0', data: Buffer.alloc(200_000, 0) },
  ],
  [
    { name: 'opt/one/file', data: 'one' },
    { name: 'data1', data: Buffer.alloc(200_000, 1) },
  ],
  [
    { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool' },
    { name: 'data2', data: Buffer.alloc(200_000, 2) },
  ],
  [
    { name: 'opt/.wh.one', data: '' },
    { name: 'data3', data: Buffer.alloc(200_000, 3) },
  ],
];

const kind = (k: string, re: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof EngineError, String(err));
  assert.equal(err.kind, k, err.message);
  assert.match(err.message, re);
  return true;
};

void test('pull: Docker schema 2 with progress in Docker words, then up to date', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const { manifest } = await serveImage(reg, 'app', '1');
  const msgs: ProgressMessage[] = [];
  const r = await pull(await deps(h), { reference: `${reg.host}/app:1`, platform: 'linux/amd64' }, (m) => msgs.push(m));
  assert.equal(r.digest, manifest);
  assert.equal(r.upToDate, false);
  assert.deepEqual(r.image.repoTags, [`${reg.host}/app:1`]);
  assert.deepEqual(r.image.repoDigests, [`${reg.host}/app@${manifest}`]);
  const statuses = msgs.map((m) => m.status);
  assert.equal(statuses[0], 'Pulling from app');
  for (const s of ['Pulling fs layer', 'Downloading', 'Download complete', 'Extracting', 'Pull complete']) assert.ok(statuses.includes(s), `${s} in ${statuses.join(', ')}`);
  const again = await pull(await deps(h), { reference: `${reg.host}/app:1`, platform: 'linux/amd64' }, () => undefined);
  assert.equal(again.upToDate, true);
  assert.deepEqual(h.svc.tagHistory(`${reg.host}/app:1`).map((e) => e.cause), ['pull']);
});

void test('pull: a blob that does not match its digest fails and stores nothing; no tag moves', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const { layer } = await serveImage(reg, 'app', '1');
  reg.corrupt.add(layer);
  const before = await stateOf(h);
  await assert.rejects(pull(await deps(h), { reference: `${reg.host}/app:1` }, () => undefined), kind('invalid', /digest mismatch|sha256/));
  assert.deepEqual(await stateOf(h), before);
  await assert.rejects(h.svc.resolve(`${reg.host}/app:1`), kind('notFound', /No such image/));
});

void test('pull: a registry that answers 500, an unknown media type, schema 1 and a missing tag (before any progress) are named', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const d = await deps(h);
  // A missing tag fails before any progress (the API answers it as a plain 404, as Docker does).
  const said: ProgressMessage[] = [];
  await assert.rejects(pull(d, { reference: `${reg.host}/app:nope` }, (m) => said.push(m)), kind('notFound', new RegExp(`manifest for ${reg.host}/app:nope not found: manifest unknown`)));
  assert.deepEqual(said, []);
  reg.manifests.set('odd:1', { body: Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}'), type: 'application/vnd.example.thing+json' });
  await assert.rejects(pull(d, { reference: `${reg.host}/odd:1` }, () => undefined), kind('invalid', /unsupported manifest media type application\/vnd\.example\.thing\+json/));
  reg.manifests.set('old:1', { body: Buffer.from('{"schemaVersion":1,"name":"old","tag":"1","fsLayers":[]}'), type: 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
  await assert.rejects(pull(d, { reference: `${reg.host}/old:1` }, () => undefined), kind('invalid', /schema 1 is deprecated and not supported/));
  reg.broken = true;
  await assert.rejects(pull(d, { reference: `${reg.host}/app:1` }, () => undefined), kind('unavailable', /500 Internal Server Error/));
  await assert.rejects(pull(d, { reference: '127.0.0.1:1/app:1' }, () => undefined), kind('unavailable', /registry 127\.0\.0\.1:1 is not reachable.*ECONNREFUSED/));
});

void test('push compresses a local layer once; a second push reuses the remembered blob', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const tar = await tarOf([{ name: 'f', data: 'x'.repeat(10000) }]);
  const image = await h.svc.importImage((await import('../images/test-helpers.js')).streamOf(tar), { repo: `${reg.host}/p`, tag: '1' });
  const d = await deps(h);
  const msgs: ProgressMessage[] = [];
  const [first] = await push(d, { reference: `${reg.host}/p:1` }, (m) => msgs.push(m));
  assert.ok(msgs.some((m) => m.status === 'Pushed'));
  assert.deepEqual(msgs.at(-1)?.aux, { Tag: '1', Digest: first!.digest, Size: first!.size });
  const compressed = d.layers.compressedOf(image.diffIds[0]!);
  assert.ok(compressed && reg.blobs.has(compressed.digest));
  reg.blobs.delete(compressed.digest);
  const again: ProgressMessage[] = [];
  const [second] = await push(d, { reference: `${reg.host}/p:1` }, (m) => again.push(m));
  assert.equal(second!.digest, first!.digest, 'the same compressed bytes: not compressed again');
  await assert.rejects(push(d, { reference: `${reg.host}/p:2` }, () => undefined), kind('notFound', /An image does not exist locally with the tag/));
});

void test('push after the compressed blob was collected: the registry is asked first, then the layer is compressed again', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const { streamOf } = await import('../images/test-helpers.js');
  const tar = await tarOf([{ name: 'f', data: 'y'.repeat(20000) }]);
  const first = await h.svc.importImage(streamOf(tar), { repo: `${reg.host}/p`, tag: '1' });
  const d = await deps(h);
  await push(d, { reference: `${reg.host}/p:1` }, () => undefined);
  const blob = d.layers.compressedOf(first.diffIds[0]!)!.digest;
  await h.svc.delete(`${reg.host}/p:1`);
  await d.layers.collect(d);
  assert.equal(await h.content.has(blob), false);

  // The same layer loaded again and pushed where the registry has it: nothing compressed, nothing sent.
  await h.svc.importImage(streamOf(tar), { repo: `${reg.host}/q`, tag: '1' });
  const msgs: ProgressMessage[] = [];
  await push(d, { reference: `${reg.host}/q:1` }, (m) => msgs.push(m));
  assert.ok(msgs.some((m) => m.status === 'Layer already exists'), JSON.stringify(msgs));
  assert.ok(!msgs.some((m) => m.status === 'Pushing'));
  assert.equal(await h.content.has(blob), false);

  // The registry lost it: compressed again, to the same bytes.
  reg.blobs.delete(blob);
  const again: ProgressMessage[] = [];
  await push(d, { reference: `${reg.host}/q:1` }, (m) => again.push(m));
  assert.ok(again.some((m) => m.status === 'Pushed'));
  assert.ok(reg.blobs.has(blob));
  assert.ok(await h.content.has(blob));
});

void test('uncompressed(): corrupt gzip and zstd layers fail with invalid; an error of the source passes as it is', async () => {
  const { Readable } = await import('node:stream');
  const { streamOf, collect } = await import('../images/test-helpers.js');
  const good = gzip(Buffer.from('z'.repeat(100000)));
  const badGzip = Buffer.concat([good.subarray(0, 30), Buffer.alloc(200, 7)]);
  const badZstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100, 7)]);
  for (const [bad, name] of [[badGzip, 'gzip'], [badZstd, 'zstd']] as const) {
    const out = await uncompressed(streamOf(bad), 'layer sha256:x');
    await assert.rejects(collect(out), kind('invalid', new RegExp(`^layer sha256:x: corrupt ${name} stream: `)));
  }
  const { compress: zstdCompress } = await import('zstd-napi');
  const goodZstd = zstdCompress(Buffer.from('z'.repeat(100000)));
  // The first bytes of valid streams, then the source fails.
  for (const head of [good.subarray(0, Math.min(100, good.length - 10)), goodZstd.subarray(0, Math.min(20, goodZstd.length - 5))]) {
    const boom = new EngineError('invalid', 'blob sha256:y: digest mismatch');
    const source = new Readable({ read() {} });
    source.push(head);
    const out = await uncompressed(source, 'layer sha256:x');
    setTimeout(() => source.destroy(boom), 20);
    await assert.rejects(collect(out), (err: unknown) => err === boom);
  }
});

void test('platforms, indexes, challenges, auth headers and insecure registries', () => {
  assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  const d = (arch: string, extra: Record<string, unknown> = {}): { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } } =>
    ({ mediaType: 'm', digest: `sha256:${arch.padEnd(64, '0')}`.slice(0, 71), size: 1, platform: { os: arch === 'unknown' ? 'unknown' : 'linux', architecture: arch }, ...extra });
  const index = { schemaVersion: 2 as const, manifests: [d('unknown', { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }), d('arm64'), d('amd64')] };
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'amd64' })?.platform?.architecture, 'amd64');
  assert.equal(selectManifest(index, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.platform?.architecture, 'arm64');
  assert.equal(selectManifest(index, { os: 'linux', architecture: 's390x' }), undefined);

  assert.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="pier"'), [{ scheme: 'basic', params: { realm: 'pier' } }]);
  const header = Buffer.from(JSON.stringify({ username: 'u', password: 'p', serveraddress: 'r:5000' })).toString('base64url');
  assert.deepEqual(parseRegistryAuthHeader(header), { username: 'u', password: 'p', serveraddress: 'r:5000' });
  assert.equal(parseRegistryAuthHeader(Buffer.from('{}').toString('base64')), undefined);
  assert.deepEqual(parseRegistryAuthHeader(Buffer.from(JSON.stringify({ auth: Buffer.from('a:b').toString('base64') })).toString('base64')), { username: 'a', password: 'b' });

  assert.equal(isInsecure('localhost:5000', []), true);
  assert.equal(isInsecure('127.0.0.1:5000', []), true);
  assert.equal(isInsecure('registry.example:5000', []), false);
  assert.equal(isInsecure('registry.example:5000', ['registry.example:5000']), true);
  assert.equal(isInsecure('10.1.2.3:5000', ['10.0.0.0/8']), true);
  assert.equal(isInsecure('11.1.2.3:5000', ['10.0.0.0/8']), false);
});

void test('pull of several layers: each unpacks while it downloads; snapshots and progress come in layer order', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const { tars, blobs } = await serveLayers(reg, 'multi', '1', FOUR);
  // The base layer arrives last: its children unpack meanwhile and wait for it.
  reg.delay.set(sha256(blobs[0]!), 200);
  const msgs: ProgressMessage[] = [];
  const d = { ...(await deps(h)), maxDownloads: 2 };
  const r = await pull(d, { reference: `${reg.host}/multi:1` }, (m) => msgs.push(m));
  assert.deepEqual(r.image.diffIds, tars.map((x) => sha256(x)));
  const chains = chainIds(r.image.diffIds);
  assert.deepEqual(
    (await h.snapshots.list()).sort((a, b) => chains.indexOf(a.chainId) - chains.indexOf(b.chainId)),
    chains.map((c, i) => ({ chainId: c, parent: i === 0 ? null : chains[i - 1]! })),
  );
  assert.deepEqual(await readdir(join(h.root, 'snapshots', 'tmp')), []);
  const opt = await stat(join(h.snapshots.fsDir(chains[1]!), 'opt'));
  assert.deepEqual({ mode: opt.mode & 0o7777, uid: opt.uid, gid: opt.gid }, { mode: 0o750, uid: 7, gid: 8 }, 'an implied folder takes the lower mode and owner');
  assert.equal(await readFile(join(h.snapshots.fsDir(chains[2]!), 'bin', 'tool-link'), 'utf8'), 'tool v1');

  const ids = blobs.map((b) => sha256(b).slice(7, 19));
  for (const id of ids) {
    const mine = msgs.filter((m) => m.id === id).map((m) => m.status);
    const at = (s: string): number => mine.indexOf(s);
    const order = ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete'];
    for (const s of order) assert.ok(at(s) >= 0, `${s} for ${id} in ${mine.join(', ')}`);
    assert.deepEqual(order.map(at), [...order.map(at)].sort((a, b) => a - b), `order for ${id}: ${mine.join(', ')}`);
    assert.equal(mine.at(-1), 'Pull complete');
  }
  const completes = msgs.filter((m) => m.status === 'Pull complete').map((m) => m.id);
  assert.deepEqual(completes, ids);
});

void test('pull of several layers where a later blob is bad stores nothing and leaves no snapshot', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const d = await deps(h);
  const { tars, blobs } = await serveLayers(reg, 'multi', '1', FOUR);
  const digests = blobs.map((b) => sha256(b));
  const before = await stateOf(h);
  const nothingLeft = async (): Promise<void> => {
    assert.deepEqual(await stateOf(h), before);
    assert.deepEqual(await readdir(join(h.root, 'snapshots', 'tmp')), []);
    await assert.rejects(h.svc.resolve(`${reg.host}/multi:1`), kind('notFound', /No such image/));
  };

  // Layer 2's bytes are garbage, and arrive after its parents are unpacked (and its child).
  reg.corrupt.add(digests[2]!);
  reg.delay.set(digests[2]!, 300);
  await assert.rejects(pull(d, { reference: `${reg.host}/multi:1` }, () => undefined), kind('invalid', new RegExp(`layer ${digests[2]}: .*digest mismatch`)));
  await nothingLeft();

  // Layer 3 unpacks to the right DiffID but is not the blob of its digest (another gzip of the
  // same tar): the download fails at the end, when its snapshot may be complete.
  reg.corrupt.clear();
  reg.delay.clear();
  reg.substitute.set(digests[3]!, gzipSync(tars[3]!, { level: 1 }));
  await assert.rejects(pull(d, { reference: `${reg.host}/multi:1` }, () => undefined), kind('invalid', /size mismatch|digest mismatch/));
  await nothingLeft();

  // Then the registry serves the right bytes: the image arrives whole.
  reg.substitute.clear();
  const r = await pull(d, { reference: `${reg.host}/multi:1` }, () => undefined);
  assert.equal((await h.snapshots.list()).length, 4);
  assert.deepEqual(r.image.repoTags, [`${reg.host}/multi:1`]);
});

void test('pull of several layers: a download cut short is retried, and that layer unpacks from the store', async (t) => {
  const h = await harness(t);
  const reg = await fakeRegistry(t);
  const { tars, blobs } = await serveLayers(reg, 'multi', '1', FOUR);
  reg.cut.add(sha256(blobs[1]!));
  const msgs: ProgressMessage[] = [];
  const r = await pull(await deps(h), { reference: `${reg.host}/multi:1` }, (m) => msgs.push(m));
  assert.equal(reg.cut.size, 0, 'the connection was cut');
  const id = sha256(blobs[1]!).slice(7, 19);
  const mine = msgs.filter((m) => m.id === id).map((m) => m.status);
  assert.ok(mine.includes('Retrying in 1 second'), mine.join(', '));
  assert.ok(mine.lastIndexOf('Extracting') > mine.indexOf('Download complete'), mine.join(', '));
  assert.equal(mine.at(-1), 'Pull complete');
  assert.deepEqual(r.image.diffIds, tars.map((x) => sha256(x)));
  const chains = chainIds(r.image.diffIds);
  assert.equal((await h.snapshots.list()).length, 4);
  assert.deepEqual(await readdir(join(h.root, 'snapshots', 'tmp')), []);
  assert.equal(await readFile(join(h.snapshots.fsDir(chains[1]!), 'opt', 'one', 'file'), 'utf8'), 'one');
  const opt = await stat(join(h.snapshots.fsDir(chains[1]!), 'opt'));
  assert.deepEqual({ mode: opt.mode & 0o7777, uid: opt.uid }, { mode: 0o750, uid: 7 });
});
