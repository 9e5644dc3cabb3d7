import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../errors.js';
import { parseBind, parseMountConfig, parseVolumesFrom, planMounts, tmpfsData, validMode } from './mount-spec.js';
import { mergeTmpfsOptions } from './mounts.js';
import type { HostConfig, MountPoint } from './types.js';

/** A HostConfig as a request body gives it (zod leaves absent fields out). */
const hc = (x: Record<string, unknown>): HostConfig => x;

/** The message of the `invalid` error `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    assert.equal(err.kind, 'invalid');
    return err.message;
  }
  assert.fail('no error thrown');
}

describe('-v specs (HostConfig.Binds)', () => {
  it('a host path is a bind, rprivate, read-write unless ro; the mode is kept as given', () => {
    assert.deepEqual(parseBind('/a/b/../c/:/x/'), {
      point: { Type: 'bind', Destination: '/x', Source: '/a/c', RW: true, Mode: '', Propagation: 'rprivate', CreateHostPath: true },
      sourceMustExist: false,
    });
    const ro = parseBind('/a:/x:ro,rshared').point;
    assert.equal(ro.RW, false);
    assert.equal(ro.Mode, 'ro,rshared');
    assert.equal(ro.Propagation, 'rshared');
  });

  it('a name is a named volume, mode z when none is given; a lone path an anonymous one', () => {
    const named = parseBind('data:/d');
    assert.deepEqual(named.point, { Type: 'volume', Destination: '/d', Source: '', RW: true, Mode: 'z', Propagation: '', CopyData: true });
    assert.equal(named.volume?.name, 'data');
    assert.equal(parseBind('data:/d:ro,nocopy').point.CopyData, false);
    assert.equal(parseBind('data:/d:ro').point.Mode, 'ro');
    const anon = parseBind('/only');
    assert.equal(anon.point.Anonymous, true);
    assert.equal(anon.volume?.name, undefined);
  });

  it("refuses what Docker refuses, with Docker's messages", () => {
    assert.equal(refusal(() => parseBind('/:/')), `invalid volume specification: '/:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`);
    assert.equal(refusal(() => parseBind('/a:rel')), `invalid volume specification: '/a:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`);
    assert.equal(refusal(() => parseBind('/a:rw')), `invalid volume specification: '/a:rw'`);
    assert.equal(refusal(() => parseBind(':/x')), `invalid volume specification: ':/x'`);
    assert.equal(refusal(() => parseBind('/a:/b:/c:/d')), `invalid volume specification: '/a:/b:/c:/d'`);
    assert.equal(refusal(() => parseBind('/a:/b:ro,rw')), 'invalid mode: ro,rw');
    assert.equal(refusal(() => parseBind('/a:/b:fast')), 'invalid mode: fast');
    assert.equal(refusal(() => parseBind('v:/b:shared')), `invalid volume specification: 'v:/b:shared': invalid mount config for type "volume": field BindOptions must not be specified`);
  });

  it('knows the mode words and allows one of each kind', () => {
    for (const mode of ['', 'ro', 'rw,z', 'Z,rprivate', 'nocopy', 'ro,slave,z,nocopy,cached']) assert.ok(validMode(mode), mode);
    for (const mode of ['ro,ro', 'z,Z', 'shared,slave', 'rw,', 'x']) assert.ok(!validMode(mode), mode);
  });
});

describe('--mount specs (HostConfig.Mounts)', () => {
  it('bind, volume and tmpfs with their options', () => {
    const bind = parseMountConfig({ Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true, BindOptions: { Propagation: 'rslave', NonRecursive: true } });
    assert.deepEqual(bind, { point: { Type: 'bind', Destination: '/c', Source: '/h', RW: false, Mode: '', Propagation: 'rslave', NonRecursive: true }, sourceMustExist: true });
    assert.equal(parseMountConfig({ Type: 'bind', Source: '/h', Target: '/c', BindOptions: { CreateMountpoint: true } }).sourceMustExist, false);
    const vol = parseMountConfig({ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { NoCopy: true, Subpath: 'a/b', Labels: { k: 'v' }, DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs' } } } });
    assert.deepEqual(vol.point, { Type: 'volume', Destination: '/v', Source: '', RW: true, Mode: 'z', Propagation: '', CopyData: false, Subpath: 'a/b' });
    assert.deepEqual(vol.volume, { name: 'v', driver: undefined, labels: { k: 'v' }, options: { type: 'tmpfs', device: 'tmpfs' } });
    const tmp = parseMountConfig({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 3 * 1024 * 1024, Mode: 0o1770 } });
    assert.equal(tmp.point.TmpfsData, 'mode=1770,size=3m');
  });

  it("refuses what Docker refuses, with Docker's messages", () => {
    const cases: Array<[Parameters<typeof parseMountConfig>[0], string]> = [
      [{ Type: 'bind', Target: '/x' }, 'invalid mount config for type "bind": field Source must not be empty'],
      [{ Type: 'bind', Source: 'rel', Target: '/x' }, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [{ Type: 'bind', Source: '/h', Target: '/x', BindOptions: { Propagation: 'sideways' } }, 'invalid mount config for type "bind": invalid propagation mode: sideways'],
      [{ Type: 'bind', Source: '/h', Target: '/x', VolumeOptions: {} }, 'invalid mount config for type "bind": field VolumeOptions must not be specified'],
      [{ Type: 'volume', Target: '/x', ReadOnly: true }, 'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes'],
      [{ Type: 'volume', Target: '/x', VolumeOptions: { Subpath: 'a' } }, 'invalid mount config for type "volume": must not set Subpath when using anonymous volumes'],
      [{ Type: 'volume', Source: 'v', Target: '/x', VolumeOptions: { Subpath: '/abs' } }, 'invalid mount config for type "volume": subpath must be a relative path within the volume'],
      [{ Type: 'volume', Source: 'v', Target: '/x', VolumeOptions: { Subpath: 'a/../../b' } }, 'invalid mount config for type "volume": subpath must be a relative path within the volume'],
      [{ Type: 'tmpfs', Source: 'x', Target: '/x' }, 'invalid mount config for type "tmpfs": field Source must not be specified'],
      [{ Type: 'tmpfs', Target: '/x', TmpfsOptions: { Options: [['suid']] } }, 'invalid mount config for type "tmpfs": invalid option: suid'],
      [{ Type: 'npipe', Target: '/x' }, 'invalid mount config for type "npipe": mount type unknown'],
      [{ Type: 'volume', Source: 'v' }, 'invalid mount config for type "volume": field Target must not be empty'],
      [{ Type: 'volume', Source: 'v', Target: '//' }, `invalid mount config for type "volume": invalid specification: destination can't be '/'`],
    ];
    for (const [m, message] of cases) assert.equal(refusal(() => parseMountConfig(m)), message);
  });

  it('tmpfs data as Docker writes it', () => {
    assert.equal(tmpfsData({ SizeBytes: 1536 }, true), 'ro,size=1536');
    assert.equal(tmpfsData({ SizeBytes: 2 ** 31, Options: [['exec']] }, false), 'size=2g,exec');
    assert.deepEqual(mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', 'rprivate'], 'exec,size=1m,size=2m'), ['nosuid', 'nodev', 'rprivate', 'exec', 'size=2m']);
  });
});

describe('the whole plan of a container', () => {
  const from = (points: Record<string, MountPoint[]>) => (ref: string): MountPoint[] => {
    const p = points[ref];
    if (!p) throw new Error(`No such container: ${ref}`);
    return p;
  };

  it('binds and --mount replace --volumes-from at a destination; image volumes fill the rest', () => {
    const shared: MountPoint = { Type: 'volume', Destination: '/s', Source: '', RW: true, Name: 'sv', Driver: 'local', Mode: 'z', Propagation: '', CopyData: true };
    const hidden: MountPoint = { ...shared, Destination: '/h', Name: 'hv' };
    const plan = planMounts(
      hc({ VolumesFrom: ['src:ro'], Binds: ['/host:/h'], Mounts: [{ Type: 'tmpfs', Target: '/t' }] }),
      { '/s': {}, '/new': {}, '/h': {}, '/t': {} },
      from({ src: [shared, hidden] }),
    );
    const dests = plan.map((p) => [p.point.Destination, p.point.Type, p.inherited ?? false]);
    assert.deepEqual(dests, [['/s', 'volume', true], ['/h', 'bind', false], ['/t', 'tmpfs', false], ['/new', 'volume', false]]);
    assert.equal(plan[0]!.point.RW, false);
    assert.equal(plan[0]!.point.CopyData, false);
    assert.equal(plan[3]!.point.Anonymous, true);
  });

  it('one destination twice is a duplicate mount point', () => {
    assert.equal(refusal(() => planMounts(hc({ Binds: ['/a:/x', 'v:/x/'] }), {}, from({}))), 'Duplicate mount point: /x');
    assert.equal(refusal(() => planMounts(hc({ Binds: ['/a:/x'], Mounts: [{ Type: 'volume', Target: '/x' }] }), {}, from({}))), 'Duplicate mount point: /x');
    assert.equal(refusal(() => planMounts(hc({ Mounts: [{ Type: 'tmpfs', Target: '/x' }, { Type: 'tmpfs', Target: '/x' }] }), {}, from({}))), 'Duplicate mount point: /x');
    assert.equal(refusal(() => planMounts(hc({ Binds: ['/a:/x'], Tmpfs: { '/x': '' } }), {}, from({}))), 'Duplicate mount point: /x');
    assert.equal(refusal(() => planMounts(hc({ Tmpfs: { '/': '' } }), {}, from({}))), "invalid specification: destination can't be '/'");
    assert.equal(refusal(() => planMounts(hc({}), { data: {} }, from({}))), `invalid volume specification: 'data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`);
  });

  it('--volumes-from takes ro and rw, never a propagation or copy mode', () => {
    assert.deepEqual(parseVolumesFrom('c'), { ref: 'c', mode: 'rw' });
    assert.deepEqual(parseVolumesFrom('c:ro'), { ref: 'c', mode: 'ro' });
    assert.equal(refusal(() => parseVolumesFrom('c:rshared')), 'invalid mode: rshared');
    assert.equal(refusal(() => parseVolumesFrom('c:nocopy')), 'invalid mode: nocopy');
    assert.equal(refusal(() => parseVolumesFrom('')), 'volumes-from specification cannot be an empty string');
  });
});
