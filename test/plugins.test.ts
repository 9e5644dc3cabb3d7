import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pack } from 'tar-stream';
import type { Plugin } from '../src/wire/engine.js';
import { fetchSocket, startDaemon, type Daemon } from './harness.js';

/**
 * Managed plugins as a Docker user sees them: `docker plugin create|ls|inspect|set|rm` through
 * the real docker CLI against a private pierd, the refusals through the CLI and the raw API.
 */

/** docker-py's dummy plugin (tests/integration/testdata/dummy-plugin/config.json). */
const DUMMY_CONFIG = {
  description: 'Dummy test plugin for docker python SDK',
  documentation: 'https://github.com/docker/docker-py',
  entrypoint: ['/dummy'],
  network: { type: 'host' },
  interface: { types: ['docker.volumedriver/1.0'], socket: 'dummy.sock' },
  env: [{ name: 'DEBUG', settable: ['value'], value: '0' }],
};

const ok = (r: { code: number; stdout: string; stderr: string }): string => {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

/** A tar of entries (name, content or a folder), as bytes. */
async function tarOf(entries: Array<[string, string | null]>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const [name, data] of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (data === null) p.entry({ name, type: 'directory', mode: 0o755 }, cb);
      else p.entry({ name, mode: 0o644 }, data, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** POST /plugins/create with a body; the status and the error message, if any. */
function createRaw(d: Daemon, name: string, body: Buffer): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const path = `/v1.51/plugins/create?name=${encodeURIComponent(name)}`;
    const req = request({ socketPath: d.socket, method: 'POST', path, headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, message: raw === '' ? '' : (JSON.parse(raw) as { message: string }).message });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('managed plugins through the docker CLI', () => {
  let d: Daemon;
  let dir: string;
  before(async () => {
    d = await startDaemon();
    dir = await mkdtemp('/tmp/pier-plugin-ctx-');
    await mkdir(join(dir, 'rootfs', 'dummy'), { recursive: true });
    await writeFile(join(dir, 'rootfs', 'dummy', 'file.txt'), 'dummy\n');
    await writeFile(join(dir, 'config.json'), JSON.stringify(DUMMY_CONFIG));
  });
  after(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('create from a folder, ls, inspect, set, and a pierd restart keeps the plugin', async () => {
    assert.equal(ok(await d.docker(['plugin', 'create', 'docker-sdk-py/dummy', dir])), 'docker-sdk-py/dummy\n');
    const ls = ok(await d.docker(['plugin', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.Description}} {{.Enabled}}']));
    const [id, name, ...rest] = ls.trim().split(' ');
    assert.match(id!, /^[0-9a-f]{64}$/);
    assert.equal(name, 'docker-sdk-py/dummy:latest');
    assert.equal(rest.join(' '), 'Dummy test plugin for docker python SDK false');
    const [p] = JSON.parse(ok(await d.docker(['plugin', 'inspect', 'docker-sdk-py/dummy']))) as Plugin[];
    assert.equal(p!.Id, id);
    assert.equal(p!.Name, 'docker-sdk-py/dummy:latest');
    assert.equal(p!.Enabled, false);
    assert.equal(p!.PluginReference, 'docker-sdk-py/dummy:latest');
    assert.deepEqual(p!.Settings, { Mounts: [], Env: ['DEBUG=0'], Args: [], Devices: [] });
    assert.deepEqual(p!.Config.Entrypoint, ['/dummy']);
    assert.deepEqual(p!.Config.Interface, { Types: ['docker.volumedriver/1.0'], Socket: 'dummy.sock' });
    assert.equal(p!.Config.Network.Type, 'host');
    assert.deepEqual(p!.Config.Env, [{ Name: 'DEBUG', Description: '', Settable: ['value'], Value: '0' }]);
    // The rootfs is kept under the plugin's ID.
    assert.deepEqual(await readdir(join(d.root, 'plugins', id!, 'rootfs', 'dummy')), ['file.txt']);
    assert.equal(ok(await d.docker(['plugin', 'inspect', '--format', '{{.Config.Description}}', id!.slice(0, 12)])), 'Dummy test plugin for docker python SDK\n');
    assert.equal(ok(await d.docker(['plugin', 'ls', '-q', '--filter', 'capability=volumedriver'])).trim(), id!.slice(0, 12));
    assert.equal(ok(await d.docker(['plugin', 'ls', '-q', '--filter', 'enabled=true'])), '');

    ok(await d.docker(['plugin', 'set', 'docker-sdk-py/dummy', 'DEBUG=1']));
    const refused = await d.docker(['plugin', 'set', 'docker-sdk-py/dummy', 'NOPE=1']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /setting "NOPE" not found in the plugin configuration/);

    await d.restart();
    assert.equal(ok(await d.docker(['plugin', 'inspect', '--format', '{{.Id}} {{json .Settings.Env}}', 'docker-sdk-py/dummy'])), `${id} ["DEBUG=1"]\n`);
  });

  test("refusals: a taken name 409, enable 501 saying why, disable Docker's conflict, an unknown plugin 404", async () => {
    const dup = await d.docker(['plugin', 'create', 'docker-sdk-py/dummy:latest', dir]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /plugin docker-sdk-py\/dummy:latest already exists/);
    assert.equal((await createRaw(d, 'docker-sdk-py/dummy', await tarOf([['config.json', '{}'], ['rootfs', null]]))).status, 409);

    const enable = await d.docker(['plugin', 'enable', 'docker-sdk-py/dummy']);
    assert.notEqual(enable.code, 0);
    assert.match(enable.stderr, /enable plugin docker-sdk-py\/dummy:latest: pier does not run managed plugins/);
    assert.equal((await fetchSocket(d.socket, 'POST', '/v1.51/plugins/docker-sdk-py/dummy/enable?timeout=0')).status, 501);

    const disable = await fetchSocket(d.socket, 'POST', '/v1.51/plugins/docker-sdk-py/dummy/disable');
    assert.equal(disable.status, 409);
    assert.match(disable.body, /plugin is already disabled: plugin docker-sdk-py\/dummy:latest found but disabled/);

    for (const args of [['plugin', 'inspect', 'nosuch'], ['plugin', 'rm', 'nosuch'], ['plugin', 'enable', 'nosuch']]) {
      const r = await d.docker(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /plugin "nosuch" not found/, args.join(' '));
    }
    assert.equal((await fetchSocket(d.socket, 'GET', '/v1.51/plugins/nosuch/json')).status, 404);
    assert.equal((await fetchSocket(d.socket, 'POST', '/v1.51/plugins/pull?remote=vieux/sshfs')).status, 501);
  });

  test('a tar without config.json, with a bad one, with an entry climbing out, or no tar at all: 400 naming why', async () => {
    const rootfs: Array<[string, string | null]> = [['rootfs', null], ['rootfs/f', 'x']];
    const cases: Array<[Buffer, RegExp]> = [
      [await tarOf(rootfs), /config not found/],
      [await tarOf([['config.json', '{not json'], ...rootfs]), /config.json is not JSON/],
      [await tarOf([['config.json', '{"Entrypoint":"/x"}'], ...rootfs]), /config.json: Entrypoint: /],
      [await tarOf([['config.json', '{}']]), /no rootfs found/],
      [await tarOf([['config.json', '{}'], ...rootfs, ['rootfs/../../../x', 'x']]), /climbs out/],
      [Buffer.from('not a tar at all, '.repeat(64)), /unpack: /],
    ];
    for (const [body, message] of cases) {
      const r = await createRaw(d, 'bad/one', body);
      assert.equal(r.status, 400, r.message);
      assert.match(r.message, message);
    }
    assert.equal(ok(await d.docker(['plugin', 'ls', '-q'])).trim().split('\n').length, 1);
    // Nothing of the refused creates is left in the plugins' folder.
    assert.equal((await readdir(join(d.root, 'plugins'))).length, 1);
  });

  test('rm removes the plugin and its rootfs', async () => {
    assert.equal(ok(await d.docker(['plugin', 'rm', '--force', 'docker-sdk-py/dummy'])), 'docker-sdk-py/dummy\n');
    assert.equal(ok(await d.docker(['plugin', 'ls', '-q'])), '');
    assert.deepEqual(await readdir(join(d.root, 'plugins')), []);
    assert.equal((await fetchSocket(d.socket, 'DELETE', '/v1.51/plugins/docker-sdk-py/dummy')).status, 404);
  });
});
