import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalNetworks } from './local.js';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'pn-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hostResolv = join(dir, 'host-resolv.conf');
  await writeFile(hostResolv, 'nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n');
  const req = {
    containerId: 'c'.repeat(64), containerName: 'web', hostname: 'cccccccccccc', domainname: '', networkMode: 'none',
    extraHosts: ['db:10.1.2.3'], dns: [], dnsSearch: [], dnsOptions: [], containerDir: dir,
  };
  return { dir, hostResolv, req };
}

test('none: a private namespace; hosts has localhost, the hostname and --add-host entries', async (t) => {
  const { dir, hostResolv, req } = await setup(t);
  const ep = await new LocalNetworks(hostResolv).prepare(req);
  assert.deepEqual(ep.attachment.netns, { kind: 'new' });
  const hosts = await readFile(join(dir, 'hosts'), 'utf8');
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(hosts, /^10\.1\.2\.3\tdb$/m);
  assert.match(hosts, /\tcccccccccccc$/m);
  assert.equal(await readFile(join(dir, 'hostname'), 'utf8'), 'cccccccccccc\n');
  // The host's loopback resolver cannot answer inside the namespace: dropped.
  const resolv = await readFile(join(dir, 'resolv.conf'), 'utf8');
  assert.equal(resolv, 'nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n');
  assert.deepEqual(ep.warnings, []);
  assert.ok('none' in ep.settings.Networks);
});

test('the default mode is loopback only and says so; --dns options replace the host ones', async (t) => {
  const { dir, hostResolv, req } = await setup(t);
  const ep = await new LocalNetworks(hostResolv).prepare({ ...req, networkMode: 'default', dns: ['1.1.1.1'], dnsSearch: ['a.b'] });
  assert.match(ep.warnings[0]!, /loopback only/);
  assert.match(ep.settings.Note!, /loopback only/);
  assert.equal(await readFile(join(dir, 'resolv.conf'), 'utf8'), 'options edns0\nnameserver 1.1.1.1\nsearch a.b\n');
});

test('host mode joins the host namespace; unknown networks are 404', async (t) => {
  const { hostResolv, req } = await setup(t);
  const ep = await new LocalNetworks(hostResolv).prepare({ ...req, networkMode: 'host' });
  assert.deepEqual(ep.attachment.netns, { kind: 'host' });
  await assert.rejects(new LocalNetworks(hostResolv).prepare({ ...req, networkMode: 'mynet' }), /network mynet not found/);
});
