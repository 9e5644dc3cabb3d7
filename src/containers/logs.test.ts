import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatTimeNs, parseLogTime, parseTimeArg, readLog, type LogEntry } from './logs.js';

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.data.toString()}`);
  return out;
}

const T = (s: number) => `2026-11-27T10:00:0${s}.000000001+00:00`;

test('k8s-file lines are joined: P parts end with the F line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctr.log');
  await writeFile(
    path,
    [`${T(1)} stdout P hel`, `${T(1)} stderr F oops`, `${T(1)} stdout F lo`, `${T(2)} stdout F `, `${T(3)} stdout P no newline`, ''].join('\n'),
  );
  const all = await collect(readLog(path, { follow: false, isRunning: () => false }));
  assert.deepEqual(all, ['stderr:oops\n', 'stdout:hello\n', 'stdout:\n', 'stdout:no newline']);
  const tail = await collect(readLog(path, { follow: false, tail: 2, isRunning: () => false }));
  assert.deepEqual(tail, ['stdout:\n', 'stdout:no newline']);
  const since = await collect(readLog(path, { follow: false, sinceNs: parseTimeArg('2026-11-27T10:00:02Z'), isRunning: () => false }));
  assert.deepEqual(since, ['stdout:\n', 'stdout:no newline']);
  const until = await collect(readLog(path, { follow: false, untilNs: parseTimeArg('2026-11-27T10:00:02Z'), isRunning: () => false }));
  assert.deepEqual(until, ['stderr:oops\n', 'stdout:hello\n']);
});

test('follow yields lines written later and ends when the container stops', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctr.log');
  await writeFile(path, `${T(1)} stdout F one\n`);
  let running = true;
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of readLog(path, { follow: true, isRunning: () => running })) seen.push(e.data.toString());
  })();
  await new Promise((r) => setTimeout(r, 100));
  await appendFile(path, `${T(2)} stdout F two\n`);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen, ['one\n', 'two\n']);
  await appendFile(path, `${T(3)} stdout F three\n`);
  running = false;
  await reading;
  assert.deepEqual(seen, ['one\n', 'two\n', 'three\n']);
});

test('times: parse and print RFC3339Nano as Docker does', () => {
  const ns = parseLogTime('2026-11-27T10:00:01', '5', '+01:00');
  assert.equal(formatTimeNs(ns), '2026-11-27T09:00:01.5Z');
  assert.equal(parseTimeArg('1700000000.25'), 1_700_000_000_250_000_000n);
  assert.equal(formatTimeNs(parseTimeArg('2026-01-02T03:04:05.123456789Z')), '2026-01-02T03:04:05.123456789Z');
  assert.throws(() => parseTimeArg('yesterday'));
});
