import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { releaseMemory, releaseMemoryWhenIdle } from './idle-memory.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('memory is released once the API has been quiet, and each request postpones it', async () => {
  const server = new EventEmitter();
  const released: number[] = [];
  const t0 = Date.now();
  const stop = releaseMemoryWhenIdle(server, { quietMs: 80, release: () => released.push(Date.now() - t0) });
  try {
    await sleep(40);
    server.emit('request');
    await sleep(40);
    server.emit('upgrade');
    await sleep(40);
    assert.deepEqual(released, [], 'no release while requests keep coming');
    await sleep(100);
    assert.equal(released.length, 1);
    assert.ok(released[0]! >= 160, `released ${released[0]} ms in, 80 ms after the last request`);
    await sleep(120);
    assert.equal(released.length, 1, 'once per quiet spell');
    server.emit('request');
    await sleep(150);
    assert.equal(released.length, 2, 'a new spell after new activity');
  } finally {
    stop();
  }
  server.emit('request');
  await sleep(120);
  assert.equal(released.length, 2, 'stopped: no more releases');
});

test('the end of a long answer postpones the release too', async () => {
  const server = new EventEmitter();
  const released: number[] = [];
  const stop = releaseMemoryWhenIdle(server, { quietMs: 60, release: () => released.push(Date.now()) });
  try {
    const res = new EventEmitter();
    server.emit('request', {}, res);
    await sleep(100);
    assert.equal(released.length, 1, 'released during the answer: the request came 100 ms ago');
    res.emit('close');
    await sleep(30);
    assert.equal(released.length, 1);
    await sleep(60);
    assert.equal(released.length, 2, 'and again once the answer has ended and the API stayed quiet');
  } finally {
    stop();
  }
});

test('releaseMemory collects and trims without throwing', () => {
  releaseMemory();
});
