import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { networkTag } from '../src/networks/bridge.js';
import { importBusybox, run, startDaemon, type Daemon, type RunResult } from './harness.js';
import { freePort } from './registry.js';

const exec = promisify(execFile);

/**
 * docker-compose 1.29 (Debian's, unchanged) against a private pierd: a project built from a
 * local Dockerfile with a published port, a health-gated dependency, a named volume, the
 * network modes none, host and service:x, one-off runs, scaling, a recreate of the one service
 * whose definition changed, and `down -v --rmi local` leaving no container, network, volume,
 * link or netfilter rule of the project behind.
 */

const DOCKERFILE = `FROM busybox
RUN mkdir -p /www && echo hello-from-web > /www/index.html
HEALTHCHECK --interval=1s --timeout=2s CMD wget -q -O /dev/null http://127.0.0.1:80/ || exit 1
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
`;

const project = (port: number, clientPause: number): string => `version: "3.8"
services:
  web:
    build: ./web
    ports: ["127.0.0.1:${port}:80"]
    environment:
      MODE: prod
    restart: unless-stopped
    init: true
  client:
    image: busybox
    command: sh -c 'while true; do wget -q -O - http://web/; sleep ${clientPause}; done'
    depends_on:
      web:
        condition: service_healthy
    volumes: ["data:/data"]
  worker:
    image: busybox
    command: sh -c 'echo worker on $$(hostname); exec sleep 3600'
    healthcheck:
      test: ["CMD", "test", "-d", "/proc/1"]
      interval: 500ms
      timeout: 2s
      retries: 2
  side:
    image: busybox
    command: sleep 3600
    network_mode: service:web
  lone:
    image: busybox
    command: sleep 3600
    network_mode: none
  hosty:
    image: busybox
    command: sleep 3600
    network_mode: host
volumes:
  data: {}
`;

describe('docker-compose 1.29 against pierd', () => {
  let d: Daemon;
  let dir = '';
  let port = 0;
  let tag = '';
  /** This daemon's links and netfilter rules before the project came up. */
  let linksBefore: string[] = [];
  let rulesBefore: string[] = [];

  const composeArgs = (args: string[]): string[] => ['-p', 'dc', '-f', join(dir, 'docker-compose.yml'), ...args];
  const compose = (args: string[]): Promise<RunResult> => run('docker-compose', composeArgs(args), d.env, { timeoutMs: 120_000 });
  const ok = async (args: string[]): Promise<RunResult> => {
    const r = await compose(args);
    assert.equal(r.code, 0, `docker-compose ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const links = async (): Promise<string[]> =>
    (await exec('ip', ['-o', 'link'], { encoding: 'utf8' })).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith(`pier${tag}`)).sort();
  const rules = async (): Promise<string[]> =>
    (await exec('iptables-save', [], { encoding: 'utf8' })).stdout.split('\n').filter((l) => l.includes(`PIER-${tag}-`) && !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).sort();
  /** name -> id of the project's containers. */
  const ids = async (): Promise<Map<string, string>> => {
    const ps = await d.docker(['ps', '-a', '--filter', 'label=com.docker.compose.project=dc', '--format', '{{.Names}} {{.ID}}']);
    return new Map(ps.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  };
  const until = async (what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (await fn()) return;
    assert.fail(`not in time: ${what}`);
  };

  before(async () => {
    d = await startDaemon();
    tag = networkTag(d.root);
    await importBusybox(d);
    dir = await mkdtemp('/tmp/pier-dc-');
    await mkdir(join(dir, 'web'));
    await writeFile(join(dir, 'web', 'Dockerfile'), DOCKERFILE);
    port = await freePort();
    await writeFile(join(dir, 'docker-compose.yml'), project(port, 1));
    linksBefore = await links();
    rulesBefore = await rules();
  });
  after(async () => {
    if (d) await compose(['down', '-v', '--rmi', 'local']).catch(() => undefined);
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('up -d builds, publishes, waits for health; services reach each other by service and container name', async () => {
    const up = await ok(['up', '-d']);
    assert.match(up.stdout, /Successfully tagged dc_web:latest/);
    assert.match(up.stderr, /Creating dc_client_1 \.\.\. done/);
    const ps = (await ok(['ps'])).stdout;
    assert.match(ps, /^dc_web_1 .*Up \(healthy\)\s+127\.0\.0\.1:\d+->80\/tcp/m);
    for (const name of ['client', 'side', 'lone', 'hosty']) assert.match(ps, new RegExp(`^dc_${name}_1 .* Up\\b`, 'm'));
    await until('the worker\'s own health check passed', async () => /^dc_worker_1 .*Up \(healthy\)/m.test((await ok(['ps'])).stdout));
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await page.text(), 'hello-from-web\n');
    await until('the client reached web by its service name', async () => (await compose(['logs', 'client'])).stdout.includes('hello-from-web'));
    assert.equal((await ok(['exec', '-T', 'client', 'wget', '-q', '-O', '-', 'http://dc_web_1/'])).stdout, 'hello-from-web\n');
    const inWeb = await ok(['exec', '-T', 'web', 'sh', '-c', 'echo $MODE; tr "\\0" " " </proc/1/cmdline']);
    assert.equal(inWeb.stdout, 'prod\n/sbin/docker-init -- httpd -f -p 80 -h /www ');
    assert.equal((await ok(['exec', '-T', 'side', 'wget', '-q', '-O', '-', 'http://127.0.0.1:80/'])).stdout, 'hello-from-web\n', 'service:web shares web\'s network');
    assert.equal((await ok(['exec', '-T', 'lone', 'ls', '/sys/class/net'])).stdout, 'lo\n', 'network_mode none has loopback only');
    assert.equal((await ok(['exec', '-T', 'hosty', 'hostname'])).stdout, `${hostname()}\n`, 'network_mode host has the host\'s name');
    const inspect = await d.docker(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Init}} {{range .Mounts}}{{.Name}}{{end}}', 'dc_web_1', 'dc_client_1']);
    assert.equal(inspect.stdout, 'unless-stopped true \nno <nil> dc_data\n');
  });

  test('run --rm is a one-off on the project network with the service\'s volume, removed after', async () => {
    const r = await ok(['run', '--rm', 'client', 'sh', '-c', 'echo kept > /data/note; wget -q -O - http://web/']);
    assert.equal(r.stdout.replace(/\r/g, ''), 'hello-from-web\n');
    assert.deepEqual([...(await ids()).keys()].filter((n) => n.includes('run')), []);
    assert.equal((await ok(['exec', '-T', 'client', 'cat', '/data/note'])).stdout, 'kept\n');
  });

  test('up -d after one service changed recreates only that service', async () => {
    const before = await ids();
    await writeFile(join(dir, 'docker-compose.yml'), project(port, 2));
    const up = await ok(['up', '-d']);
    assert.match(up.stderr, /Recreating dc_client_1 \.\.\. done/);
    assert.doesNotMatch(up.stderr, /ContainerConfig|ERROR/);
    const after = await ids();
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no container left renamed');
    for (const [name, id] of after) {
      if (name === 'dc_client_1') assert.notEqual(id, before.get(name));
      else assert.equal(id, before.get(name), `${name} kept`);
    }
    assert.equal((await ok(['exec', '-T', 'client', 'cat', '/data/note'])).stdout, 'kept\n', 'the named volume stayed');
  });

  test('--scale, restart, stop, start and logs -f', async () => {
    await ok(['up', '-d', '--scale', 'worker=3']);
    const workers = [...(await ids()).keys()].filter((n) => n.startsWith('dc_worker_')).sort();
    assert.deepEqual(workers, ['dc_worker_1', 'dc_worker_2', 'dc_worker_3']);
    const lookup = await ok(['exec', '-T', 'client', 'nslookup', 'worker']);
    assert.equal(lookup.stdout.match(/^Name:\s+worker/gm)?.length, 3, lookup.stdout);
    const restarted = await ok(['restart', 'worker']);
    assert.match(restarted.stderr, /Restarting dc_worker_3 \.\.\. done/);
    await ok(['stop']);
    const stopped = (await ok(['ps'])).stdout;
    assert.doesNotMatch(stopped, / Up\b/);
    await ok(['start']);
    await until('every container runs again', async () => !/ Exit /.test((await ok(['ps'])).stdout));
    // logs -f follows every replica, each line prefixed with its replica's name; it does not end
    // by itself, so it is read until all three have spoken (twice: once before the restart).
    const follow = spawn('docker-compose', composeArgs(['logs', '-f', '--no-color', 'worker']), { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follow.stdout.on('data', (c: Buffer) => { followed += c.toString(); });
    try {
      await until('logs -f showed every replica', () => Promise.resolve([1, 2, 3].every((n) => (followed.match(new RegExp(`^worker_${n}\\s+\\| worker on [0-9a-f]{12}$`, 'gm'))?.length ?? 0) >= 2)));
      assert.equal(follow.exitCode, null, 'still following');
    } finally {
      follow.kill();
    }
  });

  test('down -v --rmi local leaves no container, network, volume, image, link or rule of the project', async () => {
    const down = await ok(['down', '-v', '--rmi', 'local']);
    assert.match(down.stderr, /Removing network dc_default/);
    assert.match(down.stderr, /Removing volume dc_data/);
    assert.equal((await ids()).size, 0);
    assert.doesNotMatch((await d.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout, /dc_/);
    assert.doesNotMatch((await d.docker(['volume', 'ls', '-q'])).stdout, /dc_/);
    assert.doesNotMatch((await d.docker(['images', '--format', '{{.Repository}}'])).stdout, /dc_web/);
    assert.deepEqual(await links(), linksBefore);
    assert.deepEqual(await rules(), rulesBefore);
    assert.equal((await readFile(join(dir, 'docker-compose.yml'), 'utf8')).includes('services:'), true);
  });
});
