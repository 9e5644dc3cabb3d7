import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineError } from '../errors.js';
import { LocalVolumes } from './local.js';
import { ANONYMOUS_LABEL } from './volumes.js';

async function refusal(p: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    return { kind: err.kind, message: err.message };
  }
  assert.fail('no error');
}

const f = (obj: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(obj));

describe('the local volume driver (no device mounts)', () => {
  let root: string;
  const events: string[] = [];
  let vols: LocalVolumes;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pier-vol-'));
    vols = new LocalVolumes(root, (type, action, id) => events.push(`${type} ${action} ${id}`));
    await vols.init([]);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates named and anonymous volumes, again by name returns the same one', async () => {
    const a = await vols.create({ name: 'alpha', labels: { tier: 'db' } });
    assert.deepEqual(a, { CreatedAt: a.CreatedAt, Driver: 'local', Labels: { tier: 'db' }, Mountpoint: join(root, 'volumes', 'alpha', '_data'), Name: 'alpha', Options: null, Scope: 'local' });
    assert.deepEqual(await vols.create({ name: 'alpha', labels: { other: 'x' } }), a);
    const anon = await vols.create({}, 'c1');
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.Labels, { [ANONYMOUS_LABEL]: '' });
    assert.deepEqual(events.filter((e) => e.includes('create')), ['volume create alpha', `volume create ${anon.Name}`]);
    assert.deepEqual(vols.references(anon.Name), ['c1']);
  });

  it('lists by name, with the filters dangling, name, driver, label', async () => {
    await vols.create({ name: 'beta' });
    vols.reference('beta', 'c2');
    const names = (filters: Record<string, string[]>) => vols.list(f(filters)).map((v) => v.Name).filter((n) => n.length < 64);
    assert.deepEqual(names({}), ['alpha', 'beta']);
    assert.deepEqual(names({ dangling: ['true'] }), ['alpha']);
    assert.deepEqual(names({ dangling: ['0'] }), ['beta']);
    assert.deepEqual(names({ name: ['lph'] }), ['alpha']);
    assert.deepEqual(names({ name: ['^b.*a$'] }), ['beta']);
    assert.deepEqual(names({ driver: ['local'] }), ['alpha', 'beta']);
    assert.deepEqual(names({ driver: ['loc'] }), []);
    assert.deepEqual(names({ label: ['tier=db'] }), ['alpha']);
    assert.deepEqual(await refusal(Promise.resolve().then(() => vols.list(f({ until: ['1h'] })))), { kind: 'invalid', message: "invalid filter 'until'" });
  });

  it('refuses bad names, options and drivers', async () => {
    assert.deepEqual(await refusal(vols.create({ name: 'x' })), { kind: 'invalid', message: 'create x: volume name is too short, names should be at least two alphanumeric characters' });
    assert.equal((await refusal(vols.create({ name: '../up' }))).kind, 'invalid');
    assert.deepEqual(await refusal(vols.create({ name: 'sz', options: { size: '1g' } })), { kind: 'invalid', message: 'create sz: quota size requested but no quota support' });
    assert.deepEqual(await refusal(vols.create({ name: 'oo', options: { o: 'size=1m', device: 'tmpfs' } })), { kind: 'invalid', message: 'create oo: missing required option: "type"' });
    assert.equal((await refusal(vols.create({ name: 'pl', driver: 'rexray' }))).kind, 'notFound');
    assert.ok(!(await readdir(join(root, 'volumes'))).some((e) => ['x', 'sz', 'oo', 'pl'].includes(e)));
  });

  it('a referenced volume is not removed, force or not; prune takes the unreferenced ones it is asked for', async () => {
    for (const force of [false, true]) {
      assert.deepEqual(await refusal(vols.remove('beta', { force })), { kind: 'conflict', message: 'remove beta: volume is in use - [c2]' });
    }
    await writeFile(join(root, 'volumes', 'alpha', '_data', 'f'), '12345');
    const anonOnly = await vols.prune(new Map(), { anonymousOnly: true });
    assert.deepEqual(anonOnly, { VolumesDeleted: [], SpaceReclaimed: 0 }); // the anonymous one is referenced by c1
    const anon = vols.list(new Map()).find((v) => v.Name.length === 64)!.Name;
    vols.release(anon, 'c1');
    assert.deepEqual(await vols.prune(new Map(), { anonymousOnly: true }), { VolumesDeleted: [anon], SpaceReclaimed: 0 });
    assert.deepEqual(await vols.prune(f({ label: ['tier=db'] }), { anonymousOnly: false }), { VolumesDeleted: ['alpha'], SpaceReclaimed: 5 });
    vols.release('beta', 'c2');
    await vols.remove('beta');
    assert.deepEqual(vols.list(new Map()), []);
    assert.deepEqual(await refusal(vols.remove('beta')), { kind: 'notFound', message: 'get beta: no such volume' });
    await vols.remove('beta', { force: true });
    assert.deepEqual(await readdir(join(root, 'volumes')), []);
  });

  it('at start, leftovers of a crash go and whole records load; an unreadable record is left alone', async () => {
    await vols.create({ name: 'kept' });
    const dir = join(root, 'volumes');
    await mkdir(join(dir, '.new-00', '_data'), { recursive: true });
    await mkdir(join(dir, '.rm-00', '_data'), { recursive: true });
    await mkdir(join(dir, 'broken'));
    await writeFile(join(dir, 'broken', 'volume.json'), '{"Name":');
    const again = new LocalVolumes(root, () => undefined);
    await again.init([{ id: 'c9', volumes: ['kept', 'gone'], running: false }]);
    assert.deepEqual(again.list(new Map()).map((v) => v.Name), ['kept']);
    assert.deepEqual(again.references('kept'), ['c9']);
    assert.deepEqual((await readdir(dir)).sort(), ['broken', 'kept']);
  });
});
