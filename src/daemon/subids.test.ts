import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextFreeId, parseSubIds } from './subids.js';

test('a user\'s ranges by name or numeric ID; comments and bad lines skipped', () => {
  const text = '# made by hand\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nalice:400000:x\nalice:500000:65536\n';
  assert.deepEqual(parseSubIds(text, 'alice'), [{ start: 100000, count: 65536 }, { start: 500000, count: 65536 }]);
  assert.deepEqual(parseSubIds(text, 'carol', 1001), [{ start: 300000, count: 10 }]);
  assert.deepEqual(parseSubIds('', 'alice'), []);
});

test('new ranges go after every range of both files, never below 100000', () => {
  assert.equal(nextFreeId('', ''), 100000);
  assert.equal(nextFreeId('a:100000:65536\n', 'b:200000:100\n'), 200100);
  assert.equal(nextFreeId('a:10:20\n'), 100000);
});
