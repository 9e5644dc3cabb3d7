import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSignal, parseSignal } from './signals.js';

test('signals parse as Docker takes them: names with or without SIG, any case, numbers, real-time offsets', () => {
  assert.deepEqual(parseSignal('term'), { number: 15, name: 'SIGTERM' });
  assert.deepEqual(parseSignal('SIGKILL'), { number: 9, name: 'SIGKILL' });
  assert.deepEqual(parseSignal('9'), { number: 9, name: 'SIGKILL' });
  assert.deepEqual(parseSignal(15), { number: 15, name: 'SIGTERM' });
  assert.deepEqual(parseSignal('SIGRTMIN+3'), { number: 37, name: 'SIGRTMIN+3' });
  assert.deepEqual(parseSignal('RTMAX-1'), { number: 63, name: 'SIGRTMAX-1' });
  assert.equal(parseSignal(40).name, 'SIGRTMIN+6');
});

test('what is no signal is refused with Docker\'s message', () => {
  for (const bad of ['0', '65', 'SIGFOO', '', 'TERM; rm', 'RTMIN+31', -1]) {
    assert.throws(() => parseSignal(bad), /^EngineError: Invalid signal: /, String(bad));
  }
  assert.equal(isSignal('USR1'), true);
  assert.equal(isSignal('NOPE'), false);
});
