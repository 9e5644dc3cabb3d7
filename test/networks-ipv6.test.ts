import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { networkTag, removeDaemonNetworking } from '../src/networks/bridge.js';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

const run = promisify(execFile);

/** stdout of a host command (throws with its stderr on failure). */
async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { encoding: 'utf8' })).stdout;
}

/** Lines of `ip6tables-save` (or `iptables-save`) naming the daemon tagged `tag`. */
async function rulesOf(tag: string, family: 4 | 6): Promise<string[]> {
  return (await sh(family === 6 ? 'ip6tables-save' : 'iptables-save', [])).split('\n').filter((l) => l.includes(`PIER-${tag}-`));
}

/** Wait until `fn` holds (a container's server needs a moment to listen). */
async function eventually(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(150);
  }
  assert.fail('condition not met in time');
}

/** busybox httpd serving one page on 8080. */
const WEB = ['busybox', 'sh', '-c', 'mkdir -p /www && echo hello-pub6 > /www/index.html && exec httpd -f -p 8080 -h /www'];

/** The body curl gets from `url` (with `prefix` before curl: a namespace to run it in), '' when nothing answers. */
async function fetchBody(url: string, prefix: string[] = []): Promise<string> {
  const args = [...prefix, 'curl', '-g', '-s', '-m', '2', url];
  return (await run(args[0]!, args.slice(1), { encoding: 'utf8' }).catch(() => ({ stdout: '' }))).stdout;
}

/** A busybox server answering every TCP connection on port 80 (IPv4 and IPv6) with `word`. */
const serve = (word: string): string[] => ['busybox', 'sh', '-c', `while true; do echo ${word} | nc -l -p 80; done`];

/**
 * IPv6 and Docker's endpoint settings through the real docker CLI against a private pierd:
 * dual-stack networks with real addresses, routes and ip6tables rules. The subnets are
 * derived from the test's pid, so that concurrent runs do not clash; the clean-up removes
 * whatever a failure left, ip6tables included.
 */
describe('IPv6 networks and endpoint settings through the docker CLI', () => {
  let d: Daemon;
  let tag = '';
  const p6 = `fd00:1:${(process.pid % 0xfff0).toString(16)}`;
  const subnet6 = `${p6}::/64`;
  const hostNs = `pt-v6peer-${process.pid}`;
  const peerLink = `ptv6p${process.pid % 100000}`;
  before(async () => {
    d = await startDaemon();
    tag = networkTag(d.root);
    await importBusybox(d);
  });
  after(async () => {
    await run('ip', ['netns', 'del', hostNs]).catch(() => undefined);
    await run('ip', ['link', 'del', peerLink]).catch(() => undefined);
    const execRoot = d?.execRoot;
    await d?.stop();
    if (tag) await removeDaemonNetworking(tag, execRoot ?? '/nonexistent');
  });

  test('network create --ipv6 --subnet: a dual-stack network, shown as Docker shows it', async () => {
    const r = await d.docker(['network', 'create', '--ipv6', '--subnet', subnet6, 'v6net']);
    assert.equal(r.code, 0, r.stderr);
    const [net] = JSON.parse((await d.docker(['network', 'inspect', 'v6net'])).stdout) as Array<{ EnableIPv6: boolean; EnableIPv4: boolean; IPAM: { Config: Array<{ Subnet: string; Gateway?: string }> }; Options: Record<string, string> }>;
    assert.equal(net!.EnableIPv6, true);
    assert.equal(net!.EnableIPv4, true);
    // The subnet given, as given; then the IPv4 subnet pier chose, with its gateway.
    assert.deepEqual(net!.IPAM.Config[0], { Subnet: subnet6 });
    assert.match(net!.IPAM.Config[1]!.Subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    assert.match(net!.IPAM.Config[1]!.Gateway ?? '', /^\d+\.\d+\.\d+\.1$/);
    // No option Docker does not set on a user network.
    assert.deepEqual(net!.Options, {});
    // Without --ipv6, a v6 subnet is not taken and the network has IPv4 only (as Docker 28).
    const v4only = await d.docker(['network', 'create', 'v4only']);
    assert.equal(v4only.code, 0, v4only.stderr);
    assert.equal((await d.docker(['network', 'inspect', '-f', '{{.EnableIPv6}}', 'v4only'])).stdout.trim(), 'false');
  });

  test('--ip6: the address, prefix and gateway in inspect; two containers reach each other over IPv6 by address and by name', async () => {
    const srv = await d.docker(['run', '-d', '--name', 'srv6', '--network', 'v6net', '--ip6', `${p6}::10`, ...serve('hello-v6')]);
    assert.equal(srv.code, 0, srv.stderr);
    const ep = JSON.parse((await d.docker(['inspect', '-f', '{{json .NetworkSettings.Networks.v6net}}', 'srv6'])).stdout) as Record<string, unknown>;
    assert.equal(ep.GlobalIPv6Address, `${p6}::10`);
    assert.equal(ep.GlobalIPv6PrefixLen, 64);
    assert.equal(ep.IPv6Gateway, `${p6}::1`);
    assert.deepEqual(ep.IPAMConfig, { IPv6Address: `${p6}::10` });
    const members = JSON.parse((await d.docker(['network', 'inspect', '-f', '{{json .Containers}}', 'v6net'])).stdout) as Record<string, { IPv6Address: string }>;
    assert.deepEqual(Object.values(members).map((m) => m.IPv6Address), [`${p6}::10/64`]);
    // Inside: the address on eth0 and the IPv6 default route via the gateway.
    const inside = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'sh', '-c', 'ip -6 addr show dev eth0 scope global; ip -6 route show default']);
    assert.match(inside.stdout, new RegExp(`inet6 ${p6}::2/64`));
    assert.match(inside.stdout, new RegExp(`^default via ${p6}::1 dev eth0`, 'm'));
    let out = '';
    await eventually(async () => {
      out = (await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nc', '-w', '2', `${p6}::10`, '80'])).stdout;
      return out !== '';
    });
    assert.equal(out, 'hello-v6\n');
    // pier's DNS answers AAAA (and A) for the container's names.
    const look = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nslookup', '-type=AAAA', 'srv6']);
    assert.equal(look.code, 0, look.stdout + look.stderr);
    assert.match(look.stdout, new RegExp(`Address: ${p6}::10$`, 'm'));
    const a = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nslookup', '-type=A', 'srv6']);
    assert.match(a.stdout, /Address: \d+\.\d+\.\d+\.\d+$/m);
    const resolv = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, /^nameserver \d+\.\d+\.\d+\.1$/m);
    assert.match(resolv.stdout, /^options ndots:0$/m);
    // The name over IPv6 end to end: the AAAA answer, then a connection to it.
    const byName = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'sh', '-c', `nc -w 2 $(nslookup -type=AAAA srv6 | sed -n 's/^Address: \\(.*:.*\\)$/\\1/p' | tail -n 1) 80`]);
    assert.equal(byName.stdout, 'hello-v6\n');
  });

  test('ip6tables: masquerade and isolation in pier own chains; -p publishes on [::] too', async () => {
    const rules = await rulesOf(tag, 6);
    assert.ok(rules.some((l) => l.includes(`-s ${subnet6}`) && l.includes('-j MASQUERADE')), rules.join('\n'));
    assert.ok(rules.some((l) => /^-A FORWARD -j PIER-/.test(l)), rules.join('\n'));
    // Another dual-stack network (a subnet of pier's ULA pool): no IPv6 traffic between the two.
    const other = await d.docker(['network', 'create', '--ipv6', 'v6other']);
    assert.equal(other.code, 0, other.stderr);
    const sub = await d.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{end}}', 'v6other']);
    assert.match(sub.stdout, /^\d+\.\d+\.\d+\.\d+\/\d+ fd[0-9a-f]{2}:[0-9a-f:]+\/64 \n$/, sub.stderr);
    const cross = await d.docker(['run', '--rm', '--network', 'v6other', 'busybox', 'nc', '-w', '2', `${p6}::10`, '80']);
    assert.equal(cross.stdout, '');
    // Published: Docker's two bindings, both served.
    const pub = await d.docker(['run', '-d', '--name', 'pub6', '--network', 'v6net', '-p', '18097:8080', ...WEB]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal((await d.docker(['port', 'pub6'])).stdout, '8080/tcp -> 0.0.0.0:18097\n8080/tcp -> [::]:18097\n');
    const dnat = await rulesOf(tag, 6);
    assert.ok(dnat.some((l) => l.includes('--dport 18097') && l.includes('DNAT') && l.includes(`[${p6}::`)), dnat.join('\n'));
    let body = '';
    await eventually(async () => {
      body = await fetchBody('http://[::1]:18097/');
      return body !== '';
    });
    assert.equal(body, 'hello-pub6\n');
    // From a test host over IPv6 (its own namespace on a test link, forwarding on that link).
    await sh('ip', ['netns', 'add', hostNs]);
    await sh('ip', ['link', 'add', peerLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hostNs]);
    await sh('ip', ['addr', 'add', 'fd77:77::1/64', 'dev', peerLink, 'nodad']);
    await sh('ip', ['link', 'set', peerLink, 'up']);
    await sh('sysctl', ['-q', '-w', `net.ipv6.conf.${peerLink}.force_forwarding=1`]);
    await sh('ip', ['-n', hostNs, 'addr', 'add', 'fd77:77::2/64', 'dev', 'eth0', 'nodad']);
    await sh('ip', ['-n', hostNs, 'link', 'set', 'eth0', 'up']);
    await eventually(async () => {
      body = await fetchBody('http://[fd77:77::1]:18097/', ['ip', 'netns', 'exec', hostNs]);
      return body !== '';
    });
    assert.equal(body, 'hello-pub6\n');
  });

  test('EndpointSettings as Docker shows them: IPAMConfig, Links, Aliases, MacAddress, DriverOpts, DNSNames', async () => {
    const c = await d.docker(['run', '-d', '--name', 'eps', '--network', 'v6net', '--network-alias', 'al1', '--mac-address', '02:42:ac:11:00:99', '--link', 'srv6:upstream', 'busybox', 'sleep', '300']);
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    const ep = JSON.parse((await d.docker(['inspect', '-f', '{{json .NetworkSettings.Networks.v6net}}', 'eps'])).stdout) as Record<string, unknown>;
    assert.deepEqual(ep.Links, ['srv6:upstream']);
    assert.deepEqual(ep.Aliases, ['al1']);
    assert.equal(ep.MacAddress, '02:42:ac:11:00:99');
    assert.equal(ep.DriverOpts, null);
    assert.deepEqual(ep.DNSNames, ['eps', 'al1', id.slice(0, 12)]);
    assert.match(String(ep.GlobalIPv6Address), new RegExp(`^${p6}::`));
    // The link's alias resolves for this container only.
    const up = await d.docker(['exec', 'eps', 'nslookup', '-type=AAAA', 'upstream']);
    assert.match(up.stdout, new RegExp(`Address: ${p6}::10$`, 'm'));
    const notForOthers = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nslookup', 'upstream']);
    assert.notEqual(notForOthers.code, 0);
    // network connect with --ip, --alias, --driver-opt: shown as given.
    const con = await d.docker(['network', 'connect', '--alias', 'al2', '--driver-opt', 'com.example.opt=1', 'v4only', 'eps']);
    assert.equal(con.code, 0, con.stderr);
    const ep2 = JSON.parse((await d.docker(['inspect', '-f', '{{json .NetworkSettings.Networks.v4only}}', 'eps'])).stdout) as Record<string, unknown>;
    assert.deepEqual(ep2.DriverOpts, { 'com.example.opt': '1' });
    assert.deepEqual(ep2.Aliases, ['al2']);
    assert.equal(ep2.GlobalIPv6Address, '');
    // --ip6 on a network without IPv6: Docker's refusal.
    const bad = await d.docker(['run', '--rm', '--network', 'v4only', '--ip6', 'fd00:9::5', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /user specified IP address is supported only when connecting to networks with user configured subnets/);
  });

  test('a running container disconnected from its last network and connected again keeps working', async () => {
    assert.equal((await d.docker(['network', 'disconnect', 'v6net', 'srv6'])).code, 0);
    assert.equal((await d.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'srv6'])).stdout.trim(), '{}');
    const gone = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nc', '-w', '2', `${p6}::10`, '80']);
    assert.equal(gone.stdout, '');
    const again = await d.docker(['network', 'connect', '--ip6', `${p6}::10`, 'v6net', 'srv6']);
    assert.equal(again.code, 0, again.stderr);
    let out = '';
    await eventually(async () => {
      out = (await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'nc', '-w', '2', 'srv6', '80'])).stdout;
      return out !== '';
    });
    assert.equal(out, 'hello-v6\n');
    const routes = await d.docker(['exec', 'srv6', 'sh', '-c', 'ip route show default; ip -6 route show default']);
    assert.match(routes.stdout, /^default via \d+\.\d+\.\d+\.1 dev eth\d/m);
    assert.match(routes.stdout, new RegExp(`^default via ${p6}::1 dev eth\\d`, 'm'));
  });

  test('names with spaces, and overlapping pools, answered as Docker answers them', async () => {
    const c = await d.docker(['network', 'create', 'test 01']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await d.docker(['network', 'inspect', '-f', '{{.Name}}', 'test 01'])).stdout, 'test 01\n');
    const r = await d.docker(['run', '--rm', '--network', 'test 01', 'busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await d.docker(['network', 'rm', 'test 01'])).code, 0);
    const empty = await d.docker(['network', 'create', '']);
    assert.notEqual(empty.code, 0);
    // Overlaps: 403 and Docker's words, for either family.
    const overlap6 = await d.docker(['network', 'create', '--ipv6', '--subnet', `${p6}::/80`, 'clash6']);
    assert.equal(overlap6.stderr, 'Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n');
    const subnets = (await d.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{end}}', 'v6net'])).stdout.split(' ');
    const v4 = subnets.find((s) => /^\d+\./.test(s))!;
    const overlap4 = await d.docker(['network', 'create', '--subnet', v4, 'clash4']);
    assert.equal(overlap4.stderr, 'Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n');
    const loose = await d.docker(['network', 'create', '--ipv6', '--subnet', `${p6}::5/64`, 'loose']);
    assert.match(loose.stderr, new RegExp(`invalid subnet ${p6}::5/64: it should be ${p6}::/64`));
  });

  test('after network rm, nothing of pier is left in ip6tables; a stopped pierd leaves nothing in either', async () => {
    const ids = (await d.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    const rm = await d.docker(['rm', '-f', ...ids]);
    assert.equal(rm.code, 0, rm.stderr);
    for (const n of ['v6net', 'v6other', 'v4only']) {
      const r = await d.docker(['network', 'rm', n]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await d.docker(['network', 'ls', '--format', '{{.Name}}'])).stdout, 'bridge\nhost\nnone\n');
    assert.deepEqual(await rulesOf(tag, 6), []);
    assert.notDeepEqual(await rulesOf(tag, 4), []);
    await d.stop();
    assert.deepEqual(await rulesOf(tag, 6), []);
    assert.deepEqual(await rulesOf(tag, 4), []);
  });
});

/** daemon.json `ipv6` and `fixed-cidr-v6`: the default bridge with IPv6, as Docker gives it. */
describe('IPv6 on the default bridge when daemon.json asks', () => {
  let d: Daemon;
  let tag = '';
  const p6 = `fd00:2:${(process.pid % 0xfff0).toString(16)}`;
  before(async () => {
    d = await startDaemon({ config: { ipv6: true, 'fixed-cidr-v6': `${p6}::/64` } });
    tag = networkTag(d.root);
    await importBusybox(d);
  });
  after(async () => {
    const execRoot = d?.execRoot;
    await d?.stop();
    if (tag) await removeDaemonNetworking(tag, execRoot ?? '/nonexistent');
  });

  test('the default bridge is dual-stack; its containers reach each other over IPv6; a stop leaves nothing in ip6tables', async () => {
    const net = JSON.parse((await d.docker(['network', 'inspect', '-f', '{{json .}}', 'bridge'])).stdout) as { EnableIPv6: boolean; IPAM: { Config: Array<{ Subnet: string; Gateway: string }> } };
    assert.equal(net.EnableIPv6, true);
    assert.ok(net.IPAM.Config.some((c) => c.Subnet === `${p6}::/64` && c.Gateway === `${p6}::1`), JSON.stringify(net.IPAM));
    const srv = await d.docker(['run', '-d', '--name', 'srv', ...serve('hello-bridge6')]);
    assert.equal(srv.code, 0, srv.stderr);
    const ip6 = (await d.docker(['inspect', '-f', '{{.NetworkSettings.GlobalIPv6Address}}', 'srv'])).stdout.trim();
    assert.equal(ip6, `${p6}::2`);
    let out = '';
    await eventually(async () => {
      out = (await d.docker(['run', '--rm', 'busybox', 'nc', '-w', '2', ip6, '80'])).stdout;
      return out !== '';
    });
    assert.equal(out, 'hello-bridge6\n');
    assert.notDeepEqual(await rulesOf(tag, 6), []);
    assert.equal((await d.docker(['rm', '-f', 'srv'])).code, 0);
    await d.stop();
    assert.deepEqual(await rulesOf(tag, 6), []);
  });
});
