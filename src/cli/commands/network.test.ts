import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { FakeDaemon } from '../../client/fake-daemon.js';
import type { Io } from '../context.js';
import { main } from '../main.js';
import { ipamConfigs, portLines } from './network.js';

/** `pier network ...` and `pier port` against a stand-in daemon: requests sent, output, exit code. */

const daemon = new FakeDaemon();

async function pier(args: string[], stdinText?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end(stdinText ?? '');
  const io: Io = { stdin, stdout, stderr, env: { PIER_HOST: daemon.host }, cwd: '/tmp', onSignal: () => () => undefined };
  const code = await main(args, io);
  return { code, stdout: out, stderr: err };
}

const body = (i = -1): unknown => JSON.parse(daemon.requests.at(i)!.body.toString()) as unknown;
const id = (c: string): string => c.repeat(64);

before(async () => {
  await daemon.start();
});
after(() => daemon.close());
beforeEach(() => {
  daemon.requests.length = 0;
});

describe('pier network', () => {
  it('create sends the IPAM config, labels and options, and prints the ID', async () => {
    daemon.reply('POST', '/networks/create', 201, { Id: id('a'), Warning: '' });
    const r = await pier(['network', 'create', '--subnet', '10.9.0.0/16', '--gateway', '10.9.0.254', '--ip-range', '10.9.1.0/24', '--internal', '--label', 'team=x', '-o', 'com.docker.network.bridge.name=br9', 'appnet']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id('a')}\n`);
    assert.deepEqual(body(), {
      Name: 'appnet',
      Driver: 'bridge',
      Options: { 'com.docker.network.bridge.name': 'br9' },
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.9.0.0/16', Gateway: '10.9.0.254', IPRange: '10.9.1.0/24' }] },
      Internal: true,
      Attachable: false,
      Ingress: false,
      ConfigOnly: false,
      Labels: { team: 'x' },
    });
  });

  it('create: the daemon\'s refusal is printed as Docker prints it, exit 1', async () => {
    daemon.reply('POST', '/networks/create', 409, { message: 'network with name appnet already exists' });
    const r = await pier(['network', 'create', 'appnet']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: network with name appnet already exists\n');
  });

  it('ls prints Docker\'s table sorted by name, -q the short IDs, --no-trunc and --format as asked', async () => {
    const nets = [
      { Name: 'net10', Id: id('c'), Created: '2026-11-27T10:00:00Z', Scope: 'local', Driver: 'bridge', Internal: true, Labels: { a: '1' } },
      { Name: 'bridge', Id: id('a'), Created: '2026-11-27T10:00:00Z', Scope: 'local', Driver: 'bridge', Labels: {} },
      { Name: 'net9', Id: id('b'), Created: '2026-11-27T10:00:00Z', Scope: 'local', Driver: 'bridge', Labels: {} },
      { Name: 'none', Id: id('d'), Created: '0001-01-01T00:00:00Z', Scope: 'local', Driver: 'null', Labels: {} },
    ];
    daemon.reply('GET', '/networks', 200, nets);
    const r = await pier(['network', 'ls', '--filter', 'driver=bridge']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'NETWORK ID     NAME      DRIVER    SCOPE',
        'aaaaaaaaaaaa   bridge    bridge    local',
        'bbbbbbbbbbbb   net9      bridge    local',
        'cccccccccccc   net10     bridge    local',
        'dddddddddddd   none      null      local',
        '',
      ].join('\n'),
    );
    assert.deepEqual(JSON.parse(daemon.requests.at(-1)!.query.get('filters')!), { driver: { bridge: true } });
    assert.equal((await pier(['network', 'ls', '-q'])).stdout, 'aaaaaaaaaaaa\nbbbbbbbbbbbb\ncccccccccccc\ndddddddddddd\n');
    assert.equal((await pier(['network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.Internal}} {{.Labels}}'])).stdout.split('\n')[2], `${id('c')} net10 true a=1`);
  });

  it('rm prints each removed name; a failure is reported, the others still removed, exit 1; -f ignores a missing one', async () => {
    daemon.reply('DELETE', /^\/networks\/(a|b)$/, 204);
    daemon.reply('DELETE', '/networks/gone', 404, { message: 'network gone not found' });
    const r = await pier(['network', 'rm', 'a', 'gone', 'b']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'a\nb\n');
    assert.equal(r.stderr, 'Error response from daemon: network gone not found\n');
    const f = await pier(['network', 'rm', '-f', 'gone', 'a']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, 'a\n');
  });

  it('prune asks first (no answer: nothing removed), -f lists what was deleted', async () => {
    daemon.reply('POST', '/networks/prune', 200, { NetworksDeleted: ['old1', 'old2'] });
    const asked = await pier(['network', 'prune'], 'n\n');
    assert.equal(asked.stdout, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
    assert.equal(daemon.requests.length, 0);
    const r = await pier(['network', 'prune', '-f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Deleted Networks:\nold1\nold2\n\n');
  });

  it('connect sends the endpoint (--ip, --alias), disconnect sends Force', async () => {
    daemon.reply('POST', '/networks/appnet/connect', 200);
    daemon.reply('POST', '/networks/appnet/disconnect', 200);
    assert.equal((await pier(['network', 'connect', '--ip', '10.9.0.7', '--alias', 'db', '--alias', 'sql', 'appnet', 'web'])).code, 0);
    assert.deepEqual(body(), { Container: 'web', EndpointConfig: { IPAMConfig: { IPv4Address: '10.9.0.7' }, Aliases: ['db', 'sql'] } });
    assert.equal((await pier(['network', 'disconnect', '-f', 'appnet', 'web'])).code, 0);
    assert.deepEqual(body(), { Container: 'web', Force: true });
    daemon.reply('POST', '/networks/appnet/connect', 403, { message: 'container cannot be connected to network appnet: it uses network mode host' });
    const refused = await pier(['network', 'connect', 'appnet', 'h']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error response from daemon: container cannot be connected/);
  });

  it('inspect prints the daemon\'s JSON as an array, or the template; a missing network fails', async () => {
    daemon.reply('GET', '/networks/appnet', 200, { Name: 'appnet', Id: id('e'), Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.9.0.0/16' }] } });
    daemon.reply('GET', '/networks/nope', 404, { message: 'network nope not found' });
    const r = await pier(['network', 'inspect', 'appnet']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Array<{ Name: string }>)[0]!.Name, 'appnet');
    assert.equal((await pier(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'appnet'])).stdout, '10.9.0.0/16\n');
    const missing = await pier(['network', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /network nope not found/);
  });
});

describe('pier port', () => {
  const ports = { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }], '9000/tcp': null };

  it('lists every mapping, ordered by port, or the host addresses of one port', async () => {
    daemon.reply('GET', '/containers/web/json', 200, { Id: id('f'), Name: '/web', NetworkSettings: { Ports: ports } });
    const all = await pier(['port', 'web']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, '53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:32768\n');
    assert.equal((await pier(['port', 'web', '80'])).stdout, '0.0.0.0:32768\n');
    assert.equal((await pier(['container', 'port', 'web', '53/udp'])).stdout, '127.0.0.1:5353\n');
    const unpublished = await pier(['port', 'web', '9000']);
    assert.equal(unpublished.code, 1);
    assert.equal(unpublished.stderr, "Error: No public port '9000' published for web\n");
  });

  it('portLines: IPv6 host addresses in brackets, a bad port refused', () => {
    assert.deepEqual(portLines({ '80/tcp': [{ HostIp: '::', HostPort: '8080' }] }, 'c'), ['80/tcp -> [::]:8080']);
    assert.throws(() => portLines({}, 'c', 'http'), /invalid port \(http\)/);
  });
});

describe('ipamConfigs', () => {
  it('places gateways and ranges in the subnet that holds them', () => {
    assert.deepEqual(ipamConfigs({ subnet: ['10.1.0.0/16', '10.2.0.0/16'], gateway: ['10.2.0.1'], ipRange: ['10.1.5.0/24'] }), [
      { Subnet: '10.1.0.0/16', IPRange: '10.1.5.0/24' },
      { Subnet: '10.2.0.0/16', Gateway: '10.2.0.1' },
    ]);
    assert.deepEqual(ipamConfigs({}), []);
  });

  it('refuses what Docker refuses', () => {
    assert.throws(() => ipamConfigs({ gateway: ['10.1.0.1'] }), /every ip-range or gateway must have a corresponding subnet/);
    assert.throws(() => ipamConfigs({ subnet: ['10.1.0.0/16'], gateway: ['10.3.0.1'] }), /no matching subnet for gateway 10.3.0.1/);
    assert.throws(() => ipamConfigs({ subnet: ['10.1.0.0/16', '10.2.0.0/16'], gateway: ['10.1.0.1', '10.1.0.2'] }), /cannot configure multiple gateways/);
  });
});
