import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetachDetector, parseDetachKeys } from './attach-pipe.js';

test('detach keys parse as Docker writes them', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('a,ctrl-@,ctrl-[')], [97, 0, 27]);
  assert.throws(() => parseDetachKeys('ctrl-pq'), /Invalid detach keys/);
  assert.throws(() => parseDetachKeys('shift-a'), /Invalid detach keys/);
});

test('the detach sequence is found across chunks; a prefix that is not it goes through', () => {
  const d = new DetachDetector(parseDetachKeys('ctrl-p,ctrl-q'));
  assert.deepEqual(d.push(Buffer.from('ab\x10')), { pass: Buffer.from('ab'), detached: false });
  assert.deepEqual(d.push(Buffer.from('c')), { pass: Buffer.from('\x10c'), detached: false });
  assert.deepEqual(d.push(Buffer.from('\x10\x10')), { pass: Buffer.from('\x10'), detached: false });
  assert.deepEqual(d.push(Buffer.from('\x11rest')), { pass: Buffer.alloc(0), detached: true });
  const one = new DetachDetector(parseDetachKeys('x'));
  assert.deepEqual(one.push(Buffer.from('abxz')), { pass: Buffer.from('ab'), detached: true });
  const none = new DetachDetector(Buffer.alloc(0));
  assert.deepEqual(none.push(Buffer.from('\x10\x11')), { pass: Buffer.from('\x10\x11'), detached: false });
});
