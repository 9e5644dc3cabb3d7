import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * Container logs as a Docker user sees them: the log drivers (json-file, local, none) with
 * Docker's options, rotation (on by default), and `docker logs` with --tail, --since, -t,
 * --details and -f across rotations, through the real docker CLI.
 */

/** A shell command printing `line 0` .. `line <n-1>` as fast as busybox can. */
const lines = (n: number, from = 0): string => `awk 'BEGIN { for (i = ${from}; i < ${from + n}; i++) print "line " i }'`;

/** The log files of a container on disk: distinct files (hard links count once), their bytes. */
function logFiles(d: Daemon, id: string): { files: number; bytes: number; names: string[] } {
  const dir = join(d.root, 'containers', id);
  const seen = new Map<number, number>();
  const names = readdirSync(dir).filter((n) => n.startsWith('ctr.log')).sort();
  for (const n of names) {
    const st = statSync(join(dir, n));
    if (st.size > 0) seen.set(st.ino, st.size);
  }
  return { files: seen.size, bytes: [...seen.values()].reduce((a, b) => a + b, 0), names };
}

/** `line a` .. `line b-1`, one a line. */
function expected(a: number, b: number): string {
  let out = '';
  for (let i = a; i < b; i++) out += `line ${i}\n`;
  return out;
}

/** The numbers of `line N` lines, checked to follow each other without a gap. */
function contiguous(text: string): { first: number; last: number } {
  const got = text.trim().split('\n');
  const nums = got.map((l) => Number(/^line (\d+)$/.exec(l)?.[1] ?? NaN));
  const bad = nums.findIndex((n, i) => n !== nums[0]! + i);
  assert.equal(bad, -1, `line ${bad} of the output is ${JSON.stringify(got[bad])}, after ${JSON.stringify(got[bad - 1])}`);
  return { first: nums[0]!, last: nums.at(-1)! };
}

describe('container logs through the docker CLI', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('json-file with max-size=1k, max-file=2: logs -f sees every line once through rotations; the files stay under the limit; logs shows the last lines', async () => {
    const N = 60_000; // 3.3 MB on disk: conmon rotates (at 1 MiB: its floor) and pier trims
    const run = await d.docker(['run', '-d', '--name', 'small', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', `sleep 1; ${lines(N)}`]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const followed = await d.docker(['logs', '-f', 'small'], { timeoutMs: 60_000 });
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stdout, expected(0, N));
    await d.docker(['wait', 'small']);
    await sleep(300); // the last file is tidied once the container has exited
    const disk = logFiles(d, id);
    assert.ok(disk.bytes <= 2 * 1000 && disk.files <= 2, `${disk.files} files, ${disk.bytes} bytes: ${disk.names.join(' ')}`);
    const logs = await d.docker(['logs', 'small']);
    const kept = contiguous(logs.stdout);
    assert.equal(kept.last, N - 1);
    assert.ok(N - kept.first >= 10, `only ${N - kept.first} lines kept`);
    assert.equal((await d.docker(['logs', '--tail', '3', 'small'])).stdout, expected(N - 3, N));
    const inspect = await d.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'small']);
    assert.deepEqual(JSON.parse(inspect.stdout), { Type: 'json-file', Config: { 'max-file': '2', 'max-size': '1k' } });
    await d.docker(['rm', 'small']);
  });

  test('max-size=1m, max-file=3: conmon rotates at max-size while logs -f follows; -t, --since and --tail across files', async () => {
    const N = 100_000; // about 5.5 MB: five rotations
    const run = await d.docker(['run', '-d', '--name', 'mega', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', `sleep 1; ${lines(N)}; sleep 1`]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const followed = await d.docker(['logs', '-f', 'mega'], { timeoutMs: 60_000 });
    assert.equal(followed.stdout, expected(0, N));
    const disk = logFiles(d, id);
    assert.ok(disk.bytes <= 3_000_000 && disk.files <= 3, `${disk.files} files, ${disk.bytes} bytes: ${disk.names.join(' ')}`);
    assert.ok(disk.names.some((n) => /^ctr\.log\.[5-9]$/.test(n)), `rotated: ${disk.names.join(' ')}`);
    const all = await d.docker(['logs', 'mega']);
    const kept = contiguous(all.stdout);
    assert.equal(kept.last, N - 1);
    // Times: RFC3339 with nine digits, as Docker prints them; --since a line's time starts there.
    const stamped = (await d.docker(['logs', '-t', '--tail', '5', 'mega'])).stdout.trim().split('\n');
    assert.equal(stamped.length, 5);
    for (const l of stamped) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line \d+$/);
    const middle = (await d.docker(['logs', '-t', 'mega'])).stdout.split('\n')[Math.floor((N - kept.first) / 2)]!;
    const [time, , n] = middle.split(' ');
    const since = await d.docker(['logs', '--since', time!, 'mega']);
    const range = contiguous(since.stdout);
    assert.ok(range.first <= Number(n) && range.first > kept.first && range.last === N - 1, `since ${time}: from line ${range.first}`);
    // --until: the entries before that time, up to the one before --since's first.
    const until = await d.docker(['logs', '--until', time!, 'mega']);
    const before = contiguous(until.stdout);
    assert.deepEqual(before, { first: kept.first, last: range.first - 1 });
    await d.docker(['rm', '-f', 'mega']);
  });

  test('rotation is on by default (10 MB x 3); inspect says json-file with no options, as Docker', async () => {
    const run = await d.docker(['run', '-d', '--name', 'dflt', 'busybox', 'sh', '-c', lines(400_000)]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    await d.docker(['wait', 'dflt'], { timeoutMs: 60_000 });
    assert.deepEqual(JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'dflt'])).stdout), { Type: 'json-file', Config: {} });
    // 400 000 lines make 22 MB on disk: two rotations, nothing removed yet.
    const disk = logFiles(d, id);
    assert.equal(disk.files, 3, disk.names.join(' '));
    assert.ok(disk.bytes <= 30_000_000);
    const tail = await d.docker(['logs', '--tail', '10', 'dflt']);
    assert.equal(tail.stdout, expected(399_990, 400_000));
    await d.docker(['rm', 'dflt']);
  });

  test('--log-driver local: its own defaults, compressed rotated files that logs still reads', async () => {
    const run = await d.docker(['run', '--name', 'loc', '--log-driver', 'local', 'busybox', 'echo', 'hello local']);
    assert.equal(run.stdout, 'hello local\n');
    assert.deepEqual(JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'loc'])).stdout), { Type: 'local', Config: {} });
    assert.equal((await d.docker(['logs', 'loc'])).stdout, 'hello local\n');
    const N = 80_000;
    const big = await d.docker(['run', '-d', '--name', 'loc2', '--log-driver', 'local', '--log-opt', 'max-size=1m', 'busybox', 'sh', '-c', lines(N)]);
    const id = big.stdout.trim();
    await d.docker(['wait', 'loc2']);
    await sleep(500);
    const disk = logFiles(d, id);
    assert.ok(disk.names.some((n) => n.endsWith('.gz')), `no compressed file: ${disk.names.join(' ')}`);
    assert.ok(disk.files <= 5, disk.names.join(' '));
    assert.equal((await d.docker(['logs', 'loc2'])).stdout, expected(0, N));
    await d.docker(['rm', 'loc', 'loc2']);
  });

  test('--log-driver none: no log is kept, docker logs is refused as Docker refuses it, attach still works', async () => {
    const run = await d.docker(['run', '--name', 'quiet', '--log-driver', 'none', 'busybox', 'echo', 'seen by attach']);
    assert.equal(run.stdout, 'seen by attach\n');
    const id = (await d.docker(['inspect', '-f', '{{.Id}}', 'quiet'])).stdout.trim();
    assert.deepEqual(logFiles(d, id).names, []);
    const logs = await d.docker(['logs', 'quiet']);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'quiet'])).stdout.trim(), 'none');
    await d.docker(['rm', 'quiet']);
  });

  test('bad drivers and options are refused at create with Docker\'s messages', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--log-driver', 'foo'], /logger: no log driver named 'foo' is registered/],
      [['--log-opt', 'max-size=abc'], /invalid size: 'abc'/],
      [['--log-opt', 'max-size=10x'], /invalid suffix: 'x'/],
      [['--log-opt', 'max-file=0'], /max-file cannot be less than 1/],
      [['--log-opt', 'max-size=1m', '--log-opt', 'compress=true'], /compress cannot be true when max-file is less than 2 or max-size is not set/],
      [['--log-opt', 'color=blue'], /unknown log opt 'color' for json-file log driver/],
      [['--log-driver', 'local', '--log-opt', 'max-file=1'], /compression cannot be enabled when max file count is 1/],
    ];
    for (const [flags, message] of cases) {
      const r = await d.docker(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
    }
    // max-file without max-size is taken, as Docker takes it (pier's default size applies).
    const ok = await d.docker(['create', '--name', 'mf', '--log-opt', 'max-file=5', 'busybox', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'mf'])).stdout), { Type: 'json-file', Config: { 'max-file': '5' } });
    await d.docker(['rm', 'mf']);
    assert.equal((await d.docker(['ps', '-aq'])).stdout, '');
  });

  test('--details shows the labels and environment --log-opt labels= and env= pick', async () => {
    await d.docker(['run', '--name', 'detail', '--label', 'app=web', '--label', 'tier=front', '-e', 'REGION=eu west', '--log-opt', 'labels=app,missing', '--log-opt', 'env=REGION', 'busybox', 'echo', 'hi']);
    assert.equal((await d.docker(['logs', '--details', 'detail'])).stdout, 'REGION=eu+west,app=web hi\n');
    assert.equal((await d.docker(['logs', 'detail'])).stdout, 'hi\n');
    await d.docker(['run', '--name', 'plain', 'busybox', 'echo', 'hi']);
    assert.equal((await d.docker(['logs', '--details', 'plain'])).stdout, ' hi\n');
    await d.docker(['rm', 'detail', 'plain']);
  });
});

describe('daemon.json log-driver and log-opts', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon({ config: { 'log-driver': 'local', 'log-opts': { 'max-size': '2m' } } });
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('are every container\'s defaults; inspect shows them merged; info names the driver', async () => {
    const config = async (flags: string[]): Promise<unknown> => {
      const c = await d.docker(['create', ...flags, 'busybox', 'true']);
      assert.equal(c.code, 0, c.stderr);
      const id = c.stdout.trim();
      const out = JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.LogConfig}}', id])).stdout) as unknown;
      await d.docker(['rm', id]);
      return out;
    };
    assert.deepEqual(await config([]), { Type: 'local', Config: { 'max-size': '2m' } });
    assert.deepEqual(await config(['--log-opt', 'max-file=4']), { Type: 'local', Config: { 'max-file': '4', 'max-size': '2m' } });
    assert.deepEqual(await config(['--log-driver', 'json-file']), { Type: 'json-file', Config: {} });
    assert.equal((await d.docker(['info', '--format', '{{.LoggingDriver}}'])).stdout.trim(), 'local');
  });

  test('a bad default stops pierd at start with Docker\'s message', async () => {
    await assert.rejects(startDaemon({ config: { 'log-opts': { 'max-file': 'many' } } }), /failed to set log opts: strconv.Atoi: parsing "many": invalid syntax/);
    await assert.rejects(startDaemon({ config: { 'log-driver': 'syslogx' } }), /logger: no log driver named 'syslogx' is registered/);
  });
});

describe('rotation while pierd is down', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('conmon keeps rotating: the files stay bounded, the newest output is there after pierd restarts', async () => {
    const N = 200_000; // 11 MB on disk: about ten rotations at 1m
    const run = await d.docker(['run', '-d', '--name', 'alone', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', `sleep 2; ${lines(N)}; sleep 300`]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    await d.kill9();
    const dir = join(d.root, 'containers', id);
    // Wait for the container's output to end (the log stops growing).
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await sleep(300);
      const now = logFiles(d, id).bytes;
      if (now === last && now > 0 && readdirSync(dir).length > 0) break;
      last = now;
    }
    // While pierd is down: what pier had named and made ready, and conmon's last file.
    const down = logFiles(d, id);
    assert.ok(down.files <= 2 + 2, `${down.files} files while pierd was down: ${down.names.join(' ')}`);
    await d.restart();
    await sleep(300);
    const up = logFiles(d, id);
    assert.ok(up.files <= 2 && up.bytes <= 2 * 1_048_576, `${up.files} files, ${up.bytes} bytes after the restart: ${up.names.join(' ')}`);
    const tail = await d.docker(['logs', '--tail', '5', 'alone']);
    assert.equal(tail.stdout, expected(N - 5, N));
    // The files pier had named and made ready, then conmon's last: in order, the end there,
    // the rotations between lost.
    const kept = (await d.docker(['logs', 'alone'])).stdout.trim().split('\n').map((l) => Number(l.split(' ')[1]));
    assert.ok(kept.every((n, i) => i === 0 || n > kept[i - 1]!), 'in order');
    assert.equal(kept.at(-1), N - 1);
    assert.ok(kept.length >= 10_000, `${kept.length} lines kept`);
    await d.docker(['rm', '-f', 'alone']);
  });
});
