import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { fetchSocket, importBusybox, startDaemon, type Daemon } from './harness.js';

type Entry = { name: string; data?: string | Buffer; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; mode?: number };

/** A tar made in memory (fixtures are small). */
async function makeTar(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(0) };
    if (type === 'file') p.entry(header, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
    else p.entry(header);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('images through the docker CLI', () => {
  let d: Daemon;
  let work: string;
  let busyboxId: string;
  before(async () => {
    d = await startDaemon();
    busyboxId = await importBusybox(d);
    work = await mkdtemp('/tmp/pti-');
  });
  after(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('import with changes: CMD and ENV apply', async () => {
    const tar = await readFile(await (await import('./harness.js')).busyboxTarPath());
    const r = await d.docker(['import', '-c', 'CMD ["sh", "-c", "echo $MSG"]', '-c', 'ENV MSG=from-import', '-', 'withcmd:1'], { input: tar });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}$/m);
    const run = await d.docker(['run', '--rm', 'withcmd:1']);
    assert.equal(run.stdout, 'from-import\n');
  });

  test('save | load round trip gives the same image ID and runs', async () => {
    const archive = join(work, 'bb.tar');
    const save = await d.docker(['save', '-o', archive, 'busybox']);
    assert.equal(save.code, 0, save.stderr);
    const rmi = await d.docker(['rmi', 'busybox']);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /Untagged: busybox:latest/);
    const load = await d.docker(['load', '-i', archive]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /Loaded image: busybox:latest/);
    const id = await d.docker(['image', 'inspect', '-f', '{{.Id}}', 'busybox']);
    assert.equal(id.stdout.trim(), busyboxId);
    assert.equal((await d.docker(['run', '--rm', 'busybox', 'echo', 'back'])).stdout, 'back\n');
    // The archive has both layouts, as Docker 25+ writes.
    const names = await listTar(archive);
    for (const n of ['oci-layout', 'index.json', 'manifest.json']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
  });

  test('load a Docker 25+ archive (OCI layout, gzip layer) and a pre-25 archive (layer folders)', async () => {
    const layer = await makeTar([{ name: 'hello.txt', data: 'hello from a loaded layer\n' }]);
    const gz = gzipSync(layer);
    const config = JSON.stringify({
      architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/bin/cat', '/hello.txt'] },
      rootfs: { type: 'layers', diff_ids: [sha(layer)] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'test' }],
    });
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length }],
    });
    const index = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length,
        annotations: { 'io.containerd.image.name': 'docker.io/library/fixture:oci', 'org.opencontainers.image.ref.name': 'oci' } }],
    });
    const hex = (s: string): string => s.slice(7);
    const ociTar = await makeTar([
      { name: 'blobs/', type: 'directory' }, { name: 'blobs/sha256/', type: 'directory' },
      { name: `blobs/sha256/${hex(sha(gz))}`, data: gz },
      { name: `blobs/sha256/${hex(sha(config))}`, data: config },
      { name: `blobs/sha256/${hex(sha(manifest))}`, data: manifest },
      { name: 'index.json', data: index },
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    ]);
    const oci = await d.docker(['load'], { input: ociTar });
    assert.equal(oci.code, 0, oci.stderr);
    assert.match(oci.stdout, /Loaded image: fixture:oci/);
    const ociRun = await d.docker(['create', 'fixture:oci']);
    assert.equal(ociRun.code, 0, ociRun.stderr);
    await d.docker(['rm', ociRun.stdout.trim()]);

    // Pre-25: <layer id>/layer.tar, <config>.json, manifest.json, repositories.
    const layerId = hex(sha(layer));
    const legacyTar = await makeTar([
      { name: `${layerId}/`, type: 'directory' },
      { name: `${layerId}/VERSION`, data: '1.0' },
      { name: `${layerId}/json`, data: JSON.stringify({ id: layerId }) },
      { name: `${layerId}/layer.tar`, data: layer },
      { name: `${hex(sha(config))}.json`, data: config },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${hex(sha(config))}.json`, RepoTags: ['fixture:legacy'], Layers: [`${layerId}/layer.tar`] }]) },
      { name: 'repositories', data: JSON.stringify({ fixture: { legacy: layerId } }) },
    ]);
    const legacy = await d.docker(['load'], { input: legacyTar });
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.match(legacy.stdout, /Loaded image: fixture:legacy/);
    // Same config, same layer: the same image.
    const a = await d.docker(['image', 'inspect', '-f', '{{.Id}}', 'fixture:oci']);
    const b = await d.docker(['image', 'inspect', '-f', '{{.Id}}', 'fixture:legacy']);
    assert.equal(a.stdout, b.stdout);
    assert.equal(a.stdout.trim(), sha(config));
  });

  test('a truncated archive is refused and leaves the store as it was', async () => {
    const before = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    const archive = join(work, 'bb2.tar');
    await d.docker(['save', '-o', archive, 'busybox']);
    const whole = await readFile(archive);
    const cut = join(work, 'cut.tar');
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await d.docker(['tag', 'busybox', 'precious:1']);
    const load = await d.docker(['load', '-i', cut]);
    assert.notEqual(load.code, 0);
    assert.match(load.stderr, /unexpected end|truncated|invalid|archive/i);
    const after = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.deepEqual(after.stdout.split('\n').filter((l) => !l.startsWith('precious')).sort(), before.stdout.split('\n').sort());
    assert.equal((await d.docker(['run', '--rm', 'precious:1', 'echo', 'intact'])).stdout, 'intact\n');
    // Over the API, as Docker answers it: a 200 whose stream carries the error.
    const api = await fetchSocket(d.socket, 'POST', '/v1.45/images/load', 'abc');
    assert.equal(api.status, 200);
    const message = JSON.parse(api.body.trim().split('\n').at(-1)!) as { error?: string; errorDetail?: { message: string } };
    assert.match(message.error ?? '', /archive|unexpected end|invalid/i);
    assert.equal(message.errorDetail?.message, message.error);
  });

  test('hostile layer tars are contained: nothing is written outside the snapshot', async () => {
    const victim = join(work, 'victim');
    const tar = await makeTar([
      { name: '../../../../../../../..' + victim + '-dotdot', data: 'x' },
      { name: victim + '-abs', data: 'x' },
      { name: 'link', type: 'symlink', linkname: work },
      { name: 'link/victim-symlink', data: 'x' },
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: '../../../../../../../../' + work },
      { name: 'a/victim-chain', data: 'x' },
      { name: 'hard', type: 'link', linkname: '../../../../../../../../etc/passwd' },
      { name: 'ok.txt', data: 'fine' },
    ]);
    const r = await d.docker(['import', '-', 'hostile:1'], { input: tar });
    for (const suffix of ['-dotdot', '-abs']) assert.equal(existsSync(victim + suffix), false, `${victim}${suffix} written`);
    for (const f of ['victim-symlink', 'victim-chain']) assert.equal(existsSync(join(work, f)), false, `${f} written`);
    // Either refused, or imported with everything kept inside the image.
    if (r.code !== 0) assert.match(r.stderr, /invalid|outside|link|refused/i);
    if (r.code === 0) {
      // The hard link did not bring the host's /etc/passwd into the image's snapshot.
      const { readdir, stat } = await import('node:fs/promises');
      const host = await stat('/etc/passwd');
      for (const snap of await readdir(join(d.root, 'snapshots'))) {
        const hard = join(d.root, 'snapshots', snap, 'fs', 'hard');
        if (!existsSync(hard)) continue;
        const st = await stat(hard);
        assert.notEqual(st.ino, host.ino, 'hard link to the host /etc/passwd');
        assert.notEqual(await readFile(hard, 'utf8'), await readFile('/etc/passwd', 'utf8'));
      }
    }
  });

  test('unknown image 404 with Docker message; in-use image delete 409; tag and history', async () => {
    const r = await d.docker(['image', 'inspect', 'nope:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such image: nope:1/);
    await d.docker(['tag', 'busybox', 'mine:v1']);
    const c = await d.docker(['create', '--name', 'user', 'mine:v1', 'true']);
    assert.equal(c.code, 0, c.stderr);
    const rmi = await d.docker(['rmi', busyboxId]);
    assert.notEqual(rmi.code, 0);
    assert.match(rmi.stderr, /conflict|must be forced|being used/i);
    await d.docker(['rm', 'user']);
    const h = await d.docker(['history', '--format', '{{.ID}} {{.Size}} {{.Comment}}', 'mine:v1']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^[0-9a-f]{12} [\d.]+MB Imported from -\n$/);
    const ls = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.ok(ls.stdout.split('\n').includes('mine:v1'));
  });
});

async function listTar(path: string): Promise<string[]> {
  const { extract } = await import('tar-stream');
  const { createReadStream } = await import('node:fs');
  const ex = extract();
  const names: string[] = [];
  ex.on('entry', (h, stream, next) => {
    names.push(h.name);
    stream.on('end', next);
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve());
    ex.on('error', reject);
    createReadStream(path).pipe(ex);
  });
  return names;
}
