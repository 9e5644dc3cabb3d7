import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

/** Containers outlive pierd: conmon keeps them running and logging while the daemon is down. */
describe('pierd killed with -9 while a container runs', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('the container keeps running; after restart ps, logs, stop and wait work', async () => {
    const run = await d.docker(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c',
      'trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']);
    assert.equal(run.code, 0, run.stderr);
    const pid = Number((await d.docker(['inspect', '-f', '{{.State.Pid}}', 'survivor'])).stdout.trim());
    assert.ok(pid > 0);
    await d.docker(['run', '-d', '--name', 'quick', 'busybox', 'sh', '-c', 'sleep 1; echo done-while-down; exit 4']);

    await d.kill9();
    // While pierd is down the container goes on: its process lives and its log grows.
    await new Promise((r) => setTimeout(r, 2000));
    process.kill(pid, 0);

    await d.restart();
    const ps = await d.docker(['ps', '--format', '{{.Names}} {{.State}}']);
    assert.match(ps.stdout, /survivor running/);
    const logs = await d.docker(['logs', 'survivor']);
    const ticks = logs.stdout.trim().split('\n');
    assert.ok(ticks.length >= 10, `only ${ticks.length} lines: ${logs.stdout}`);

    // The container that exited while pierd was down is recorded as exited, with its code and output.
    const quick = await d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'quick']);
    assert.equal(quick.stdout.trim(), 'exited 4');
    assert.equal((await d.docker(['logs', 'quick'])).stdout, 'done-while-down\n');

    const waiting = d.docker(['wait', 'survivor']);
    const stop = await d.docker(['stop', 'survivor']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await waiting).stdout.trim(), '0');
    const final = await d.docker(['logs', '--tail', '1', 'survivor']);
    assert.equal(final.stdout, 'bye\n');
    assert.throws(() => process.kill(pid, 0));
    await d.docker(['rm', 'survivor', 'quick']);
  });

  test('SIGTERM shuts pierd down and leaves containers running', async () => {
    await d.docker(['run', '-d', '--name', 'calm', 'busybox', 'sleep', '300']);
    const pid = Number((await d.docker(['inspect', '-f', '{{.State.Pid}}', 'calm'])).stdout.trim());
    await d.restart(); // SIGTERM, then start again
    process.kill(pid, 0);
    const ps = await d.docker(['ps', '--format', '{{.Names}}']);
    assert.equal(ps.stdout.trim(), 'calm');
    await d.docker(['rm', '-f', 'calm']);
    assert.throws(() => process.kill(pid, 0));
  });
});
