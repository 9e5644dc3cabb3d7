import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importBusybox, mountsUnder, repoRoot, run, startDaemon, type Daemon } from './harness.js';
import { twoStageIn } from './build-context.js';

/**
 * The builder through its other clients against a private pierd: docker-py, `pier build`,
 * dockerode and the raw wire; remote and mounted sources; the cache taken from an image;
 * a daemon killed mid-build; the cache pruned.
 */

describe('docker build through pierd: other clients, sources and the cache', () => {
  let d: Daemon;
  let work: string;
  const env = { DOCKER_BUILDKIT: '0' };
  const twoStage = (name: string): Promise<string> => twoStageIn(work, name);
  const build = (args: string[], dir: string) => d.docker(['build', ...args, dir], { env, timeoutMs: 120_000 });

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = await mkdtemp('/tmp/pbt-');
  });
  after(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('docker-py images.build() returns the image', async () => {
    const dir = await twoStage('py');
    const script = [
      'import docker, sys',
      `c = docker.DockerClient(base_url="unix://${d.socket}")`,
      `img, logs = c.images.build(path=sys.argv[1], tag="py:1")`,
      'print(img.id)',
      'print(img.tags)',
    ].join('\n');
    const r = await run('/usr/bin/python3', ['-c', script, dir], { ...process.env }, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const [imageId, tags] = r.stdout.trim().split('\n');
    assert.match(imageId!, /^sha256:[0-9a-f]{64}$/);
    assert.ok(tags!.includes("'py:1'"), tags);
  });

  test('pier build: one line per step, cached steps, secrets, the failing step and its code', async () => {
    const dir = join(work, 'pier');
    await mkdir(dir);
    await writeFile(join(work, 'token'), 's3cret');
    await writeFile(
      join(dir, 'Dockerfile'),
      ['FROM busybox', 'RUN --mount=type=secret,id=token,required=true cat /run/secrets/token > /seen', 'LABEL built-by=pier', 'CMD ["cat", "/seen"]', ''].join('\n'),
    );
    const first = await d.pier(['build', '--secret', `id=token,src=${join(work, 'token')}`, '-t', 'pierbuilt', '--iidfile', join(work, 'pier.iid'), dir]);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.doesNotMatch(first.stdout, /s3cret/, 'the default progress shows no step output');
    assert.match(first.stdout, /^\[1\/4\] FROM busybox {2}\d+\.\ds\n/m);
    assert.match(first.stdout, /^\[2\/4\] RUN --mount=type=secret,id=token,required=true cat \/run\/secrets\/token > \/seen {2}\d+\.\ds\n/m);
    assert.match(first.stdout, /Successfully tagged pierbuilt:latest\n/);
    assert.match(await readFile(join(work, 'pier.iid'), 'utf8'), /^sha256:[0-9a-f]{64}$/);
    const seen = await d.docker(['run', '--rm', 'pierbuilt']);
    assert.equal(seen.stdout, 's3cret');
    const history = await d.docker(['history', '--no-trunc', 'pierbuilt']);
    assert.doesNotMatch(history.stdout, /s3cret/);

    const again = await d.pier(['build', '--secret', `id=token,src=${join(work, 'token')}`, '-t', 'pierbuilt', dir]);
    assert.match(again.stdout, /^\[2\/4\] RUN .* {2}CACHED\n/m);
    const plain = await d.pier(['build', '--progress=plain', '--no-cache', '--secret', `id=token,src=${join(work, 'token')}`, '-t', 'pierbuilt', dir]);
    assert.match(plain.stdout, /^\[2\/4\] RUN --mount=type=secret,id=token,required=true cat \/run\/secrets\/token > \/seen\n\[2\/4\] DONE \d+\.\ds\n/m);
    // Through the classic API (docker CLI) there is no way to send the secret: a clear error.
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN --mount=type=secret,id=other,required=true cat /run/secrets/other\n');
    const noSecret = await build([], dir);
    assert.notEqual(noSecret.code, 0);
    assert.match(noSecret.stderr, /secret other not found: the classic build API cannot carry secrets/);

    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo working; echo oops >&2; exit 7\n');
    const failed = await d.pier(['build', '-t', 'pierbuilt', dir]);
    assert.equal(failed.code, 7, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /\[2\/2\] RUN echo working; echo oops >&2; exit 7 {2}FAILED after/);
    assert.match(failed.stderr, /working\n/);
    assert.match(failed.stderr, /ERROR: The command '\/bin\/sh -c echo working; echo oops >&2; exit 7' returned a non-zero code: 7/);
    const commit = await d.pier(['builder', 'prune', '-f']);
    assert.equal(commit.code, 0, commit.stderr);
    assert.match(commit.stdout, /Total reclaimed space: /);
  });

  test('dockerode builds through pierd', async () => {
    const dir = join(work, 'dockerode');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo dockerode > /by\nCMD ["cat", "/by"]\n');
    const script = `
      const Docker = require('dockerode');
      const docker = new Docker({ socketPath: ${JSON.stringify(d.socket)} });
      (async () => {
        const stream = await docker.buildImage({ context: ${JSON.stringify(dir)}, src: ['Dockerfile'] }, { t: 'dockerode:1' });
        const out = await new Promise((ok, fail) => docker.modem.followProgress(stream, (err, res) => (err ? fail(err) : ok(res))));
        const aux = out.find((m) => m.aux && m.aux.ID);
        const img = await docker.getImage('dockerode:1').inspect();
        console.log(aux.aux.ID === img.Id ? 'same' : 'different', img.Config.Cmd.join(' '));
      })().catch((e) => { console.error(e); process.exit(1); });
    `;
    const r = await run(process.execPath, ['-e', script], { ...process.env, NODE_PATH: join(repoRoot, 'node_modules') }, { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'same cat /by\n');
  });

  test('the wire: a gzip context over POST /build gives the classic JSON stream', async () => {
    const dir = join(work, 'wire');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo out\n');
    const tgz = join(work, 'wire.tgz');
    assert.equal((await run('tar', ['-C', dir, '-czf', tgz, '.'], process.env)).code, 0);
    const r = await run('curl', ['-sS', '--unix-socket', d.socket, '-X', 'POST', '-H', 'Content-Type: application/x-tar', '--data-binary', `@${tgz}`, 'http://pier/v1.51/build?t=wire&nocache=1'], process.env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\r\n').filter((l) => l !== '');
    const msgs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(msgs[0], { stream: 'Step 1/2 : FROM busybox\n' });
    assert.match(String(msgs[1]!.stream), /^ ---> [0-9a-f]{12}\n$/);
    assert.deepEqual(msgs[2], { stream: 'Step 2/2 : RUN echo out\n' });
    assert.match(String(msgs[3]!.stream), /^ ---> Running in [0-9a-f]{12}\n$/);
    assert.deepEqual(msgs[4], { stream: 'out\n' });
    assert.match(String(msgs[5]!.stream), /^ ---> Removed intermediate container [0-9a-f]{12}\n$/);
    const aux = msgs.find((m) => m.aux !== undefined) as { aux: { ID: string } };
    assert.match(aux.aux.ID, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(msgs.slice(-2), [{ stream: `Successfully built ${aux.aux.ID.slice(7, 19)}\n` }, { stream: 'Successfully tagged wire:latest\n' }]);

    // A bare Dockerfile as the body, as Docker accepts it.
    const bare = await run('curl', ['-sS', '--unix-socket', d.socket, '-X', 'POST', '--data-binary', `@${join(dir, 'Dockerfile')}`, 'http://pier/v1.51/build?t=bare'], process.env);
    assert.match(bare.stdout, /"stream":"Successfully tagged bare:latest\\n"/);
    const arm = await run('curl', ['-sS', '-w', '%{http_code}', '--unix-socket', d.socket, '-X', 'POST', '--data-binary', `@${tgz}`, 'http://pier/v1.51/build?platform=linux/s390x'], process.env);
    assert.match(arm.stdout, /pier builds for linux\/\w+ only.*400$/s);
    const bad = await run('curl', ['-sS', '-w', '%{http_code}', '--unix-socket', d.socket, '-X', 'POST', '--data-binary', `@${tgz}`, 'http://pier/v1.51/build?version=2'], process.env);
    assert.match(bad.stdout, /BuildKit \(version=2\) is not supported.*400$/s);
  });

  test('ADD of a URL, RUN --mount=type=cache|bind (context and stage) and --network=none', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end(`fetched ${req.url ?? ''}`);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const port = (server.address() as AddressInfo).port;
      const dir = join(work, 'url');
      await mkdir(join(dir, 'sub'), { recursive: true });
      await writeFile(join(dir, 'sub', 'inner.txt'), 'bound\n');
      await writeFile(
        join(dir, 'Dockerfile'),
        [
          'FROM busybox AS tools',
          'RUN mkdir /out && echo from-stage > /out/f',
          'FROM busybox',
          `ADD http://127.0.0.1:${port}/files/remote.txt /downloads/`,
          'RUN --mount=type=cache,target=/cache echo run1 >> /cache/log && cat /cache/log > /seen1',
          'RUN --mount=type=cache,target=/cache echo run2 >> /cache/log && cat /cache/log > /seen2',
          'RUN --network=none ip link | grep -c "^[0-9]*:" > /links',
          'RUN --mount=type=bind,source=sub,target=/mnt cat /mnt/inner.txt > /bound && ! touch /mnt/ro 2>/dev/null',
          'RUN --mount=type=bind,from=tools,source=/out,target=/t cat /t/f >> /bound',
          'CMD ["sh", "-c", "cat /downloads/remote.txt; echo; stat -c %a /downloads/remote.txt; cat /seen2 /links /bound; ls /cache | wc -l"]',
          '',
        ].join('\n'),
      );
      const r = await build(['-t', 'url'], dir);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const out = await d.docker(['run', '--rm', 'url']);
      assert.equal(out.stdout, 'fetched /files/remote.txt\n600\nrun1\nrun2\n1\nbound\nfrom-stage\n0\n');
      // A bind-mounted context file is part of the RUN's cache key.
      await writeFile(join(dir, 'sub', 'inner.txt'), 'bound again\n');
      const again = await build(['-t', 'url'], dir);
      assert.equal(again.code, 0, again.stderr);
      const out2 = await d.docker(['run', '--rm', 'url']);
      assert.match(out2.stdout, /\nbound again\nfrom-stage\n/);
    } finally {
      server.close();
    }
  });

  test('--cache-from reuses the steps of a given image when the local cache is empty', async () => {
    const dir = await twoStage('cachefrom');
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nENV X=1\nCOPY msg.txt /msg\nRUN cat /msg > /copy\nCMD ["cat", "/copy"]\n');
    const first = await build(['-t', 'cf:1'], dir);
    assert.equal(first.code, 0, first.stderr);
    const id = /Successfully built ([0-9a-f]{12})/.exec(first.stdout)![1]!;
    assert.equal((await d.docker(['builder', 'prune', '-f'], { env })).code, 0);
    const withFrom = await build(['--cache-from', 'cf:1', '-t', 'cf:3'], dir);
    assert.equal(withFrom.code, 0, withFrom.stderr);
    assert.equal((withFrom.stdout.match(/Using cache/g) ?? []).length, 4, withFrom.stdout);
    assert.doesNotMatch(withFrom.stdout, /Running in/);
    assert.match(withFrom.stdout, new RegExp(`Successfully built ${id}`));
    assert.equal((await d.docker(['builder', 'prune', '-f'], { env })).code, 0);
    const without = await build(['-t', 'cf:2'], dir);
    assert.doesNotMatch(without.stdout, /Using cache/, 'without --cache-from, the pruned cache gives nothing');
  });

  test('a daemon killed during a RUN leaves nothing behind once it restarts', async () => {
    const dir = join(work, 'crash');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo started && sleep 60\n');
    const building = build(['-t', 'crash'], dir);
    const mnt = join(d.root, 'build', 'mnt');
    const execDir = join(d.execRoot, 'build');
    let running = false;
    for (let i = 0; i < 200 && !running; i++) {
      running = (await readdir(execDir).catch(() => [])).length > 0 && (await readdir(mnt).catch(() => [])).length > 0;
      if (!running) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(running, 'the RUN step started');
    await new Promise((res) => setTimeout(res, 300));
    await d.kill9();
    const r = await building;
    assert.notEqual(r.code, 0);
    await d.restart();
    assert.deepEqual(await readdir(mnt), []);
    assert.deepEqual(await readdir(execDir), []);
    assert.deepEqual(await mountsUnder(join(d.root, 'build')), []);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo after-restart\n');
    const again = await build(['-t', 'crash'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /after-restart/);
  });

  test('POST /build/prune forgets the cache', async () => {
    const dir = await twoStage('prune');
    const r = await build(['-t', 'prune:1'], dir);
    assert.equal(r.code, 0, r.stderr);
    const prune = await d.docker(['builder', 'prune', '-f'], { env });
    assert.equal(prune.code, 0, prune.stderr);
    const again = await build(['-t', 'prune:1'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /Using cache/);
  });
});
