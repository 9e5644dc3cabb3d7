import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * `pier compose` against a private pierd: a three-service application brought up, one
 * service updated replica by replica behind its health check while another container keeps
 * requesting it by name, a failing update stopped, bad input refused, `down -v` leaving
 * nothing behind.
 */

const APP = `
name: app
services:
  web:
    image: \${WEB_IMAGE:-web:1}
    command: httpd -f -p 80 -h /www
    deploy:
      replicas: 2
      update_config: {order: start-first}
    healthcheck:
      test: wget -q -O /dev/null http://127.0.0.1/ || exit 1
      interval: 300ms
      timeout: 2s
      retries: 2
    stop_grace_period: 2s
    depends_on: [data]
  worker:
    image: busybox
    init: true
    command: sleep 3600
    depends_on:
      data: {condition: service_started}
  data:
    image: busybox
    init: true
    command: sh -c 'date > /data/started; exec sleep 3600'
    volumes: [data:/data]
volumes:
  data:
`;

describe('pier compose', () => {
  let d: Daemon;
  let dir: string;
  const compose = (args: string[], env: Record<string, string> = {}) => d.pier(['compose', '-f', join(dir, 'compose.yaml'), ...args], { env, timeoutMs: 120_000 });
  const idOf = async (name: string): Promise<string> => (await d.docker(['inspect', '-f', '{{.Id}}', name])).stdout.trim();

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    dir = await mkdtemp('/tmp/pier-compose-');
    // web:1, web:2 serve different pages; web:bad serves none, so its health check fails
    for (const [tag, script] of [['1', 'mkdir /www && echo v1 > /www/index.html'], ['2', 'mkdir /www && echo v2 > /www/index.html'], ['bad', 'mkdir /www']] as const) {
      const r = await d.docker(['run', '--name', `mk-${tag}`, '--network', 'none', 'busybox', 'sh', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await d.docker(['commit', `mk-${tag}`, `web:${tag}`])).code, 0);
      await d.docker(['rm', `mk-${tag}`]);
    }
    await writeFile(join(dir, 'compose.yaml'), APP);
  });
  after(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('up, a rolling update with no failed request, a failing update stopped, down -v', async () => {
    const up = await compose(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const ps = await compose(['ps']);
    assert.match(ps.stdout, /^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS\n/);
    assert.deepEqual(ps.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]), ['app-data-1', 'app-web-1', 'app-web-2', 'app-worker-1']);
    const labels = (await d.docker(['inspect', '-f', '{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.container-number"}} {{index .Config.Labels "com.docker.compose.oneoff"}}', 'app-web-2'])).stdout;
    assert.equal(labels, 'app web 2 False\n');
    assert.equal((await d.docker(['volume', 'inspect', '-f', '{{index .Labels "com.docker.compose.volume"}}', 'app_data'])).stdout, 'data\n');
    const kept = { worker: await idOf('app-worker-1'), data: await idOf('app-data-1') };
    const oldWeb = [await idOf('app-web-1'), await idOf('app-web-2')];

    // A client on the project network asks for `web` by name every 50 ms.
    const loop = await d.docker(['run', '-d', '--name', 'client', '--network', 'app_default', 'busybox', 'sh', '-c', 'while true; do wget -q -O - http://web/ 2>&1 || echo FAIL; sleep 0.05; done']);
    assert.equal(loop.code, 0, loop.stderr);
    const answers = async (): Promise<string[]> => (await d.docker(['logs', 'client'])).stdout.trim().split('\n');
    for (let i = 0; i < 100 && !(await answers()).includes('v1'); i++) await sleep(100);

    const update = await compose(['up', '-d', 'web'], { WEB_IMAGE: 'web:2' });
    assert.equal(update.code, 0, update.stderr);
    const newWeb = [await idOf('app-web-1'), await idOf('app-web-2')];
    assert.ok(newWeb.every((id) => id && !oldWeb.includes(id)), 'both replicas replaced');
    assert.deepEqual({ worker: await idOf('app-worker-1'), data: await idOf('app-data-1') }, kept, 'the other services keep their containers');
    for (let i = 0; i < 50 && (await answers()).at(-1) !== 'v2'; i++) await sleep(100);
    let seen = await answers();
    assert.equal(seen.filter((l) => l !== 'v1' && l !== 'v2').length, 0, `no failed request: ${seen.filter((l) => l !== 'v1' && l !== 'v2').slice(0, 5).join(' | ')}`);
    assert.equal(seen.at(-1), 'v2');

    const bad = await compose(['up', '-d', 'web'], { WEB_IMAGE: 'web:bad' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /service "web": update stopped: the successor of app-web-1 did not become ready: container \S+ is unhealthy.*0 of 2 replicas updated, 2 still run the previous version/);
    assert.deepEqual([await idOf('app-web-1'), await idOf('app-web-2')], newWeb, 'the serving replicas are left alone');
    const count = (await compose(['ps', '-a', '-q'])).stdout.trim().split('\n').length;
    assert.equal(count, 4, 'the failed successor was removed');
    const before = (await answers()).length;
    for (let i = 0; i < 50 && (await answers()).length < before + 5; i++) await sleep(100);
    seen = await answers();
    assert.equal(seen.filter((l) => l !== 'v1' && l !== 'v2').length, 0);
    assert.equal(seen.at(-1), 'v2');
    await d.docker(['rm', '-f', 'client']);

    const down = await compose(['down', '-v']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await d.docker(['ps', '-aq', '--filter', 'label=com.docker.compose.project=app'])).stdout, '');
    assert.equal((await d.docker(['network', 'ls', '-q', '--filter', 'name=app_default'])).stdout, '');
    assert.equal((await d.docker(['volume', 'ls', '-q'])).stdout, '');
  });

  test('bad input: the key and line, a cycle, a missing image stopping up --wait with nothing removed', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'));
    const cfg = (args: string[]) => d.pier(['compose', '--project-directory', sub, '-f', join(sub, 'compose.yaml'), ...args], { timeoutMs: 60_000 });
    await writeFile(join(sub, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n    imagee: busybox\n');
    let r = await cfg(['config']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /compose\.yaml:4: services\.web\.imagee: additional property "imagee" is not allowed/);
    await writeFile(join(sub, 'compose.yaml'), 'services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [a]}\n');
    r = await cfg(['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dependency cycle detected: a -> b -> a/);

    await writeFile(join(sub, 'compose.yaml'), 'name: miss\nservices:\n  ok: {image: busybox, init: true, command: sleep 3600}\n');
    r = await cfg(['up', '-d']);
    assert.equal(r.code, 0, r.stderr);
    const ok = await idOf('miss-ok-1');
    await writeFile(join(sub, 'compose.yaml'), 'name: miss\nservices:\n  ok: {image: busybox, init: true, command: sleep 3600}\n  gone: {image: "127.0.0.1:1/nosuch:1"}\n');
    r = await cfg(['up', '-d', '--wait']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /service "gone": image 127\.0\.0\.1:1\/nosuch:1 could not be pulled: /);
    assert.equal(await idOf('miss-ok-1'), ok);
    assert.equal((await d.docker(['inspect', '-f', '{{.State.Status}}', 'miss-ok-1'])).stdout, 'running\n');
    r = await cfg(['down']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await d.docker(['ps', '-aq', '--filter', 'label=com.docker.compose.project=miss'])).stdout, '');
  });
});
