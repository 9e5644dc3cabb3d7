import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedDns, parseQuery } from './dns.js';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store.js';

/** A DNS query for `name` of `type` (1 A, 28 AAAA), id 0x1234, recursion desired. */
function query(name: string, type: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, tail]);
}

function endpoint(id: string, name: string, ip: string, ip6?: string, links?: string[]): EndpointRecord {
  return { ContainerId: id, Name: name, EndpointID: id, IP: ip, IP6: ip6, Mac: '', Aliases: [], DNSNames: [name, `${name}-alias`], Links: links, Ports: [], HostVeth: '', HostsPath: '' };
}

const net = { Id: 'n1', Name: 'app', Default: false, Gateway: '10.0.0.1', Endpoints: {
  a: endpoint('a', 'web', '10.0.0.2', 'fd00::2'),
  b: endpoint('b', 'client', '10.0.0.3', 'fd00::3', ['web:up']),
  c: endpoint('c', 'v4only', '10.0.0.4'),
} } as unknown as NetworkRecord;
const store = { all: () => [net], networksOf: (id: string) => (net.Endpoints[id] ? [net] : []) } as unknown as NetworkStore;

test('queries parse; replies carry the question and A or AAAA records of the names a container sees', async () => {
  assert.deepEqual(parseQuery(query('web', 28)), { name: 'web', type: 28, end: 12 + 4 + 5 });
  assert.equal(parseQuery(Buffer.from([0, 0, 0x80, 0])), undefined);
  const dns = new EmbeddedDns(store, '/nonexistent');
  const aaaa = (await dns.answer(query('WEB', 28), '10.0.0.3'))!;
  assert.equal(aaaa.readUInt16BE(0), 0x1234);
  assert.equal(aaaa[3]! & 0x0f, 0); // NOERROR
  assert.equal(aaaa.readUInt16BE(6), 1);
  assert.equal(aaaa.subarray(aaaa.length - 16).toString('hex'), 'fd000000000000000000000000000002');
  const a = (await dns.answer(query('web-alias', 1), 'fd00::3'))!;
  assert.equal([...a.subarray(a.length - 4)].join('.'), '10.0.0.2');
  // A known name without an IPv6 address: an empty NOERROR answer, as Docker gives.
  const none = (await dns.answer(query('v4only', 28), '10.0.0.2'))!;
  assert.equal(none[3]! & 0x0f, 0);
  assert.equal(none.readUInt16BE(6), 0);
  // A link alias is the linking container's alone.
  assert.equal((await dns.answer(query('up', 1), '10.0.0.3'))!.readUInt16BE(6), 1);
  const other = (await dns.answer(query('up', 1), '10.0.0.2'))!;
  assert.equal(other[3]! & 0x0f, 2); // no upstream here: SERVFAIL
});
