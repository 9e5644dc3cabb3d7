import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { networkTag, removeDaemonNetworking } from '../src/networks/bridge.js';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

const run = promisify(execFile);

/** busybox httpd serving one page on 8080. */
const WEB = ['busybox', 'sh', '-c', 'mkdir -p /www && echo hello-from-pier > /www/index.html && exec httpd -f -p 8080 -h /www'];

/**
 * `pier network ...` and `pier port` against a private pierd: real bridges, veths and rules.
 * Every link and chain carries the daemon's tag; the clean-up removes whatever a failure left.
 */
describe('pier network and pier port', () => {
  let d: Daemon;
  let tag = '';
  before(async () => {
    d = await startDaemon();
    tag = networkTag(d.root);
    await importBusybox(d);
  });
  after(async () => {
    const execRoot = d?.execRoot;
    await d?.stop();
    if (tag) await removeDaemonNetworking(tag, execRoot ?? '/nonexistent');
  });

  test('create, ls, inspect; run with --ip and -p; port; connect and disconnect; rm and prune', async () => {
    // A user-configured subnet: Docker takes --ip only on those (a subnet from the pid, so that concurrent runs do not clash).
    const created = await d.pier(['network', 'create', '--label', 'suite=pier', '--subnet', `10.98.${process.pid % 250}.0/24`, 'pnet']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);

    const ls = await d.pier(['network', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.split('\n');
    assert.match(lines[0]!, /^NETWORK ID {5}NAME {6}DRIVER {4}SCOPE$/);
    assert.ok(lines.some((l) => new RegExp(`^${id.slice(0, 12)} {3}pnet {6}bridge {4}local$`).test(l)), ls.stdout);
    assert.deepEqual(lines.slice(1).filter(Boolean).map((l) => l.split(/\s+/)[1]), ['bridge', 'host', 'none', 'pnet']);
    assert.equal((await d.pier(['network', 'ls', '-q', '--filter', 'label=suite=pier'])).stdout, `${id.slice(0, 12)}\n`);

    const subnet = (await d.pier(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'pnet'])).stdout.trim();
    const m = /^(\d+\.\d+\.\d+)\.0\/(\d+)$/.exec(subnet);
    assert.ok(m, subnet);
    const ip = `${m[1]}.50`;

    const web = await d.pier(['run', '-d', '--name', 'pweb', '--network', 'pnet', '--ip', ip, '-p', '127.0.0.1::8080', ...WEB]);
    assert.equal(web.code, 0, web.stderr);
    const members = (await d.pier(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}', 'pnet'])).stdout.trim();
    assert.equal(members, `pweb ${ip}/${m[2]}`);

    const port = await d.pier(['port', 'pweb', '8080']);
    assert.equal(port.code, 0, port.stderr);
    const hostPort = /^127\.0\.0\.1:(\d+)$/.exec(port.stdout.trim())?.[1];
    assert.ok(hostPort, port.stdout);
    assert.equal((await d.pier(['port', 'pweb'])).stdout, `8080/tcp -> 127.0.0.1:${hostPort}\n`);
    const none = await d.pier(['port', 'pweb', '9090']);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, "Error: No public port '9090' published for pweb\n");
    let body = '';
    for (let i = 0; i < 100 && body === ''; i++) {
      body = (await run('curl', ['-s', '-m', '2', `http://127.0.0.1:${hostPort}/`]).catch(() => ({ stdout: '' }))).stdout;
      if (body === '') await sleep(100);
    }
    assert.equal(body, 'hello-from-pier\n');

    // A second network, joined by the running container under an alias, then left.
    assert.equal((await d.pier(['network', 'create', 'pnet2'])).code, 0);
    const connect = await d.pier(['network', 'connect', '--alias', 'www', 'pnet2', 'pweb']);
    assert.equal(connect.code, 0, `exit ${connect.code}: ${connect.stderr}${connect.stdout}`);
    const fetched = await d.pier(['run', '--rm', '--network', 'pnet2', 'busybox', 'sh', '-c', "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 www 8080 | tail -n 1"]);
    assert.equal(fetched.stdout, 'hello-from-pier\n', fetched.stderr);
    assert.equal((await d.pier(['inspect', '-f', '{{len .NetworkSettings.Networks}}', 'pweb'])).stdout, '2\n');
    assert.equal((await d.pier(['network', 'disconnect', 'pnet2', 'pweb'])).code, 0);
    assert.equal((await d.pier(['inspect', '-f', '{{len .NetworkSettings.Networks}}', 'pweb'])).stdout, '1\n');

    // In use: refused, Docker's words, exit 1; the other name is still removed.
    const busy = await d.pier(['network', 'rm', 'pnet', 'pnet2']);
    assert.equal(busy.code, 1);
    assert.equal(busy.stdout, 'pnet2\n');
    assert.match(busy.stderr, /^Error response from daemon: .*has active endpoints/);
    assert.equal((await d.pier(['rm', '-f', 'pweb'])).code, 0);
    assert.equal((await d.pier(['network', 'create', 'unused'])).code, 0);
    const pruned = await d.pier(['network', 'prune', '-f', '--filter', 'label=suite=pier']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal(pruned.stdout, 'Deleted Networks:\npnet\n\n');
    assert.equal((await d.pier(['network', 'rm', 'unused'])).stdout, 'unused\n');
    assert.deepEqual((await d.pier(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(Boolean), ['bridge', 'host', 'none']);
  });
});
