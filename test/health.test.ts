import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchSocket, importBusybox, startDaemon, type Daemon } from './harness.js';

interface Health {
  Status: string;
  FailingStreak: number;
  Log: Array<{ ExitCode: number; Output: string; Start: string; End: string }>;
}

/** Health checks, restart policies and removals as a Docker user meets them, through the docker CLI. */
describe('health checks, restart policies and removals', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const health = async (name: string): Promise<Health | null> =>
    JSON.parse((await d.docker(['inspect', '-f', '{{json .State.Health}}', name])).stdout) as Health | null;

  /** Wait (at most `ms`) until `check` holds for the container's health; returns the last reading. */
  const healthUntil = async (name: string, check: (h: Health | null) => boolean, ms = 10_000): Promise<Health | null> => {
    const deadline = Date.now() + ms;
    let h = await health(name);
    while (!check(h) && Date.now() < deadline) {
      await sleep(100);
      h = await health(name);
    }
    return h;
  };

  test('a passing check turns healthy at once, shows in ps and its filter, with the probe\'s output', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await d.docker(['run', '-d', '--name', 'ok', '--health-cmd', 'echo probing', '--health-interval', '30s', 'busybox', 'sleep', '600']);
    assert.equal(r.code, 0, r.stderr);
    // The first probe runs when the container starts, not after the 30 s interval.
    const h = await healthUntil('ok', (x) => x?.Status === 'healthy', 5000);
    assert.equal(h?.Status, 'healthy');
    assert.equal(h.FailingStreak, 0);
    assert.equal(h.Log.at(-1)?.Output, 'probing\n');
    assert.equal(h.Log.at(-1)?.ExitCode, 0);
    assert.match((await d.docker(['ps', '--format', '{{.Names}} {{.Status}}'])).stdout, /^ok Up .* \(healthy\)$/m);
    assert.equal((await d.docker(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}'])).stdout, 'ok\n');
    assert.equal((await d.docker(['ps', '--filter', 'health=unhealthy', '-q'])).stdout, '');
    const events = await d.docker(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000)), '--filter', 'container=ok', '--format', '{{.Action}}']);
    assert.match(events.stdout, /^health_status: healthy$/m);
  });

  test('a failing check turns unhealthy after its retries, with the output in the log', async () => {
    await d.docker(['run', '-d', '--name', 'bad', '--health-cmd', 'echo broken; exit 1', '--health-interval', '100ms', '--health-retries', '2', 'busybox', 'sleep', '600']);
    const h = await healthUntil('bad', (x) => x?.Status === 'unhealthy');
    assert.equal(h?.Status, 'unhealthy');
    assert.ok(h.FailingStreak >= 2);
    assert.equal(h.Log.at(-1)?.Output, 'broken\n');
    assert.equal(h.Log.at(-1)?.ExitCode, 1);
    // The last five probes are kept.
    await healthUntil('bad', (x) => (x?.FailingStreak ?? 0) >= 6);
    assert.equal((await health('bad'))?.Log.length, 5);
    assert.match((await d.docker(['ps', '--filter', 'name=bad', '--format', '{{.Status}}'])).stdout, /\(unhealthy\)/);
  });

  test('a probe past its timeout fails; the start period holds failures back', async () => {
    await d.docker(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 5', '--health-timeout', '200ms', '--health-interval', '100ms', '--health-retries', '1', 'busybox', 'sleep', '600']);
    const h = await healthUntil('slow', (x) => x?.Status === 'unhealthy');
    assert.equal(h?.Status, 'unhealthy');
    assert.match(h.Log.at(-1)!.Output, /Health check exceeded timeout/);
    await d.docker(['run', '-d', '--name', 'warming', '--health-cmd', 'exit 1', '--health-interval', '100ms', '--health-retries', '1', '--health-start-period', '60s', '--health-start-interval', '100ms', 'busybox', 'sleep', '600']);
    await sleep(800);
    const w = await health('warming');
    assert.equal(w?.Status, 'starting');
    assert.ok(w.Log.length >= 3, `probes ran in the start period: ${w.Log.length}`);
    assert.equal(w.FailingStreak, 0);
    await d.docker(['rm', '-f', 'slow', 'warming']);
  });

  test('HEALTHCHECK from the image runs; --no-healthcheck turns it off; a bad interval is a 400', async () => {
    await d.docker(['create', '--name', 'base', 'busybox', 'true']);
    const c = await d.docker(['commit', '-c', 'HEALTHCHECK --interval=1s CMD echo from-image', 'base', 'checked:1']);
    assert.equal(c.code, 0, c.stderr);
    await d.docker(['run', '-d', '--name', 'img', 'checked:1', 'sleep', '600']);
    const h = await healthUntil('img', (x) => x?.Status === 'healthy');
    assert.equal(h?.Log.at(-1)?.Output, 'from-image\n');
    await d.docker(['run', '-d', '--name', 'off', '--no-healthcheck', 'checked:1', 'sleep', '600']);
    await sleep(300);
    assert.equal(await health('off'), null);
    const bad = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Interval: 1000 } }));
    assert.equal(bad.status, 400);
    assert.match(bad.body, /Interval in Healthcheck cannot be less than 1ms/);
    await d.docker(['rm', '-f', 'img', 'off', 'base']);
  });

  test('probes keep running after pierd restarts', async () => {
    const before = (await health('bad'))!.FailingStreak;
    await d.restart();
    const h = await healthUntil('bad', (x) => (x?.FailingStreak ?? 0) > before + 2);
    assert.ok(h!.FailingStreak > before + 2, `${h!.FailingStreak} after ${before}`);
    assert.equal(h!.Status, 'unhealthy');
    await d.docker(['rm', '-f', 'ok', 'bad']);
  });

  test('--restart always comes back after pierd restarts, both when stopped by a user and when it died meanwhile', async () => {
    await d.docker(['run', '-d', '--name', 'always', '--restart', 'always', 'busybox', 'sleep', '600']);
    await d.docker(['run', '-d', '--name', 'unless', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
    await d.docker(['stop', '-t', '0', 'always', 'unless']);
    await d.restart();
    const state = async (n: string): Promise<string> => (await d.docker(['inspect', '-f', '{{.State.Status}}', n])).stdout.trim();
    const until = async (n: string, s: string): Promise<string> => {
      for (let i = 0; i < 50 && (await state(n)) !== s; i++) await sleep(100);
      return state(n);
    };
    assert.equal(await until('always', 'running'), 'running');
    // unless-stopped stays down after a user's stop, as Docker's.
    assert.equal(await state('unless'), 'exited');
    // The process dies while pierd is down: the next pierd sees the exit and restarts it.
    const pid = Number((await d.docker(['inspect', '-f', '{{.State.Pid}}', 'always'])).stdout.trim());
    await d.kill9();
    process.kill(pid, 'SIGKILL');
    await sleep(300);
    await d.restart();
    assert.equal(await until('always', 'running'), 'running');
    const after = Number((await d.docker(['inspect', '-f', '{{.State.Pid}}', 'always'])).stdout.trim());
    assert.notEqual(after, pid);
    await d.docker(['rm', '-f', 'always', 'unless']);
  });

  test('a removal cut short by a crash is finished by the next pierd, even with its layer already gone', async () => {
    const id = (await d.docker(['create', '--name', 'halfgone', 'busybox', 'true'])).stdout.trim();
    await d.kill9();
    // What a kill -9 in the middle of `docker rm -f` leaves: the record says removing, the layer is gone.
    const recordPath = join(d.root, 'containers', id, 'container.json');
    const rec = JSON.parse(readFileSync(recordPath, 'utf8')) as { State: { Status: string } };
    rec.State.Status = 'removing';
    writeFileSync(recordPath, JSON.stringify(rec));
    rmSync(join(d.root, 'snapshots', 'active', id), { recursive: true, force: true });
    await d.restart();
    let left = '';
    for (let i = 0; i < 50; i++) {
      left = (await d.docker(['ps', '-aq', '--no-trunc', '--filter', `id=${id}`])).stdout;
      if (left === '') break;
      await sleep(100);
    }
    assert.equal(left, '');
    // The name is free again.
    const again = await d.docker(['create', '--name', 'halfgone', 'busybox', 'true']);
    assert.equal(again.code, 0, again.stderr);
    await d.docker(['rm', 'halfgone']);
  });
});
