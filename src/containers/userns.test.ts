import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { RANGE_SIZE } from './id-ranges.js';
import type { ContainerRecord } from './types.js';
import { Userns, type UsernsSettings } from './userns.js';

const RANGES = { uids: [{ start: 200000, count: RANGE_SIZE * 2 }], gids: [{ start: 200000, count: RANGE_SIZE * 2 }] };

function userns(settings: Partial<UsernsSettings>, records: ContainerRecord[] = []): { u: Userns; reads: () => number } {
  let reads = 0;
  const u = new Userns(
    {
      defaultAuto: false,
      autoRanges: () => {
        reads++;
        return Promise.resolve(RANGES);
      },
      ...settings,
    },
    () => records,
  );
  return { u, reads: () => reads };
}

test('modes: host, auto, and the daemon\'s default (remap, auto or the host\'s); anything else is invalid', () => {
  const plain = userns({}).u;
  assert.equal(plain.modeOf({}), 'host');
  assert.equal(plain.modeOf({ UsernsMode: 'auto' }), 'auto');
  assert.equal(plain.remapping, false);
  assert.throws(() => plain.modeOf({ UsernsMode: 'private' }), (err) => isKind(err, 'invalid'));
  const remap = userns({ remap: { uid: 100000, gid: 100000, size: RANGE_SIZE } }).u;
  assert.equal(remap.modeOf({}), 'remap');
  assert.equal(remap.modeOf({ UsernsMode: 'host' }), 'host');
  assert.equal(remap.remapping, true);
  assert.equal(userns({ defaultAuto: true }).u.modeOf({}), 'auto');
});

test('Docker\'s rules apply to a container with a user namespace only', () => {
  const { u } = userns({ defaultAuto: true });
  assert.throws(() => u.validate({ Privileged: true }), /privileged mode is incompatible with user namespaces/);
  assert.throws(() => u.validate({ NetworkMode: 'host' }), /cannot share the host's network namespace/);
  assert.throws(() => u.validate({ PidMode: 'host' }), /cannot share the host PID namespace/);
  u.validate({ Privileged: true, NetworkMode: 'host', PidMode: 'host', UsernsMode: 'host' });
  userns({}).u.validate({ Privileged: true, UsernsMode: 'host' });
});

test('auto ranges: read once, held from assign to release, those of existing records kept', async () => {
  const old = { Id: 'old', Userns: { mode: 'auto', map: { uid: 200000, gid: 200000, size: RANGE_SIZE } } } as ContainerRecord;
  const { u, reads } = userns({}, [old]);
  assert.equal(await u.assign('h', {}), undefined);
  assert.equal(reads(), 0, 'no subordinate IDs are read for the host\'s namespace');
  const a = await u.assign('a', { UsernsMode: 'auto' });
  assert.deepEqual(a, { mode: 'auto', map: { uid: 200000 + RANGE_SIZE, gid: 200000 + RANGE_SIZE, size: RANGE_SIZE } });
  await assert.rejects(u.assign('b', { UsernsMode: 'auto' }), (err) => isKind(err, 'unavailable'));
  u.release('a');
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual((await u.assign('b', { UsernsMode: 'auto' }))?.map, a?.map);
  assert.equal(reads(), 1);
  const remap = await userns({ remap: { uid: 100000, gid: 100000, size: RANGE_SIZE } }).u.assign('r', {});
  assert.deepEqual(remap, { mode: 'remap', map: { uid: 100000, gid: 100000, size: RANGE_SIZE } });
});
