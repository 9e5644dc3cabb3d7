import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { resolveExecUser, resolveInRoot, resolveUser } from './user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');
const GROUP = ['root:x:0:', 'wheel:x:10:alice,bob', 'audio:x:29:alice', 'alice:x:1000:', 'nogroup:x:65534:', ''].join('\n');

test('empty user is root with root home', () => {
  assert.deepEqual(resolveExecUser('', [], PASSWD, GROUP), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
});

test('a name brings its uid, primary group, home and supplementary groups', () => {
  assert.deepEqual(resolveExecUser('alice', [], PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' });
  assert.deepEqual(resolveExecUser('nobody', [], PASSWD, GROUP), { uid: 65534, gid: 65534, additionalGids: [], home: '/nonexistent' });
});

test('a number is looked up as a uid, and taken as is without an entry', () => {
  assert.deepEqual(resolveExecUser('1000', [], PASSWD, GROUP), { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' });
  assert.deepEqual(resolveExecUser('4242', [], PASSWD, GROUP), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
});

test('user:group sets the group and drops the implicit supplementary groups', () => {
  assert.deepEqual(resolveExecUser('alice:wheel', [], PASSWD, GROUP), { uid: 1000, gid: 10, additionalGids: [], home: '/home/alice' });
  assert.deepEqual(resolveExecUser('alice:777', [], PASSWD, GROUP), { uid: 1000, gid: 777, additionalGids: [], home: '/home/alice' });
  assert.deepEqual(resolveExecUser('4242:4343', [], PASSWD, GROUP), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
});

test('unknown names are refused with Docker messages', () => {
  assert.throws(
    () => resolveExecUser('nosuch', [], PASSWD, GROUP),
    (err: Error) => isKind(err, 'invalid') && err.message === 'unable to find user nosuch: no matching entries in passwd file',
  );
  assert.throws(
    () => resolveExecUser('alice:nosuch', [], PASSWD, GROUP),
    (err: Error) => isKind(err, 'invalid') && err.message === 'unable to find group nosuch: no matching entries in group file',
  );
  assert.throws(() => resolveExecUser('root', ['nosuch'], PASSWD, GROUP), /Unable to find group nosuch: no matching entries in group file/);
  assert.throws(() => resolveExecUser('99999999999', [], PASSWD, GROUP), /uids and gids must be in range/);
});

test('without passwd and group files numbers work and names do not', () => {
  assert.deepEqual(resolveExecUser('', [], undefined, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(resolveExecUser('1001:1002', ['5'], undefined, undefined), { uid: 1001, gid: 1002, additionalGids: [5], home: '/' });
  assert.throws(() => resolveExecUser('www', [], undefined, undefined), /unable to find user www: no matching entries in passwd file/);
});

test('GroupAdd takes names and numbers, once each, after the implicit groups', () => {
  assert.deepEqual(resolveExecUser('alice', ['audio', 'wheel', '10', '500'], PASSWD, GROUP).additionalGids, [10, 29, 29, 10, 500]);
  assert.deepEqual(resolveExecUser('root', ['audio', '29', 'nogroup'], PASSWD, GROUP).additionalGids, [29, 65534]);
});

test('files are read inside the rootfs; symlinks cannot leave it', async (t) => {
  const root = mkdtempSync('/tmp/pru-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'real'));
  writeFileSync(join(root, 'real', 'passwd'), 'app:x:777:778:app:/app:/bin/sh\n');
  // Absolute and climbing links resolve against the rootfs, not the host.
  symlinkSync('/real/passwd', join(root, 'etc', 'passwd'));
  symlinkSync('../../../../real/group', join(root, 'etc', 'group'));
  writeFileSync(join(root, 'real', 'group'), 'app:x:778:\nstaff:x:50:app\n');
  assert.equal(await resolveInRoot(root, '/etc/passwd'), join(root, 'real', 'passwd'));
  assert.equal(await resolveInRoot(root, '/etc/group'), join(root, 'real', 'group'));
  assert.equal(await resolveInRoot(root, '/../../etc/shadow'), join(root, 'etc', 'shadow'));
  assert.deepEqual(await resolveUser(root, 'app', []), { uid: 777, gid: 778, additionalGids: [50], home: '/app' });

  // A link loop is no file: names fail, numbers still work.
  rmSync(join(root, 'etc', 'passwd'));
  symlinkSync('passwd', join(root, 'etc', 'passwd'));
  await assert.rejects(resolveInRoot(root, '/etc/passwd'), /too many links/);
  await assert.rejects(resolveUser(root, 'app', []), /unable to find user app/);
  assert.deepEqual(await resolveUser(root, '777:5', []), { uid: 777, gid: 5, additionalGids: [], home: '/' });
});
