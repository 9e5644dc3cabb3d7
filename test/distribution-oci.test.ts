import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { join } from 'node:path';
import { busyboxTarPath, fetchSocket, run, startDaemon, type Daemon } from './harness.js';
import { startRegistry, type Registry } from './registry.js';

/** Images put into the registry by another tool: skopeo copies an OCI layout with a zstd layer and a multi-platform index. */
describe('images from other tools', () => {
  let d: Daemon;
  let reg: Registry;
  let layout: string;
  before(async () => {
    reg = await startRegistry();
    d = await startDaemon();
    layout = await mkdtemp('/tmp/poci-');
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
    if (layout) await rm(layout, { recursive: true, force: true });
  });

  test('skopeo copies an OCI index (zstd layer, two platforms, an attestation); pierd pulls the host platform and runs it', async () => {
    const index = await writeOciLayout(layout);
    const copy = await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/multi/app:v1`], process.env, { timeoutMs: 120_000 });
    assert.equal(copy.code, 0, copy.stderr);

    const pull = await d.docker(['pull', `${reg.host}/multi/app:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Digest: ${index}`));
    const r = await d.docker(['run', '--rm', `${reg.host}/multi/app:v1`, 'cat', '/hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from zstd and amd64\n');
    const platform = await d.docker(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', `${reg.host}/multi/app:v1`]);
    assert.equal(platform.stdout.trim(), 'linux/amd64');

    // The other platform is chosen with --platform; a platform the index lacks is named.
    const arm = await d.docker(['pull', '--platform', 'linux/arm64', `${reg.host}/multi/app:v1`]);
    assert.equal(arm.code, 0, arm.stderr);
    const armArch = await d.docker(['image', 'inspect', '--format', '{{.Architecture}}', `${reg.host}/multi/app:v1`]);
    assert.equal(armArch.stdout.trim(), 'arm64');
    const none = await d.docker(['pull', '--platform', 'linux/s390x', `${reg.host}/multi/app:v1`]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no matching manifest for linux\/s390x/);

    const answer = await fetchSocket(d.socket, 'GET', `/distribution/${reg.host}/multi/app:v1/json`);
    assert.equal(answer.status, 200, answer.body);
    const info = JSON.parse(answer.body) as Record<string, unknown>;
    assert.equal((info.Descriptor as { digest: string }).digest, index);
    assert.deepEqual(info.Platforms, [{ architecture: 'arm64', os: 'linux', variant: 'v8' }, { architecture: 'amd64', os: 'linux' }]);
  });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Write an OCI layout tagged v1: an index of arm64, an attestation and amd64 (zstd busybox + a gzip layer). Resolves with the index digest. */
async function writeOciLayout(dir: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha(b);
    await writeFile(join(blobs, digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const fileTar = async (name: string, content: string): Promise<Buffer> => {
    const tmp = await mkdtemp('/tmp/pft-');
    try {
      await writeFile(join(tmp, name), content);
      const r = await run('tar', ['--owner=0', '--group=0', '-cf', join(tmp, 'l.tar'), '-C', tmp, name], process.env);
      assert.equal(r.code, 0, r.stderr);
      return await readFile(join(tmp, 'l.tar'));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  };
  const base = await readFile(await busyboxTarPath());
  const hello = await fileTar('hello', 'hello from zstd and amd64\n');
  const zstdBase = await put(zstdCompress(base));
  const gzHello = await put(gzipSync(hello));
  const image = async (arch: string, layers: Array<{ tar: Buffer; blob: { digest: string; size: number }; mediaType: string }>): Promise<{ digest: string; size: number }> => {
    const config = await put(Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l.tar)) } })));
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: l.mediaType, ...l.blob })),
    };
    return put(Buffer.from(JSON.stringify(manifest)));
  };
  const amd64 = await image('amd64', [
    { tar: base, blob: zstdBase, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' },
    { tar: hello, blob: gzHello, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
  ]);
  const armTar = await fileTar('hello', 'arm64\n');
  const arm64 = await image('arm64', [{ tar: armTar, blob: await put(gzipSync(armTar)), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
  const statement = await put(Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}'));
  const attConfig = await put(Buffer.from(JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [statement.digest] } })));
  const attestation = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...attConfig },
        layers: [{ mediaType: 'application/vnd.in-toto+json', ...statement }],
      }),
    ),
  );
  const m = 'application/vnd.oci.image.manifest.v1+json';
  const indexBlob = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: m, ...arm64, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
          { mediaType: m, ...attestation, platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.digest } },
          { mediaType: m, ...amd64, platform: { architecture: 'amd64', os: 'linux' } },
        ],
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...indexBlob, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  return indexBlob.digest;
}
