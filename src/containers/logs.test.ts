import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatTimeNs, parseLogTime, parseTimeArg } from './log-scanner.js';
import { logBytes, readLog, type LogEntry } from './logs.js';

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
  assert.equal(formatTimeNs(ns), '2026-11-27T09:00:01.500000000Z');
  assert.equal(parseTimeArg('1700000000.25'), 1_700_000_000_250_000_000n);
  assert.equal(formatTimeNs(parseTimeArg('2026-01-02T03:04:05.123456789Z')), '2026-01-02T03:04:05.123456789Z');
  assert.throws(() => parseTimeArg('yesterday'));
});

test('long logs: lines across read boundaries, zones, times without fraction, malformed lines skipped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctr.log');
  const lines: string[] = [];
  const want: Array<{ timeNs: bigint; text: string }> = [];
  for (let i = 0; i < 20_000; i++) {
    const sec = String(i % 60).padStart(2, '0');
    const [time, ns] =
      i % 3 === 0
        ? [`2026-11-27T10:01:${sec}Z`, parseLogTime('2026-11-27T10:01:' + sec, undefined, 'Z')]
        : i % 3 === 1
          ? [`2026-11-27T10:01:${sec}.25+02:00`, parseLogTime('2026-11-27T10:01:' + sec, '25', '+02:00')]
          : [`2026-11-27T10:01:${sec}.000000007-0130`, parseLogTime('2026-11-27T10:01:' + sec, '000000007', '-0130')];
    const text = i === 777 ? 'x'.repeat(100_000) : `line ${i}`;
    lines.push(`${time} ${i % 2 ? 'stderr' : 'stdout'} F ${text}`);
    want.push({ timeNs: ns, text: `${text}\n` });
    if (i % 1000 === 0) lines.push('garbage without the format', `${time} stdio F not a stream`);
  }
  await writeFile(path, `${lines.join('\n')}\n`);
  const got: LogEntry[] = [];
  for await (const e of readLog(path, { follow: false, isRunning: () => false })) got.push(e);
  assert.equal(got.length, want.length);
  for (const i of [0, 1, 2, 776, 777, 778, 19_999]) {
    assert.equal(got[i]!.data.toString(), want[i]!.text, `line ${i}`);
    assert.equal(got[i]!.timeNs, want[i]!.timeNs, `time of line ${i}`);
    assert.equal(got[i]!.stream, i % 2 ? 'stderr' : 'stdout');
  }
});

/** Split multiplexed frames back into `stream:text` items. */
function demux(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at + 4);
    out.push(`${bytes[at] === 1 ? 'stdout' : 'stderr'}:${bytes.toString('utf8', at + 8, at + 8 + length)}`);
    at += 8 + length;
  }
  return out;
}

test('logBytes: multiplexed frames, one stream, timestamps, raw for a TTY, tail across interleaved partial lines', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctr.log');
  // stdout's "ab" starts before stderr's y and x end, and ends after them.
  await writeFile(path, [`${T(1)} stdout P a`, `${T(2)} stderr F y`, `${T(3)} stderr F x`, `${T(4)} stdout F b`, `${T(5)} stdout F c`, ''].join('\n'));
  const read = async (o: Partial<Parameters<typeof logBytes>[1]>): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    const opts = { follow: false, isRunning: () => false, stdout: true, stderr: true, timestamps: false, multiplexed: true, ...o };
    for await (const c of logBytes(path, opts)) chunks.push(c);
    return Buffer.concat(chunks);
  };
  assert.deepEqual(demux(await read({})), ['stderr:y\n', 'stderr:x\n', 'stdout:ab\n', 'stdout:c\n']);
  assert.deepEqual(demux(await read({ stderr: false })), ['stdout:ab\n', 'stdout:c\n']);
  assert.equal((await read({ multiplexed: false, stderr: false })).toString(), 'ab\nc\n');
  assert.deepEqual(demux(await read({ timestamps: true, stdout: false })), ['stderr:2026-11-27T10:00:02.000000001Z y\n', 'stderr:2026-11-27T10:00:03.000000001Z x\n']);
  // The last three entries are x, "ab" (begun at the first line) and c: never "b" alone.
  const tail3 = demux(await read({ tail: 3 }));
  assert.ok(tail3.includes('stderr:x\n') && tail3.includes('stdout:ab\n') && tail3.at(-1) === 'stdout:c\n' && !tail3.includes('stdout:b\n'), tail3.join('|'));
  assert.deepEqual(demux(await read({ tail: 1 })), ['stdout:c\n']);
  assert.deepEqual(demux(await read({ tail: 0 })), []);
  // "ab" is as old as its first part.
  assert.deepEqual(demux(await read({ sinceNs: parseTimeArg('2026-11-27T10:00:03Z') })), ['stderr:x\n', 'stdout:c\n']);
});
