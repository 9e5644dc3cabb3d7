import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, parseSize } from './config.js';

test('defaults are Docker-like paths and pier defaults', async () => {
  const c = await loadConfig([]);
  assert.equal(c.root, '/var/lib/pier');
  assert.equal(c.execRoot, '/run/pier');
  assert.equal(c.socket, '/run/pier/pier.sock');
  assert.equal(c.runtime, 'auto');
  assert.equal(c.init, true);
  assert.equal(c.usernsLayers, 'auto');
});

test('userns-layers: auto, idmap or copy, from the file or the flag', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'daemon.json');
  await writeFile(file, JSON.stringify({ 'userns-layers': 'copy' }));
  assert.equal((await loadConfig(['--config', file])).usernsLayers, 'copy');
  assert.equal((await loadConfig(['--config', file, '--userns-layers', 'idmap'])).usernsLayers, 'idmap');
  await assert.rejects(loadConfig(['--userns-layers', 'chown']), /invalid userns-layers "chown": want auto, idmap or copy/);
});

test('flags win over the daemon.json file; Docker keys keep their meaning', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pc-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'daemon.json');
  await writeFile(file, JSON.stringify({
    'data-root': '/from/file', 'insecure-registries': ['reg.local:5000'],
    'default-ulimits': { nofile: { Name: 'nofile', Soft: 1024, Hard: 2048 } }, init: false, 'default-shm-size': '128M',
  }));
  const c = await loadConfig(['--config', file, '--host=unix:///tmp/x.sock', '--root', '/from/flag', '--runtime', 'runc']);
  assert.equal(c.root, '/from/flag');
  assert.equal(c.socket, '/tmp/x.sock');
  assert.equal(c.runtime, 'runc');
  assert.deepEqual(c.insecureRegistries, ['reg.local:5000']);
  assert.deepEqual(c.defaultUlimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
  assert.equal(c.init, false);
  assert.equal(c.defaultShmSize, 128 * 1024 * 1024);
});

test('bad flags and values are refused with a message', async () => {
  await assert.rejects(loadConfig(['--bogus', 'x']), /unknown flag/);
  await assert.rejects(loadConfig(['--runtime', 'kata']), /unknown runtime/);
  await assert.rejects(loadConfig(['--host', 'tcp://0.0.0.0:2375']), /never listens on TCP without TLS and verified client certificates/);
  await assert.rejects(loadConfig(['--host', 'ssh://me@host']), /unsupported --host/);
  await assert.rejects(loadConfig(['--tlsverify', '--host', 'tcp://127.0.0.1:2376']), /--tlsverify needs --tlscacert, --tlscert and --tlskey/);
  const both = await loadConfig(['-H', 'unix:///tmp/a.sock', '-H', 'tcp://127.0.0.1:2376', '--tlsverify', '--tlscacert', 'ca', '--tlscert', 'c', '--tlskey', 'k', '-G', 'staff']);
  assert.deepEqual(both.listeners, [{ kind: 'unix', path: '/tmp/a.sock' }, { kind: 'tcp', host: '127.0.0.1', port: 2376 }]);
  assert.equal(both.socket, '/tmp/a.sock');
  assert.equal(both.group, 'staff');
  assert.throws(() => parseSize('lots'), /invalid size/);
  assert.equal(parseSize('64m'), 64 * 1024 * 1024);
});
