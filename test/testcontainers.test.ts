import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

type Testcontainers = typeof import('testcontainers');

/**
 * The npm `testcontainers` package, unchanged, against a private pierd: what a Node project's
 * integration tests do with a Docker engine. testcontainers finds its engine once per process, from
 * DOCKER_HOST, so the daemon starts before the package is first used. Ryuk (its reaper, an image
 * from Docker Hub) is turned off: these machines reach no registry but loopback ones, and a faithful
 * stand-in needs a Docker API client inside the image, which busybox has not (its nc and wget speak
 * no unix sockets). TMPDIR points at the test's own directory, where testcontainers leaves its lock
 * files.
 */
describe('testcontainers against pierd', () => {
  let d: Daemon;
  let tc: Testcontainers;
  let tmp: string | undefined;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    tmp = await mkdtemp('/tmp/ptc-');
    process.env.TMPDIR = tmp;
    process.env.DOCKER_HOST = d.host;
    process.env.DOCKER_CONFIG = d.env.DOCKER_CONFIG;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    tc = await import('testcontainers');
  });
  after(async () => {
    try {
      await d?.stop();
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  });

  /** The container's state in pierd's list, or undefined when it is gone. */
  const state = async (id: string): Promise<string | undefined> => {
    const r = await d.docker(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.State}}']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim() || undefined;
  };

  test('an image built from a Dockerfile, its ports waited for, reached from the host, exec, restart, stop', async () => {
    const ctx = await mkdtemp(join(tmp!, 'context-'));
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM busybox',
        'RUN mkdir -p /www && echo "hello from pier" > /www/index.html',
        'EXPOSE 8080',
        'HEALTHCHECK --interval=1s --timeout=3s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1',
        'CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]',
        '',
      ].join('\n'),
    );
    const image = await tc.GenericContainer.fromDockerfile(ctx).build('tc-httpd:1', { deleteOnExit: false });
    // The default wait strategy: every exposed port listening, probed inside and from the host.
    const c = await image.withExposedPorts(8080).start();
    const port = c.getMappedPort(8080);
    assert.ok(port > 0);
    const res = await fetch(`http://${c.getHost()}:${port}/index.html`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from pier\n');

    const cat = await c.exec(['cat', '/www/index.html']);
    assert.deepEqual({ exitCode: cat.exitCode, output: cat.output }, { exitCode: 0, output: 'hello from pier\n' });
    const failing = await c.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(failing.exitCode, 3);
    assert.equal(failing.stdout, 'out\n');
    assert.equal(failing.stderr, 'err\n');

    // A restart: the ports are looked up and waited for again, and serve again.
    await c.restart();
    const again = await fetch(`http://${c.getHost()}:${c.getMappedPort(8080)}/index.html`);
    assert.equal(await again.text(), 'hello from pier\n');

    const labels = c.getLabels();
    assert.equal(labels['org.testcontainers'], 'true');
    const id = c.getId();
    assert.equal(await state(id), 'running');
    await c.stop();
    assert.equal(await state(id), undefined);
  });

  test('Wait.forLogMessage waits for the line, the times asked, and again after a restart', async () => {
    const started = Date.now();
    const c = await new tc.GenericContainer('busybox')
      .withCommand(['sh', '-c', 'echo starting; sleep 1; echo ready; sleep 1; echo ready; exec sleep 300'])
      .withWaitStrategy(tc.Wait.forLogMessage('ready', 2))
      .start();
    try {
      assert.ok(Date.now() - started >= 2000, 'start() returned before the second "ready"');
      const logs = await c.logs();
      const text = await new Promise<string>((resolve, reject) => {
        let out = '';
        logs.on('data', (chunk: Buffer | string) => {
          out += chunk.toString();
          if (out.includes('ready\nready\n')) resolve(out);
        });
        logs.on('error', reject);
        logs.on('end', () => resolve(out));
      });
      assert.match(text, /starting\nready\nready\n/);
      logs.destroy();
      // After a restart the strategy reads the logs since the new start (a fractional
      // `since`), so it waits for two new lines, not the two of the first run.
      const before = Date.now();
      await c.restart();
      assert.ok(Date.now() - before >= 2000, 'restart() returned before the second new "ready"');
    } finally {
      await c.stop();
    }
  });

  test("Wait.forHealthCheck: the image's HEALTHCHECK, a container's own, and one that fails", async () => {
    const fromImage = await new tc.GenericContainer('tc-httpd:1').withExposedPorts(8080).withWaitStrategy(tc.Wait.forHealthCheck()).start();
    try {
      const r = await d.docker(['inspect', '--format', '{{.State.Health.Status}}', fromImage.getId()]);
      assert.equal(r.stdout, 'healthy\n');
    } finally {
      await fromImage.stop();
    }

    const own = await new tc.GenericContainer('busybox')
      .withCommand(['sh', '-c', 'sleep 1; touch /tmp/ready; exec sleep 300'])
      .withHealthCheck({ test: ['CMD-SHELL', 'test -f /tmp/ready'], interval: 500, timeout: 1000, retries: 20 })
      .withWaitStrategy(tc.Wait.forHealthCheck())
      .start();
    try {
      const r = await d.docker(['inspect', '--format', '{{.State.Health.Status}} {{(index .State.Health.Log 0).ExitCode}}', own.getId()]);
      assert.match(r.stdout, /^healthy [01]\n$/);
    } finally {
      await own.stop();
    }

    // A container that turns unhealthy fails start(), and testcontainers removes it.
    await assert.rejects(
      new tc.GenericContainer('busybox')
        .withName('tc-unhealthy')
        .withCommand(['sleep', '300'])
        .withHealthCheck({ test: ['CMD', 'false'], interval: 300, timeout: 1000, retries: 2 })
        .withWaitStrategy(tc.Wait.forHealthCheck())
        .start(),
      /Health check failed: unhealthy/,
    );
    const gone = await d.docker(['ps', '-a', '--filter', 'name=tc-unhealthy', '--format', '{{.Names}}']);
    assert.equal(gone.stdout, '');
  });

  test('a network with an alias, files copied in and out', async () => {
    const net = await new tc.Network().start();
    try {
      const server = await new tc.GenericContainer('tc-httpd:1')
        .withNetwork(net)
        .withNetworkAliases('web')
        .withCopyContentToContainer([{ content: 'copied in\n', target: '/www/copied.txt' }])
        .withWaitStrategy(tc.Wait.forHealthCheck())
        .start();
      try {
        // With an alias, testcontainers creates the container on the default bridge and then connects it.
        assert.deepEqual(server.getNetworkNames().sort(), ['bridge', net.getName()].sort());
        const client = await new tc.GenericContainer('busybox').withNetwork(net).withCommand(['sleep', '300']).start();
        try {
          const got = await client.exec(['wget', '-q', '-O', '-', 'http://web:8080/copied.txt']);
          assert.deepEqual({ exitCode: got.exitCode, output: got.output }, { exitCode: 0, output: 'copied in\n' });
        } finally {
          await client.stop();
        }
        const files = await untar(await server.copyArchiveFromContainer('/www'));
        assert.equal(files.get('www/copied.txt'), 'copied in\n');
        assert.equal(files.get('www/index.html'), 'hello from pier\n');
      } finally {
        await server.stop();
      }
    } finally {
      await net.stop();
    }
    const left = await d.docker(['network', 'ls', '--filter', `name=${net.getName()}`, '--format', '{{.Name}}']);
    assert.equal(left.stdout, '');
  });
});

/** The regular files of a tar stream: name to content. */
async function untar(stream: NodeJS.ReadableStream): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const ex = extract();
  ex.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    body.on('end', () => {
      if (header.type === 'file') files.set(header.name, Buffer.concat(chunks).toString());
      next();
    });
  });
  await pipeline(stream, ex);
  return files;
}
