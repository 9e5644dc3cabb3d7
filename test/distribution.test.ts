import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { importBusybox, startDaemon, type Daemon } from './harness.js';
import { startRegistry, type Registry } from './registry.js';

/** Pull and push through pierd against Debian's docker-registry on loopback, driven by the docker CLI. */
describe('registries: docker push and pull through pierd', () => {
  let d: Daemon;
  let reg: Registry;
  before(async () => {
    reg = await startRegistry();
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test('push an imported image, remove it, pull it back and run it', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    assert.equal((await d.docker(['tag', 'busybox', name])).code, 0);
    const push = await d.docker(['push', name]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.host}/tools/busybox\\]`));
    assert.match(push.stdout, /[0-9a-f]{12}: Pushed/);
    const m = /1: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
    assert.ok(m, push.stdout);
    const digest = m[1]!;

    // A second push compresses nothing and uploads nothing.
    const again = await d.docker(['push', name]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Layer already exists/);
    assert.match(again.stdout, new RegExp(`1: digest: ${digest}`), 'same manifest: the compressed layer was remembered');

    // Another repository of the same registry: the layer is mounted, not uploaded.
    const other = `${reg.host}/other/bb:2`;
    assert.equal((await d.docker(['tag', 'busybox', other])).code, 0);
    const mounted = await d.docker(['push', other]);
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.match(mounted.stdout, /Mounted from tools\/busybox/);

    assert.equal((await d.docker(['rmi', name, other, 'busybox'])).code, 0);
    const pull = await d.docker(['pull', name]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /1: Pulling from tools\/busybox/);
    assert.match(pull.stdout, /[0-9a-f]{12}: Pull complete/);
    assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
    assert.match(pull.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/tools/busybox:1`));

    const inspect = await d.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', name]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.deepEqual(JSON.parse(inspect.stdout), [`${reg.host}/tools/busybox@${digest}`]);

    const r = await d.docker(['run', '--rm', name, 'echo', 'pulled and running']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled and running\n');

    const up = await d.docker(['pull', name]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /Status: Image is up to date/);
  });

  test('docker run pulls a missing image', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    await d.docker(['rmi', '-f', name]);
    const r = await d.docker(['run', '--rm', name, 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, new RegExp(`Unable to find image '${name}' locally`));
    assert.match(r.stderr, /Pull complete/);
  });

  test('GET /distribution/{name}/json describes the remote image', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    const info = await fetchJson(d, `/distribution/${name}/json`);
    assert.match((info.Descriptor as { digest: string }).digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(info.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
  });

  test('a missing tag and a registry that is down are named in the error', async () => {
    const missing = await d.docker(['pull', `${reg.host}/tools/busybox:nope`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, new RegExp(`manifest for ${reg.host}/tools/busybox:nope not found`));
    const down = await d.docker(['pull', '127.0.0.1:1/x:1']);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /registry 127\.0\.0\.1:1 is not reachable.*ECONNREFUSED/);
  });
});

async function fetchJson(d: Daemon, path: string): Promise<Record<string, unknown>> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text) as Record<string, unknown>);
      });
    });
    req.on('error', reject);
    req.end();
  });
}
