import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contains, defaultPool, formatCidr, intToIp, ipToInt, macOf, overlaps, parseCidr, pickAddress, pickSubnet } from './ipam.js';
import { renderRules } from './rules.js';

test('CIDRs parse to their network address; bad ones are refused with a clear error', () => {
  assert.equal(formatCidr(parseCidr('10.1.2.3/16')), '10.1.0.0/16');
  assert.throws(() => parseCidr('10.300.0.0/16'), /invalid subnet 10\.300\.0\.0\/16/);
  assert.throws(() => parseCidr('10.0.0.0'), /not a CIDR/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /not a CIDR/);
  assert.equal(intToIp(ipToInt('192.168.1.254')), '192.168.1.254');
});

test('overlap and containment', () => {
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.5.0.0/16')));
  assert.ok(!overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.1.0.0/16')));
  assert.ok(contains(parseCidr('172.17.0.0/16'), ipToInt('172.17.255.254')));
  assert.ok(!contains(parseCidr('172.17.0.0/16'), ipToInt('172.18.0.1')));
});

test('the pool skips taken subnets; rotation starts elsewhere', () => {
  const taken = [parseCidr('172.17.0.0/16'), parseCidr('172.18.5.0/24')];
  assert.equal(formatCidr(pickSubnet(defaultPool(), taken)), '172.19.0.0/16');
  assert.notEqual(formatCidr(defaultPool(7)[0]!), '172.17.0.0/16');
  assert.throws(() => pickSubnet([parseCidr('10.0.0.0/16')], [parseCidr('10.0.0.0/8')]), /non-overlapping/);
});

test('addresses: lowest free, never network, gateway or broadcast; within the ip-range', () => {
  const subnet = parseCidr('10.9.0.0/30');
  const gw = ipToInt('10.9.0.1');
  assert.equal(intToIp(pickAddress(subnet, subnet, new Set([gw]))), '10.9.0.2');
  assert.throws(() => pickAddress(subnet, subnet, new Set([gw, ipToInt('10.9.0.2')])), /no available IPv4 addresses/);
  const big = parseCidr('10.8.0.0/16');
  assert.equal(intToIp(pickAddress(big, parseCidr('10.8.3.0/24'), new Set([ipToInt('10.8.0.1')]))), '10.8.3.0');
  assert.equal(macOf(ipToInt('172.17.0.2')), '02:42:ac:11:00:02');
});

test('rules: own chains only, isolation after replies, no NAT out of internal networks, DNAT per port', () => {
  const text = renderRules('abcde', [
    { bridge: 'pierabcdeb0', subnet: '172.17.0.0/16', internal: false },
    { bridge: 'pierabcdeb1', subnet: '10.1.0.0/24', internal: true },
  ], [{ proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18089, containerIp: '172.17.0.2', containerPort: 8080 }]);
  const lines = text.split('\n');
  for (const l of lines.filter((x) => x.startsWith('-A') || x.startsWith(':'))) assert.match(l, /^(-A |:)PIER-abcde-/);
  const established = lines.findIndex((l) => l.includes('-o pierabcdeb0 -m conntrack --ctstate RELATED,ESTABLISHED'));
  const isolation = lines.findIndex((l) => l.includes('-i pierabcdeb0 -o pierabcdeb+ -j DROP'));
  assert.ok(established >= 0 && isolation > established);
  assert.ok(lines.includes('-A PIER-abcde-FWD -i pierabcdeb1 -j DROP'));
  assert.ok(lines.includes('-A PIER-abcde-POST -s 172.17.0.0/16 ! -o pierabcdeb0 -j MASQUERADE'));
  assert.ok(!lines.some((l) => l.includes('-s 10.1.0.0/24 ! -o')));
  assert.ok(lines.includes('-A PIER-abcde-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 18089 -j DNAT --to-destination 172.17.0.2:8080'));
});
