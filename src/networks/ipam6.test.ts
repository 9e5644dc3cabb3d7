import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contains6, formatCidr6, formatIp6, overlaps6, parseIp6, pickAddress6, pickSubnet6, tryParseCidr6, tryParseIp6, ulaBase } from './ipam6.js';

test('IPv6 addresses parse in every notation and format as RFC 5952', () => {
  assert.equal(formatIp6(parseIp6('2001:0DB8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
  assert.equal(formatIp6(parseIp6('::')), '::');
  assert.equal(formatIp6(parseIp6('::1')), '::1');
  assert.equal(formatIp6(parseIp6('fd00:1:0:0:1:0:0:0')), 'fd00:1:0:0:1::');
  assert.equal(formatIp6(parseIp6('fd00:0:0:1:0:0:1:1')), 'fd00::1:0:0:1:1');
  assert.equal(formatIp6(parseIp6('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatIp6(parseIp6('::ffff:192.0.2.1')), '::ffff:c000:201');
  assert.equal(formatIp6(parseIp6('[fe80::2]')), 'fe80::2');
  for (const bad of ['1::2::3', 'fd00::zz', '1:2:3:4:5:6:7:8:9', '12345::', '10.1.2.3', '', 'fe80::1%eth0']) {
    assert.equal(tryParseIp6(bad), undefined, bad);
  }
  assert.throws(() => parseIp6('fd00::zz'), /invalid IPv6 address: fd00::zz/);
});

test('IPv6 CIDRs: exactness, containment, overlap', () => {
  const c = tryParseCidr6('fd00:1:2::/64')!;
  assert.ok(c.exact);
  assert.equal(formatCidr6(c.cidr), 'fd00:1:2::/64');
  const loose = tryParseCidr6('fd00:1:2::5/64')!;
  assert.ok(!loose.exact);
  assert.equal(formatCidr6(loose.cidr), 'fd00:1:2::/64');
  assert.equal(tryParseCidr6('fd00::/129'), undefined);
  assert.equal(tryParseCidr6('fd00::zz/64'), undefined);
  assert.ok(contains6(c.cidr, parseIp6('fd00:1:2::ffff')));
  assert.ok(!contains6(c.cidr, parseIp6('fd00:1:3::1')));
  assert.ok(overlaps6(tryParseCidr6('fd00::/8')!.cidr, c.cidr));
  assert.ok(!overlaps6(tryParseCidr6('fd00:1:3::/64')!.cidr, c.cidr));
});

test('the ULA pool is a /48 of fd00::/8 per daemon root; subnets and addresses are the lowest free', () => {
  const a = ulaBase('/var/lib/pier');
  assert.equal(a.prefix, 48);
  assert.equal(a.base >> 120n, 0xfdn);
  assert.deepEqual(ulaBase('/var/lib/pier'), a);
  assert.notDeepEqual(ulaBase('/tmp/other'), a);
  const first = pickSubnet6(a, []);
  assert.equal(first.base, a.base);
  assert.equal(first.prefix, 64);
  const second = pickSubnet6(a, [first]);
  assert.equal(second.base, a.base | (1n << 64n));
  const gw = first.base + 1n;
  assert.equal(pickAddress6(first, first, new Set([gw])), first.base + 2n);
  assert.equal(pickAddress6(first, first, new Set([gw, first.base + 2n])), first.base + 3n);
  const range = tryParseCidr6(`${formatIp6(first.base | 0x100n)}/120`)!.cidr;
  assert.equal(pickAddress6(first, range, new Set([gw])), first.base | 0x100n);
});
