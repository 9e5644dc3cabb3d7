import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { networkTag, removeDaemonNetworking } from '../src/networks/bridge.js';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

const run = promisify(execFile);

/** busybox httpd serving one page on 8080. */
const WEB = ['busybox', 'sh', '-c', 'mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www'];

/**
 * A container command fetching http://<host>:8080/ and printing the body. (busybox-static's
 * wget segfaults on this machine, on the host too, so the request is made with nc.)
 */
const fetchCmd = (host: string): string[] => ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} 8080 | tail -n 1`];

/** stdout of a host command (throws with its stderr on failure). */
async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { encoding: 'utf8' })).stdout;
}

/** What the daemon tagged `tag` has on the host: links, chains and rules naming it. */
async function leftovers(tag: string): Promise<string[]> {
  const links = (JSON.parse(await sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => n.startsWith(`pier${tag}`));
  const rules = (await sh('iptables-save', [])).split('\n').filter((l) => l.includes(`PIER-${tag}-`));
  return [...links, ...rules];
}

/** Wait until `fn` holds (a container's server needs a moment to listen). */
async function eventually(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  assert.fail('condition not met in time');
}

/**
 * Networks as a Docker user sees them: the real docker CLI against a private pierd, real
 * veths, bridges and netfilter rules. Every link and chain carries the daemon's tag; the
 * clean-up removes whatever a failure left, and the last test checks nothing is left.
 */
describe('networks through the docker CLI', () => {
  let d: Daemon;
  let tag = '';
  const hostNs = `pt-peer-${process.pid}`;
  before(async () => {
    d = await startDaemon();
    tag = networkTag(d.root);
    await importBusybox(d);
  });
  after(async () => {
    await run('ip', ['netns', 'del', hostNs]).catch(() => undefined);
    await run('ip', ['link', 'del', `ptpeer${process.pid % 100000}`]).catch(() => undefined);
    const execRoot = d?.execRoot;
    await d?.stop();
    if (tag) await removeDaemonNetworking(tag, execRoot ?? '/nonexistent');
  });

  test('two containers on a user network: one fetches the other by name, alias and short ID', async () => {
    assert.equal((await d.docker(['network', 'create', 'appnet'])).code, 0);
    const srv = await d.docker(['run', '-d', '--name', 'web', '--network', 'appnet', '--network-alias', 'www', ...WEB]);
    assert.equal(srv.code, 0, srv.stderr);
    const id = srv.stdout.trim().slice(0, 12);
    for (const name of ['web', 'www', id]) {
      let out = '';
      await eventually(async () => {
        const r = await d.docker(['run', '--rm', '--network', 'appnet', 'busybox', ...fetchCmd(name)]);
        out = r.stdout;
        return out !== '';
      });
      assert.equal(out, 'hello-from-web\n');
    }
    const inspect = JSON.parse((await d.docker(['network', 'inspect', 'appnet'])).stdout) as Array<{ Containers: Record<string, { Name: string; IPv4Address: string }> }>;
    const members = Object.values(inspect[0]!.Containers);
    assert.deepEqual(members.map((m) => m.Name), ['web']);
    assert.match(members[0]!.IPv4Address, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    // In use: 409 and Docker's words.
    const rm = await d.docker(['network', 'rm', 'appnet']);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /has active endpoints/);
  });

  test('-p 127.0.0.1:18089:8080 is reachable from the host; docker port shows it; a port in use is refused', async () => {
    const r = await d.docker(['run', '-d', '--name', 'pub', '-p', '127.0.0.1:18089:8080', ...WEB]);
    assert.equal(r.code, 0, r.stderr);
    let body = '';
    await eventually(async () => {
      const c = await run('curl', ['-s', '-m', '2', 'http://127.0.0.1:18089/']).catch(() => ({ stdout: '' }));
      body = c.stdout;
      return body !== '';
    });
    assert.equal(body, 'hello-from-web\n');
    assert.equal((await d.docker(['port', 'pub'])).stdout, '8080/tcp -> 127.0.0.1:18089\n');
    const clash = await d.docker(['run', '-d', '--name', 'pub2', '-p', '127.0.0.1:18089:8080', ...WEB]);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /port is already allocated/);
    await d.docker(['rm', '-f', 'pub2']);
    // Another program takes pier's jumps away (a firewall reload): pierd puts them back by itself.
    for (const line of (await sh('iptables-save', [])).split('\n')) {
      const m = new RegExp(`^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) (.*-j PIER-${tag}-\\w+)$`).exec(line);
      if (m) await sh('iptables', ['-w', '-t', m[1] === 'FORWARD' ? 'filter' : 'nat', '-D', m[1]!, ...m[2]!.split(' ')]);
    }
    assert.equal((await run('curl', ['-s', '-m', '1', 'http://127.0.0.1:18089/']).catch(() => ({ stdout: '' }))).stdout, '');
    await eventually(async () => {
      const c = await run('curl', ['-s', '-m', '1', 'http://127.0.0.1:18089/']).catch(() => ({ stdout: '' }));
      return c.stdout === 'hello-from-web\n';
    }, 15_000);
  });

  test('-P publishes EXPOSEd ports on random host ports, reachable on the host address and from another host', async () => {
    const r = await d.docker(['run', '-d', '--name', 'puball', '--expose', '8080', '-P', ...WEB]);
    assert.equal(r.code, 0, r.stderr);
    const port = (await d.docker(['port', 'puball', '8080'])).stdout.trim();
    const m = /^0\.0\.0\.0:(\d+)$/m.exec(port);
    assert.ok(m, port);
    // A test host: its own namespace on a test link to the host (veth), addresses 198.18.x.
    const peer = `ptpeer${process.pid % 100000}`;
    await sh('ip', ['netns', 'add', hostNs]);
    await sh('ip', ['link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNs]);
    await sh('ip', ['addr', 'add', '198.18.77.1/24', 'dev', peer]);
    await sh('ip', ['link', 'set', peer, 'up']);
    await sh('ip', ['-n', hostNs, 'addr', 'add', '198.18.77.2/24', 'dev', 'eth0']);
    await sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
    let body = '';
    await eventually(async () => {
      const c = await run('ip', ['netns', 'exec', hostNs, 'curl', '-s', '-m', '2', `http://198.18.77.1:${m[1]}/`]).catch(() => ({ stdout: '' }));
      body = c.stdout;
      return body !== '';
    });
    assert.equal(body, 'hello-from-web\n');
  });

  test('--network none shows only lo; the default bridge gives eth0 and a route out', async () => {
    const none = await d.docker(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']);
    assert.equal(none.stdout, 'lo\n');
    const def = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'ls /sys/class/net; ip route']);
    assert.equal(def.code, 0, def.stderr);
    assert.match(def.stdout, /^eth0$/m);
    assert.match(def.stdout, /^default via /m);
    assert.doesNotMatch(def.stderr, /loopback only/);
  });

  test('containers on different networks cannot reach each other; an internal network has no route out', async () => {
    // Outside the pool pier picks subnets from (172.17-31, 10.128-255), so that no other daemon
    // of a concurrent test file can have taken it.
    const other = await d.docker(['network', 'create', '--subnet', '10.99.231.0/24', 'other']);
    assert.equal(other.code, 0, other.stderr);
    const ip = (await d.docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "appnet").IPAddress}}', 'web'])).stdout.trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const same = await d.docker(['run', '--rm', '--network', 'appnet', 'busybox', ...fetchCmd(ip)]);
    assert.equal(same.stdout, 'hello-from-web\n');
    const cross = await d.docker(['run', '--rm', '--network', 'other', 'busybox', ...fetchCmd(ip)]);
    assert.equal(cross.stdout, '');
    assert.equal((await d.docker(['network', 'create', '--internal', 'sealed'])).code, 0);
    const sealed = await d.docker(['run', '--rm', '--network', 'sealed', 'busybox', 'ip', 'route']);
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.doesNotMatch(sealed.stdout, /default/);
  });

  test('--ip, --add-host with host-gateway, --dns land in the container', async () => {
    const r = await d.docker(['run', '--rm', '--network', 'other', '--ip', '10.99.231.77', '--add-host', 'gw:host-gateway', '--dns', '10.9.9.9', 'busybox', 'sh', '-c', 'ip -4 addr show eth0; cat /etc/hosts /etc/resolv.conf']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /inet 10\.99\.231\.77\/24/);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\.1\tgw$/m);
    // A user network: pier's DNS on the gateway (it relays other names to --dns), as Docker's 127.0.0.11.
    assert.match(r.stdout, /^nameserver 10\.99\.231\.1$/m);
    assert.doesNotMatch(r.stdout, /10\.9\.9\.9/);
    const def = await d.docker(['run', '--rm', '--dns', '10.9.9.9', 'busybox', 'cat', '/etc/resolv.conf']);
    assert.match(def.stdout, /^nameserver 10\.9\.9\.9$/m);
  });

  test('--link on the default bridge: the child in /etc/hosts, its variables, its link name, and rm --link', async () => {
    const child = await d.docker(['run', '-d', '--name', 'lnk-child', '-e', 'FOO=1', '--expose', '80', '--expose', '53/udp', 'busybox', 'sleep', '300']);
    assert.equal(child.code, 0, child.stderr);
    // (The bridge's view of the child: its inspect's Ports has `null`s, which the swagger lacks.)
    const bridge = JSON.parse((await d.docker(['network', 'inspect', 'bridge'])).stdout) as Array<{ Containers: Record<string, { Name: string; IPv4Address: string }> }>;
    const ip = Object.values(bridge[0]!.Containers).find((c) => c.Name === 'lnk-child')?.IPv4Address.replace(/\/.*/, '') ?? '';
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const r = await d.docker(['run', '--name', 'lnk-parent', '--link', 'lnk-child:db-1', 'busybox', 'sh', '-c', 'env | grep ^DB_1_ | sort; grep -w db-1 /etc/hosts']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'DB_1_ENV_FOO=1',
        'DB_1_NAME=/lnk-parent/db-1',
        `DB_1_PORT=udp://${ip}:53`,
        `DB_1_PORT_53_UDP=udp://${ip}:53`,
        `DB_1_PORT_53_UDP_ADDR=${ip}`,
        'DB_1_PORT_53_UDP_PORT=53',
        'DB_1_PORT_53_UDP_PROTO=udp',
        `DB_1_PORT_80_TCP=tcp://${ip}:80`,
        `DB_1_PORT_80_TCP_ADDR=${ip}`,
        'DB_1_PORT_80_TCP_PORT=80',
        'DB_1_PORT_80_TCP_PROTO=tcp',
        `${ip}\tdb-1 lnk-child`,
        '',
      ].join('\n'),
    );
    assert.equal((await d.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'lnk-parent'])).stdout, '["/lnk-child:/lnk-parent/db-1"]\n');
    assert.equal((await d.docker(['ps', '--no-trunc', '--filter', 'name=lnk-child', '--format', '{{.Names}}'])).stdout, 'lnk-child,lnk-parent/db-1\n');
    // A link to a container that does not run fails the start; to one that does not exist, the create.
    assert.equal((await d.docker(['stop', '-t', '0', 'lnk-child'])).code, 0);
    const down = await d.docker(['start', 'lnk-parent']);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /Cannot link to a non running container: \/lnk-child AS \/lnk-parent\/db-1/);
    const missing = await d.docker(['create', '--link', 'no-such-ctr:x', 'busybox']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /could not get container for no-such-ctr/);
    // rm --link removes the link alone.
    const rm = await d.docker(['rm', '--link', 'lnk-parent/db-1']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await d.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'lnk-parent'])).stdout, 'null\n');
    assert.equal((await d.docker(['ps', '-a', '--filter', 'name=lnk-', '--format', '{{.Names}}'])).stdout.split('\n').sort().join(' '), ' lnk-child lnk-parent');
    assert.equal((await d.docker(['rm', '--link', 'lnk-parent/db-1'])).code, 1);
    assert.equal((await d.docker(['rm', '-f', 'lnk-child', 'lnk-parent'])).code, 0);
  });

  test('network connect and disconnect a running container', async () => {
    assert.equal((await d.docker(['network', 'connect', 'other', 'web'])).code, 0);
    const ip = (await d.docker(['inspect', '-f', '{{(index .NetworkSettings.Networks "other").IPAddress}}', 'web'])).stdout.trim();
    assert.match(ip, /^10\.99\.231\.\d+$/);
    const byName = await d.docker(['run', '--rm', '--network', 'other', 'busybox', ...fetchCmd('web')]);
    assert.equal(byName.stdout, 'hello-from-web\n');
    assert.equal((await d.docker(['network', 'disconnect', 'other', 'web'])).code, 0);
    const gone = await d.docker(['run', '--rm', '--network', 'other', 'busybox', ...fetchCmd(ip)]);
    assert.equal(gone.stdout, '');
  });

  test('bad input: overlapping subnet 403, invalid CIDR 400, duplicate name 409, unknown network 404', async () => {
    const overlap = await d.docker(['network', 'create', '--subnet', '10.99.0.0/16', 'clash']);
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /overlaps/);
    const bad = await d.docker(['network', 'create', '--subnet', '10.300.0.0/16', 'bad']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid/i);
    const dup = await d.docker(['network', 'create', 'other']);
    assert.match(dup.stderr, /already exists/);
    // As Docker: create accepts it, start refuses it (404).
    const created = await d.docker(['create', '--network', 'nosuchnet', 'busybox', 'true']);
    assert.equal(created.code, 0, created.stderr);
    const unknown = await d.docker(['start', created.stdout.trim()]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /network nosuchnet not found/);
    await d.docker(['rm', '-f', created.stdout.trim()]);
    // run --rm: the failed start removes the container, and the CLI does not hang.
    const before = (await d.docker(['ps', '-aq'])).stdout;
    const run = await d.docker(['run', '--rm', '--network', 'nosuchnet', 'busybox', 'true'], { timeoutMs: 15_000 });
    assert.equal(run.code, 125);
    assert.match(run.stderr, /network nosuchnet not found/);
    assert.equal((await d.docker(['ps', '-aq'])).stdout, before);
  });

  test('after rm -f of everything, network rm, and a kill -9 with a restart, nothing is left', async () => {
    // Leave a running container across a crash.
    assert.equal((await d.docker(['run', '-d', '--name', 'survivor', '--network', 'appnet', ...WEB])).code, 0);
    await d.kill9();
    await d.restart();
    const ids = (await d.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    assert.equal((await d.docker(['rm', '-f', ...ids])).code, 0);
    for (const n of ['appnet', 'other', 'sealed']) assert.equal((await d.docker(['network', 'rm', n])).code, 0);
    const ls = (await d.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(ls, ['bridge', 'host', 'none']);
    // No veth, no lease, no namespace; then a stop removes the default bridge and the chains.
    const links = (await leftovers(tag)).filter((l) => /^pier\w+v/.test(l));
    assert.deepEqual(links, []);
    const records = await readdir(join(d.root, 'networks'));
    for (const f of records) {
      const rec = JSON.parse(await readFile(join(d.root, 'networks', f), 'utf8')) as { Endpoints: object };
      assert.deepEqual(rec.Endpoints, {});
    }
    assert.deepEqual(await readdir(join(d.execRoot, 'netns')), []);
    await d.restart();
    await d.stop();
    assert.deepEqual(await leftovers(tag), []);
  });
});
