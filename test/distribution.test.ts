import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { access, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarPath, importBusybox, run, startDaemon, type Daemon } from './harness.js';
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

    // The layer was compressed for the push, into the content store; it goes with the last image of that layer.
    const layersJson = join(d.root, 'distribution', 'layers.json');
    const compressed = Object.values((JSON.parse(await readFile(layersJson, 'utf8')) as { compressed: Record<string, { digest: string }> }).compressed).map((l) => l.digest);
    assert.equal(compressed.length, 1);
    const blobFile = join(d.root, 'content', 'blobs', 'sha256', compressed[0]!.replace('sha256:', ''));
    await access(blobFile);
    assert.equal((await d.docker(['rmi', name, other])).code, 0);
    await access(blobFile);
    assert.equal((await d.docker(['rmi', 'busybox'])).code, 0);
    await waitFor(async () => !(await exists(blobFile)), 'the compressed blob is removed');
    // Its digest is remembered: the same layer imported again is mounted from the registry, not compressed again.
    await importBusybox(d);
    const third = `${reg.host}/third/bb:3`;
    assert.equal((await d.docker(['tag', 'busybox', third])).code, 0);
    const remount = await d.docker(['push', third]);
    assert.equal(remount.code, 0, remount.stderr);
    assert.match(remount.stdout, /Mounted from (tools\/busybox|other\/bb)/);
    assert.doesNotMatch(remount.stdout, /Pushing/);
    assert.equal(await exists(blobFile), false);
    assert.equal((await d.docker(['rmi', third, 'busybox'])).code, 0);

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

    // By digest: the same image, found by its repo digest.
    const byDigest = await d.docker(['pull', `${reg.host}/tools/busybox@${digest}`]);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    const same = await d.docker(['image', 'inspect', '--format', '{{.Id}}', `${reg.host}/tools/busybox@${digest}`]);
    assert.equal(same.stdout, (await d.docker(['image', 'inspect', '--format', '{{.Id}}', name])).stdout);
  });

  test('docker run pulls a missing image', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    await d.docker(['rmi', '-f', name]);
    const r = await d.docker(['run', '--rm', name, 'echo', 'hi']);
    assert.equal(r.code, 0, `${r.stderr}\n${await d.log()}`);
    assert.equal(r.stdout, 'hi\n');
    assert.match(r.stderr, new RegExp(`Unable to find image '${name}' locally`));
    assert.match(r.stderr, /Pull complete/);
  });

  test('docker build pulls a FROM image it does not have', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    await d.docker(['rmi', '-f', name]);
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const ctx = await mkdtemp('/tmp/ptb-');
    try {
      await writeFile(`${ctx}/Dockerfile`, `FROM ${name}\nRUN echo built-on-pulled > /f\nCMD ["cat", "/f"]\n`);
      const b = await d.docker(['build', '-t', 'frompull:1', ctx]);
      assert.equal(b.code, 0, b.stderr + b.stdout);
      assert.match(b.stdout, /Pull complete/);
      assert.equal((await d.docker(['run', '--rm', 'frompull:1'])).stdout, 'built-on-pulled\n');
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  test('GET /distribution/{name}/json describes the remote image', async () => {
    const name = `${reg.host}/tools/busybox:1`;
    const info = await fetchJson(d, `/distribution/${name}/json`);
    assert.match((info.Descriptor as { digest: string }).digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(info.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
  });

  test('a compressed layer cut short on disk (a crash after a push) is compressed again at the next push', async (t) => {
    // A layer of its own: a file of random bytes on top of nothing.
    const dir = await mkdtemp('/tmp/pheal-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    const payload = createHash('sha256').update(String(Math.random())).digest('hex').repeat(4000);
    await writeFile(join(dir, 'payload'), payload);
    assert.equal((await run('tar', ['-cf', join(dir, 'l.tar'), '-C', dir, 'payload'], process.env)).code, 0);
    assert.equal((await d.docker(['import', join(dir, 'l.tar'), 'heal:1'])).code, 0);
    const first = `${reg.host}/heal/x:1`;
    assert.equal((await d.docker(['tag', 'heal:1', first])).code, 0);
    const pushed = await d.docker(['push', first]);
    assert.equal(pushed.code, 0, pushed.stderr);

    const diffId = (JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'heal:1'])).stdout) as string[])[0]!;
    const layersJson = JSON.parse(await readFile(join(d.root, 'distribution', 'layers.json'), 'utf8')) as { compressed: Record<string, { digest: string }> };
    const blobFile = join(d.root, 'content', 'blobs', 'sha256', layersJson.compressed[diffId]!.digest.replace('sha256:', ''));
    const whole = await readFile(blobFile);
    await writeFile(blobFile, whole.subarray(0, whole.length >> 1));

    // To a registry that has none of it: the damaged blob is found on the way and made again.
    const reg2 = await startRegistry();
    t.after(() => reg2.stop());
    const second = `${reg2.host}/heal/x:1`;
    assert.equal((await d.docker(['tag', 'heal:1', second])).code, 0);
    const again = await d.docker(['push', second]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Pushed/);
    assert.deepEqual(await readFile(blobFile), whole, 'compressed again to the same bytes');

    assert.equal((await d.docker(['rmi', first, second, 'heal:1'])).code, 0);
    assert.equal((await d.docker(['pull', second])).code, 0);
    const copy = await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', second]);
    assert.deepEqual(JSON.parse(copy.stdout), [diffId], 'the registry had the whole layer: it unpacks to the same DiffID');
    assert.equal((await d.docker(['rmi', second])).code, 0);
  });

  test('a pull is flushed after it; after a restart of the machine its layers are unpacked again', async (t) => {
    const dir = await mkdtemp('/tmp/pflush-');
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'hello'), 'hello from a pulled layer\n');
    assert.equal((await run('tar', ['-cf', join(dir, 'l.tar'), '-C', dir, 'hello'], process.env)).code, 0);
    assert.equal((await d.docker(['import', join(dir, 'l.tar'), 'flushme:1'])).code, 0);
    const name = `${reg.host}/flush/me:1`;
    assert.equal((await d.docker(['tag', 'flushme:1', name])).code, 0);
    assert.equal((await d.docker(['push', name])).code, 0);
    assert.equal((await d.docker(['rmi', name, 'flushme:1'])).code, 0);

    const pulled = await d.docker(['pull', name]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const journal = join(d.root, 'unflushed.json');
    await waitFor(async () => !(await exists(journal)), 'the journal is gone once the pull is flushed');

    // The machine went down right after the pull: its journal names another boot, and a file lost its data.
    const diffId = (JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', name])).stdout) as string[])[0]!;
    const layerFile = join(d.root, 'snapshots', diffId.replace('sha256:', ''), 'fs', 'hello');
    await writeFile(layerFile, '');
    await writeFile(journal, JSON.stringify({ bootId: 'an-earlier-boot', blobs: [], chains: [diffId] }));
    await d.restart();
    assert.equal(await readFile(layerFile, 'utf8'), 'hello from a pulled layer\n');
    assert.equal(await exists(journal), false);
    assert.match(await d.log(), /unpacking its layers again/);
    assert.equal((await d.docker(['rmi', name])).code, 0);
  });

  test('a missing tag and a registry that is down are named in the error', async () => {
    const missing = await d.docker(['pull', `${reg.host}/tools/busybox:nope`]);
    assert.notEqual(missing.code, 0);
    // The daemon answers it as an HTTP error, before any progress ("Pulling from" comes once the
    // registry has served the manifest), so the CLI prints nothing else.
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, new RegExp(`^Error response from daemon: manifest for ${reg.host}/tools/busybox:nope not found`));
    const down = await d.docker(['pull', '127.0.0.1:1/x:1']);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /registry 127\.0\.0\.1:1 is not reachable.*ECONNREFUSED/);
  });
});

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Poll `cond` for up to 5 s (what pierd does after a reply, such as a collection). */
async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

/** pier's tag versions: every move of a tag is remembered, rollback moves it back, prune keeps the versions. */
describe('tag versions and rollback', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('tag app:1 to three images, list three versions, roll back twice, prune keeps them, containers of each work', async () => {
    const ids: string[] = [];
    for (const word of ['one', 'two', 'three']) ids.push(await importVersion(d, 'app:1', word));
    assert.equal(new Set(ids).size, 3, `three distinct images: ${ids.join(' ')}`);
    const v = await d.pier(['image', 'versions', 'app:1']);
    assert.equal(v.code, 0, v.stderr);
    const rows = v.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^VERSION\s+IMAGE ID\s+TAGGED\s+CAUSE\s+STATUS$/);
    assert.equal(rows.length, 4, v.stdout);
    assert.match(rows[1]!, new RegExp(`^3\\s+${ids[2]!.slice(7, 19)}\\s.*current$`));
    assert.match(rows[3]!, new RegExp(`^1\\s+${ids[0]!.slice(7, 19)}\\s.*kept$`));

    // A container of each version, created before the rollbacks.
    for (const [i, id] of ids.entries()) assert.equal((await d.docker(['create', '--name', `v${i}`, id, 'cat', '/version'])).code, 0);

    const r1 = await d.pier(['image', 'rollback', 'app:1']);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, /app:1: rolled back to version 2/);
    const r2 = await d.pier(['image', 'rollback', 'app:1']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /rolled back to version 1/);
    const now = await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'app:1']);
    assert.equal(now.stdout.trim(), ids[0]);

    const prune = await d.pier(['image', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /Kept Images:/);
    assert.match(prune.stdout, new RegExp(`kept: ${ids[2]} \\(version 3 of app:1, kept for rollback`));
    const dockerPrune = await d.docker(['image', 'prune', '-f']);
    assert.equal(dockerPrune.code, 0, dockerPrune.stderr);
    for (const id of ids) assert.equal((await d.docker(['image', 'inspect', id])).code, 0, `version ${id} survived the prunes`);

    for (const [i, word] of ['one', 'two', 'three'].entries()) {
      const s = await d.docker(['start', '-a', `v${i}`]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.stdout, `${word}\n`);
    }
    const to3 = await d.pier(['image', 'rollback', 'app:1', '--to', '3']);
    assert.equal(to3.code, 0, to3.stderr);
    const bad = await d.pier(['image', 'rollback', 'app:1', '--to', '7']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /app:1 has no version 7/);
    const none = await d.pier(['image', 'versions', 'nothing:here']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /No versions of nothing:here/);
  });
});

/** Registries that want credentials: Basic (htpasswd) and token auth. */
describe('registry authentication', () => {
  let d: Daemon;
  const regs: Registry[] = [];
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
    for (const r of regs) await r.stop();
  });

  for (const kind of ['basic', 'token'] as const) {
    test(`${kind} auth: docker login, push, pull and run; wrong credentials are refused`, async () => {
      const reg = await startRegistry({ auth: kind, user: 'tester', password: 'secret-pw' });
      regs.push(reg);
      const name = `${reg.host}/private/bb:${kind}`;
      assert.equal((await d.docker(['tag', 'busybox', name])).code, 0);
      const anon = await d.docker(['push', name]);
      assert.notEqual(anon.code, 0, 'anonymous push refused');
      assert.match(anon.stdout + anon.stderr, /unauthorized|authentication required|denied/i);

      const wrong = await d.docker(['login', '-u', 'tester', '--password-stdin', reg.host], { input: 'wrong\n' });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /unauthorized|incorrect/i);

      const login = await d.docker(['login', '-u', 'tester', '--password-stdin', reg.host], { input: 'secret-pw\n' });
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login Succeeded/);
      const push = await d.docker(['push', name]);
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await d.docker(['rmi', name])).code, 0);
      const pull = await d.docker(['pull', name]);
      assert.equal(pull.code, 0, pull.stderr);
      const r = await d.docker(['run', '--rm', name, 'echo', kind]);
      assert.equal(r.stdout, `${kind}\n`, r.stderr);
      if (kind === 'token') assert.ok(reg.tokenRequests.some((q) => q.includes('scope=repository%3Aprivate%2Fbb%3Apull%2Cpush')), reg.tokenRequests.join('\n'));

      // pier's own login reads and writes the same config.json.
      const out = await d.pier(['logout', reg.host]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`Removing login credentials for ${reg.host}`));
      const pierLogin = await d.pier(['login', '-u', 'tester', '--password-stdin', reg.host], { input: 'secret-pw\n' });
      assert.equal(pierLogin.code, 0, pierLogin.stderr);
      assert.equal((await d.docker(['rmi', name])).code, 0);
      const pierPull = await d.pier(['pull', '-q', name]);
      assert.equal(pierPull.code, 0, pierPull.stderr);
      assert.equal(pierPull.stdout, `${reg.host}/private/bb:${kind}\n`);

      // docker build sends every stored credential (X-Registry-Config): FROM pulls with them.
      assert.equal((await d.docker(['rmi', name])).code, 0);
      const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
      const ctx = await mkdtemp('/tmp/ptb-');
      try {
        await writeFile(`${ctx}/Dockerfile`, `FROM ${name}\nCMD ["echo", "from-${kind}"]\n`);
        const b = await d.docker(['build', '-t', `fromauth:${kind}`, ctx]);
        assert.equal(b.code, 0, b.stderr + b.stdout);
        assert.match(b.stdout, /Pull complete|Already exists/);
        assert.equal((await d.docker(['run', '--rm', `fromauth:${kind}`])).stdout, `from-${kind}\n`);
      } finally {
        await rm(ctx, { recursive: true, force: true });
      }
    });
  }
});

/** Import busybox plus a file /version holding `word` as `ref`; resolves with the image ID. */
async function importVersion(d: Daemon, ref: string, word: string): Promise<string> {
  const dir = await mkdtemp('/tmp/pv-');
  try {
    const tar = join(dir, 'rootfs.tar');
    await copyFile(await busyboxTarPath(), tar);
    await writeFile(join(dir, 'version'), `${word}\n`);
    const r = await run('tar', ['-rf', tar, '-C', dir, 'version'], process.env);
    assert.equal(r.code, 0, r.stderr);
    const imp = await d.docker(['import', '--change', 'CMD ["sh"]', '-', ref], { input: createReadStream(tar) });
    assert.equal(imp.code, 0, imp.stderr);
    return imp.stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
