import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { EngineError } from '../errors.js';
import { tarOf, type TarSpec } from '../snapshots/test-helpers.js';
import { LocalPlugins, pluginName } from './local.js';

async function refusal(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    return { kind: err.kind, message: err.message };
  }
  assert.fail('no error');
}

function refusalSync(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    return { kind: err.kind, message: err.message };
  }
  assert.fail('no error');
}

const f = (obj: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(obj));

/** docker-py's dummy plugin (tests/integration/testdata/dummy-plugin), as its create_plugin sends it. */
const DUMMY_CONFIG = JSON.stringify({
  description: 'Dummy test plugin for docker python SDK',
  documentation: 'https://github.com/docker/docker-py',
  entrypoint: ['/dummy'],
  network: { type: 'host' },
  interface: { types: ['docker.volumedriver/1.0'], socket: 'dummy.sock' },
  env: [{ name: 'DEBUG', settable: ['value'], value: '0' }],
});

const dummy = (extra: TarSpec[] = []): TarSpec[] => [
  { name: 'config.json', data: DUMMY_CONFIG },
  { name: 'rootfs', type: 'directory', mode: 0o755 },
  { name: 'rootfs/dummy', type: 'directory', mode: 0o755 },
  { name: 'rootfs/dummy/file.txt', data: 'hello\n', mode: 0o644 },
  ...extra,
];

const tar = async (entries: TarSpec[]): Promise<Readable> => Readable.from([await tarOf(entries)]);

describe('plugin names', () => {
  it("are normalised as dockerd's: latest by default, the familiar form, no digest", () => {
    assert.equal(pluginName('docker-sdk-py/dummy'), 'docker-sdk-py/dummy:latest');
    assert.equal(pluginName('docker.io/library/sshfs:1'), 'sshfs:1');
    assert.equal(pluginName('localhost:5000/a/b'), 'localhost:5000/a/b:latest');
    assert.match(refusalSync(() => pluginName('Bad')).message, /^failed to parse reference Bad: /);
    assert.equal(refusalSync(() => pluginName(`a@sha256:${'0'.repeat(64)}`)).message, 'canonical references are not permitted');
  });
});

describe('the plugins of a daemon root', () => {
  let root: string;
  const events: string[] = [];
  let plugins: LocalPlugins;
  let id = '';
  const pluginsDir = (): string => join(root, 'plugins');
  const leftovers = async (): Promise<string[]> => (await readdir(pluginsDir())).filter((n) => n.startsWith('.'));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pier-plugins-'));
    plugins = new LocalPlugins(root, (type, action, pid, attrs) => events.push(`${type} ${action} ${pid} ${attrs?.name}`));
    await plugins.init();
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("creates a plugin from docker-py's dummy plugin: its config read, its rootfs unpacked, the rest skipped", async () => {
    const p = await plugins.create({ name: 'docker-sdk-py/dummy', tar: await tar(dummy([{ name: 'README', data: 'not part of it' }])) });
    id = p.Id!;
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(p.Name, 'docker-sdk-py/dummy:latest');
    assert.equal(p.Enabled, false);
    assert.equal(p.PluginReference, 'docker-sdk-py/dummy:latest');
    assert.deepEqual(p.Settings, { Mounts: [], Env: ['DEBUG=0'], Args: [], Devices: [] });
    assert.deepEqual(p.Config.Entrypoint, ['/dummy']);
    assert.deepEqual(p.Config.Interface, { Types: ['docker.volumedriver/1.0'], Socket: 'dummy.sock' });
    assert.equal(p.Config.Network.Type, 'host');
    assert.equal(await readFile(join(pluginsDir(), id, 'rootfs', 'dummy', 'file.txt'), 'utf8'), 'hello\n');
    assert.deepEqual((await readdir(join(pluginsDir(), id))).sort(), ['plugin.json', 'rootfs']);
    assert.deepEqual(await readdir(join(pluginsDir(), id, 'rootfs')), ['dummy']);
    assert.deepEqual(events, [`plugin create ${id} docker-sdk-py/dummy:latest`]);
    assert.deepEqual(await leftovers(), []);
  });

  it('finds a plugin by name (tag or not), full ID and ID prefix; lists it by the filters', () => {
    assert.equal(plugins.get('docker-sdk-py/dummy').Id, id);
    assert.equal(plugins.get('docker-sdk-py/dummy:latest').Id, id);
    assert.equal(plugins.get(id).Name, 'docker-sdk-py/dummy:latest');
    assert.equal(plugins.get(id.slice(0, 6)).Id, id);
    assert.deepEqual(refusalSync(() => plugins.get('nosuch')), { kind: 'notFound', message: 'plugin "nosuch" not found' });
    assert.deepEqual(refusalSync(() => plugins.get('0'.repeat(64))), { kind: 'notFound', message: `plugin "${'0'.repeat(64)}" not found` });
    assert.deepEqual(plugins.list(new Map()).map((p) => p.Id), [id]);
    assert.equal(plugins.list(f({ enabled: ['false'] })).length, 1);
    assert.equal(plugins.list(f({ enabled: ['true'] })).length, 0);
    assert.equal(plugins.list(f({ capability: ['volumedriver'] })).length, 1);
    assert.equal(plugins.list(f({ capability: ['networkdriver'] })).length, 0);
    assert.deepEqual(refusalSync(() => plugins.list(f({ enable: ['true'] }))), { kind: 'invalid', message: "invalid filter 'enable'" });
    assert.equal(refusalSync(() => plugins.list(f({ enabled: ['maybe'] }))).kind, 'invalid');
  });

  it('refuses a second plugin of the same name, before and after reading its tar, and leaves nothing of it', async () => {
    assert.deepEqual(await refusal(plugins.create({ name: 'docker-sdk-py/dummy:latest', tar: await tar(dummy()) })), {
      kind: 'conflict',
      message: 'plugin docker-sdk-py/dummy:latest already exists',
    });
    // Two creates of one name at once: one wins, the other is refused once its tar is read.
    const both = await Promise.allSettled([plugins.create({ name: 'twin', tar: await tar(dummy()) }), plugins.create({ name: 'twin', tar: await tar(dummy()) })]);
    assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const lost = both.find((r) => r.status === 'rejected')!;
    assert.equal((lost.reason as Error).message, 'plugin twin:latest already exists');
    await plugins.remove('twin');
    assert.deepEqual(await leftovers(), []);
    assert.equal((await readdir(pluginsDir())).length, 1);
  });

  it('refuses a tar without config.json or rootfs, a bad config, entries that climb out or are absolute, and bytes that are no tar', async () => {
    const cases: Array<[string, TarSpec[] | Buffer, RegExp]> = [
      ['no config', dummy().slice(1), /config not found/],
      ['no rootfs', [{ name: 'config.json', data: DUMMY_CONFIG }], /no rootfs found/],
      ['config not JSON', [{ name: 'config.json', data: '{nope' }, ...dummy().slice(1)], /^config.json is not JSON/],
      ['config of the wrong shape', [{ name: 'config.json', data: '{"entrypoint":"/dummy"}' }, ...dummy().slice(1)], /^config.json: Entrypoint: /],
      ['config a symlink', [{ name: 'config.json', type: 'symlink', linkname: 'rootfs/dummy/file.txt' }, ...dummy().slice(1)], /config.json is not a regular file/],
      ['config a folder', [{ name: 'config.json', type: 'directory' }, ...dummy().slice(1)], /config.json is not a regular file/],
      ['a .. entry', dummy([{ name: 'rootfs/../../escape', data: 'x' }]), /climbs out/],
      ['an absolute entry', dummy([{ name: '/rootfs/etc/passwd', data: 'x' }]), /absolute entry name/],
      ['no tar at all', Buffer.from('this is not a tar archive, not even close to one '.repeat(20)), /unpack: /],
    ];
    for (const [what, entries, message] of cases) {
      const body = Buffer.isBuffer(entries) ? Readable.from([entries]) : await tar(entries);
      const r = await refusal(plugins.create({ name: `bad/${what.replace(/[^a-z]/g, '')}`, tar: body }));
      assert.equal(r.kind, 'invalid', `${what}: ${r.message}`);
      assert.match(r.message, message, what);
    }
    assert.equal(plugins.list(new Map()).length, 1);
    assert.deepEqual(await leftovers(), []);
    // Nothing was written outside the plugins' folder.
    await assert.rejects(lstat(join(root, 'escape')));
  });

  it('takes a gzip-compressed tar, and keeps symlinks of the rootfs inside it', async () => {
    const body = gzipSync(await tarOf(dummy([{ name: 'rootfs/up', type: 'symlink', linkname: '/' }, { name: 'rootfs/up/etc/written', data: 'inside' }])));
    const p = await plugins.create({ name: 'zipped:1', tar: Readable.from([body]) });
    assert.equal(p.Name, 'zipped:1');
    assert.equal(await readFile(join(pluginsDir(), p.Id!, 'rootfs', 'etc', 'written'), 'utf8'), 'inside');
    await plugins.remove(p.Id!);
  });

  it('sets env values as dockerd does, and a restart keeps them', async () => {
    await plugins.set('docker-sdk-py/dummy', ['DEBUG=1']);
    assert.deepEqual(plugins.get(id).Settings.Env, ['DEBUG=1']);
    assert.deepEqual(await refusal(plugins.set(id, ['NOPE=1'])), { kind: 'invalid', message: 'setting "NOPE" not found in the plugin configuration' });
    const again = new LocalPlugins(root, () => undefined);
    await again.init();
    assert.deepEqual(again.get('docker-sdk-py/dummy'), plugins.get(id));
    assert.deepEqual(again.get(id).Settings.Env, ['DEBUG=1']);
  });

  it("answers a disable with dockerd's conflict: no plugin is ever enabled", async () => {
    assert.deepEqual(await refusal(plugins.disable('docker-sdk-py/dummy')), { kind: 'conflict', message: 'plugin is already disabled: plugin docker-sdk-py/dummy:latest found but disabled' });
    assert.equal((await refusal(plugins.disable('nosuch'))).kind, 'notFound');
  });

  it('finishes what a crash left at start: staging and trash folders and temp records go, a bad record stays unloaded', async () => {
    await mkdir(join(pluginsDir(), '.new-0123456789abcdef', 'rootfs'), { recursive: true });
    await mkdir(join(pluginsDir(), '.rm-0123456789abcdef', 'rootfs'), { recursive: true });
    await writeFile(join(pluginsDir(), id, 'plugin.json.tmp-abcdef'), '{"half');
    const broken = 'f'.repeat(64);
    await mkdir(join(pluginsDir(), broken));
    await writeFile(join(pluginsDir(), broken, 'plugin.json'), '{"Id":"not it"}');
    const again = new LocalPlugins(root, () => undefined);
    await again.init();
    assert.deepEqual(again.list(new Map()).map((p) => p.Id), [id]);
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual((await readdir(join(pluginsDir(), id))).sort(), ['plugin.json', 'rootfs']);
    await rm(join(pluginsDir(), broken), { recursive: true });
  });

  it('removes a plugin with its rootfs; then it is unknown, also after a restart', async () => {
    events.length = 0;
    const gone = await plugins.remove('docker-sdk-py/dummy');
    assert.equal(gone.Id, id);
    assert.deepEqual(events, [`plugin remove ${id} docker-sdk-py/dummy:latest`]);
    assert.deepEqual(await readdir(pluginsDir()), []);
    assert.deepEqual(await refusal(plugins.remove('docker-sdk-py/dummy')), { kind: 'notFound', message: 'plugin "docker-sdk-py/dummy" not found' });
    const again = new LocalPlugins(root, () => undefined);
    await again.init();
    assert.deepEqual(again.list(new Map()), []);
  });
});
