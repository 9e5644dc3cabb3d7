import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { IdRangePool, RANGE_SIZE, withoutRange } from './id-ranges.js';

test('ranges are cut from the subordinate IDs, uid and gid slots paired, and never shared', () => {
  const pool = new IdRangePool([{ start: 100000, count: RANGE_SIZE * 2 + 10 }], [{ start: 500000, count: RANGE_SIZE * 3 }]);
  assert.equal(pool.capacity, 2);
  const a = pool.allocate('a');
  const b = pool.allocate('b');
  assert.deepEqual(a, { uid: 100000, gid: 500000, size: RANGE_SIZE });
  assert.deepEqual(b, { uid: 100000 + RANGE_SIZE, gid: 500000 + RANGE_SIZE, size: RANGE_SIZE });
  assert.deepEqual(pool.allocate('a'), a, 'an owner asking again keeps its range');
  assert.throws(() => pool.allocate('c'), (err) => isKind(err, 'unavailable') && /all 2 ranges/.test((err as Error).message));
  pool.release('a');
  pool.release('a');
  assert.deepEqual(pool.allocate('c'), a, 'a range given back is the next one handed out');
});

test('ranges held before a restart are taken back; a map that is no free slot is not', () => {
  const pool = new IdRangePool([{ start: 100000, count: RANGE_SIZE * 3 }], [{ start: 100000, count: RANGE_SIZE * 3 }]);
  assert.equal(pool.take('old', { uid: 100000 + RANGE_SIZE, gid: 100000 + RANGE_SIZE, size: RANGE_SIZE }), true);
  assert.equal(pool.take('other', { uid: 100000 + RANGE_SIZE, gid: 100000 + RANGE_SIZE, size: RANGE_SIZE }), false);
  assert.equal(pool.take('stray', { uid: 7, gid: 7, size: RANGE_SIZE }), false);
  assert.equal(pool.allocate('n1').uid, 100000);
  assert.equal(pool.allocate('n2').uid, 100000 + 2 * RANGE_SIZE);
});

test('overlapping lines give each ID once; withoutRange cuts a window out', () => {
  const pool = new IdRangePool([{ start: 0, count: RANGE_SIZE * 2 }, { start: RANGE_SIZE, count: RANGE_SIZE * 2 }], [{ start: 0, count: RANGE_SIZE * 4 }]);
  assert.equal(pool.capacity, 3);
  assert.deepEqual(withoutRange([{ start: 100, count: 100 }], 120, 10), [{ start: 100, count: 20 }, { start: 130, count: 70 }]);
  assert.deepEqual(withoutRange([{ start: 100, count: 100 }], 100, 100), []);
  assert.deepEqual(withoutRange([{ start: 100, count: 100 }], 300, 10), [{ start: 100, count: 100 }]);
});
