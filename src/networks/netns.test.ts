import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { configureInside, createNetns, createVeths, execIn, linkExists, removeNetns } from './netns.js';

const run = promisify(execFile);

interface IpAddr {
  ifname: string;
  flags: string[];
  address?: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

/**
 * A namespace made by pierd's own calls, as a container's is: a veth pair onto a test bridge
 * (netlink), then loopback, the address and the default route inside (ioctls).
 */
test('createVeths and configureInside give a namespace its interface, address and route', async (t) => {
  const dir = await mkdtemp('/tmp/pn-');
  const ns = join(dir, 'ns');
  const bridge = `ptnb${process.pid % 100000}`;
  const host = `ptnv${process.pid % 100000}`;
  t.after(async () => {
    removeNetns(ns);
    await run('ip', ['link', 'del', host]).catch(() => undefined);
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  createNetns(ns);

  createVeths(ns, [{ host, bridge, peer: 'eth0', mac: '02:42:0a:fe:00:05' }]);
  configureInside(ns, { lo: true, ifaces: [{ name: 'eth0', ip: '10.254.0.5', prefix: 24 }], gateway: '10.254.0.1' });

  const addrs = JSON.parse(await execIn(ns, 'ip', ['-j', 'addr', 'show'], '')) as IpAddr[];
  const lo = addrs.find((a) => a.ifname === 'lo');
  const eth0 = addrs.find((a) => a.ifname === 'eth0');
  assert.ok(lo?.flags.includes('UP'));
  assert.ok(eth0, JSON.stringify(addrs));
  assert.ok(eth0.flags.includes('UP') && eth0.flags.includes('MULTICAST'), eth0.flags.join(','));
  assert.equal(eth0.address, '02:42:0a:fe:00:05');
  assert.deepEqual(eth0.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.254.0.5/24']);
  const routes = await execIn(ns, 'ip', ['-4', 'route', 'show'], '');
  assert.match(routes, /^default via 10\.254\.0\.1 dev eth0/m);

  const hostLink = (JSON.parse((await run('ip', ['-j', '-d', 'link', 'show', host])).stdout) as Array<{ master?: string; flags: string[] }>)[0]!;
  assert.equal(hostLink.master, bridge);
  assert.ok(hostLink.flags.includes('UP'));
  assert.equal(linkExists(host), true);
  assert.equal(linkExists(`${host}x`), false);

  // A name in use: the kernel's error, and nothing else made.
  assert.throws(() => createVeths(ns, [{ host, bridge, peer: 'eth1', mac: '02:42:0a:fe:00:06' }]), /EEXIST/);
  assert.throws(() => configureInside(ns, { lo: false, ifaces: [{ name: 'eth9', ip: '10.254.0.9', prefix: 24 }] }), /SIOCSIFADDR eth9.*ENODEV/);
});

/** IPv6 inside a namespace (netlink): an address usable at once (no DAD) and the default route. */
test('configureInside gives an interface its IPv6 address without DAD and the IPv6 default route', async (t) => {
  const dir = await mkdtemp('/tmp/pn6-');
  const ns = join(dir, 'ns');
  const bridge = `ptnb6${process.pid % 10000}`;
  const host = `ptnv6${process.pid % 10000}`;
  t.after(async () => {
    removeNetns(ns);
    await run('ip', ['link', 'del', host]).catch(() => undefined);
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  createNetns(ns);
  createVeths(ns, [{ host, bridge, peer: 'eth0', mac: '02:42:0a:fe:00:07' }]);
  const v6 = (text: string): Buffer => Buffer.from(text.split(':').flatMap((g) => [parseInt(g.padStart(4, '0').slice(0, 2), 16), parseInt(g.padStart(4, '0').slice(2), 16)]));
  configureInside(ns, {
    lo: true,
    ifaces: [{ name: 'eth0', ip: '10.254.0.7', prefix: 24, ip6: { address: v6('fd42:0:0:7:0:0:0:2'), prefix: 64 } }],
    gateway: '10.254.0.1',
    gateway6: { address: v6('fd42:0:0:7:0:0:0:1'), iface: 'eth0' },
  });
  const addrs = JSON.parse(await execIn(ns, 'ip', ['-j', '-6', 'addr', 'show', 'dev', 'eth0'], '')) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string; tentative?: boolean }> }>;
  const global = addrs[0]!.addr_info.filter((a) => a.scope === 'global');
  assert.deepEqual(global.map((a) => `${a.local}/${a.prefixlen}`), ['fd42:0:0:7::2/64']);
  assert.equal(global[0]!.tentative, undefined);
  assert.match(await execIn(ns, 'ip', ['-6', 'route', 'show', 'default'], ''), /^default via fd42:0:0:7::1 dev eth0/m);
  // An address of a missing interface: the error names it, nothing is left half made.
  assert.throws(() => configureInside(ns, { lo: false, ifaces: [], gateway6: { address: v6('fd42:0:0:7:0:0:0:1'), iface: 'eth9' } }), /interface eth9/);
});
