import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { devicesFromPath, devNumbers, hostDevices, parseDeviceCgroupRule, throttleDevices, validateDeviceRequest } from './devices.js';

test('device cgroup rules as moby parses them', () => {
  assert.deepEqual(parseDeviceCgroupRule('c 1:3 rwm'), { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
  assert.deepEqual(parseDeviceCgroupRule('b *:* m'), { allow: true, type: 'b', access: 'm' });
  assert.deepEqual(parseDeviceCgroupRule('a 7:* r'), { allow: true, type: 'a', major: 7, access: 'r' });
  for (const bad of ['c 1:3', 'x 1:3 rwm', 'c 1-3 rwm', 'c 1:3 rwx', 'c 1:3 rwmr', ' c 1:3 rwm']) {
    assert.throws(() => parseDeviceCgroupRule(bad), (e: Error) => isKind(e, 'invalid') && e.message === `invalid device cgroup rule format: '${bad}'`);
  }
});

test('device mappings: absolute paths and rwm permissions', () => {
  assert.doesNotThrow(() => validateDeviceRequest({ pathOnHost: '/dev/null', pathInContainer: '', cgroupPermissions: 'rw' }));
  assert.throws(() => validateDeviceRequest({ pathOnHost: 'dev/null', pathInContainer: '', cgroupPermissions: '' }), /must be absolute/);
  assert.throws(() => validateDeviceRequest({ pathOnHost: '/dev/null', pathInContainer: 'x', cgroupPermissions: '' }), /must be absolute/);
  assert.throws(() => validateDeviceRequest({ pathOnHost: '/dev/null', pathInContainer: '', cgroupPermissions: 'rwx' }), /permissions/);
});

test('dev_t numbers as glibc splits them', () => {
  assert.deepEqual(devNumbers(0x0103), { major: 1, minor: 3 });
  assert.deepEqual(devNumbers(0xfe00), { major: 254, minor: 0 });
  // major 259, minor 300: minor's high bits above the major's.
  assert.deepEqual(devNumbers((259 << 8) | (300 & 0xff) | ((300 & ~0xff) << 12)), { major: 259, minor: 300 });
});

test('a --device from the host: its numbers and mode, a symlink followed, a folder walked, a non-device refused', async (t) => {
  const one = await devicesFromPath({ pathOnHost: '/dev/null', pathInContainer: '/dev/mynull', cgroupPermissions: 'r' });
  assert.deepEqual(one, {
    devices: [{ path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }],
    rules: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'r' }],
  });
  const dir = mkdtempSync('/tmp/prdev-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync('/dev/zero', join(dir, 'z'));
  const linked = await devicesFromPath({ pathOnHost: join(dir, 'z'), pathInContainer: '', cgroupPermissions: '' });
  assert.deepEqual(linked.devices.map((d) => [d.path, d.major, d.minor]), [[join(dir, 'z'), 1, 5]]);
  assert.equal(linked.rules[0]!.access, 'rwm');
  await assert.rejects(devicesFromPath({ pathOnHost: '/etc/hostname', pathInContainer: '', cgroupPermissions: '' }), /adding custom device "\/etc\/hostname": not a device node/);
  await assert.rejects(devicesFromPath({ pathOnHost: '/dev/nope', pathInContainer: '', cgroupPermissions: '' }), (e: Error) =>
    isKind(e, 'invalid') && e.message === 'error gathering device information while adding custom device "/dev/nope": no such file or directory');
  const all = await hostDevices();
  assert.ok(all.some((d) => d.path === '/dev/null' && d.major === 1 && d.minor === 3));
  assert.ok(!all.some((d) => d.path.startsWith('/dev/pts/') || d.path === '/dev/console'));
  assert.deepEqual(await throttleDevices([{ path: '/dev/zero', rate: 1024 }]), [{ major: 1, minor: 5, rate: 1024 }]);
});
