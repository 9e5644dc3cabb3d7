import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { dockerCli, importBusybox, startDaemon, type Daemon } from './harness.js';

/** `docker events`: container and image events, with since, until and filters. */
describe('events', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('events --since 5m shows what was just done (a relative since with no until)', async () => {
    await d.docker(['create', '--name', 'recent', 'busybox', 'true']);
    await d.docker(['rm', 'recent']);
    await new Promise((r) => setTimeout(r, 1100));
    // No --until: the stream replays the past, then stays open; it is read for a second.
    const cli = spawn(dockerCli, ['events', '--since', '5m', '--filter', 'container=recent', '--format', '{{.Action}}'], { env: d.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    cli.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await new Promise((r) => setTimeout(r, 1500));
    cli.kill();
    assert.deepEqual(out.trim().split('\n'), ['create', 'destroy']);
  });

  test('a run --rm gives create, attach, start, die, destroy in order; filters pick them', async () => {
    const since = (Date.now() / 1000 - 1).toFixed(3);
    // A live stream that ends by itself (its --until is in the future).
    const live = d.docker(['events', '--until', (Date.now() / 1000 + 3).toFixed(3), '--filter', 'container=evented', '--format', '{{.Type}} {{.Action}}'], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await d.docker(['run', '--rm', '--name', 'evented', '--network', 'none', 'busybox', 'sh', '-c', 'exit 2']);
    assert.equal(r.code, 2);
    await d.docker(['tag', 'busybox', 'evt:1']);
    const until = (Date.now() / 1000 + 0.5).toFixed(3);
    await new Promise((r) => setTimeout(r, 700));
    const past = await d.docker(['events', '--since', since, '--until', until, '--filter', 'container=evented', '--format', '{{.Action}}']);
    assert.equal(past.code, 0, past.stderr);
    assert.deepEqual(past.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die', 'destroy']);
    const images = await d.docker(['events', '--since', since, '--until', until, '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    assert.match(images.stdout, /^tag evt:1$/m);
    const dies = await d.docker(['events', '--since', since, '--until', until, '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}']);
    assert.equal(dies.stdout, 'evented 2\n');
    // The live stream saw the same container events as they happened.
    const seen = await live;
    assert.equal(seen.code, 0, seen.stderr);
    assert.equal(seen.stdout, ['create', 'attach', 'start', 'die', 'destroy'].map((a) => `container ${a}\n`).join(''));
  });
});
