import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dockerCli, fetchSocket, importBusybox, run, startDaemon, type Daemon } from './harness.js';

/**
 * The engine core as a Docker user sees it: the real docker CLI against a private pierd,
 * running real containers from a busybox image imported from Debian's busybox-static.
 */
describe('containers through the docker CLI', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  test('run --rm prints hello, and the container is gone', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'echo', 'hello']);
    assert.equal(withoutWarnings(r.stderr), '');
    assert.equal(r.stdout, 'hello\n');
    assert.equal(r.code, 0);
    const ps = await d.docker(['ps', '-aq']);
    assert.equal(ps.stdout, '');
  });

  test('the exit code of the container is the exit code of docker run', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7']);
    assert.equal(r.code, 7);
  });

  test('stdin reaches the container with -i', async () => {
    const r = await d.docker(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'abc\n' });
    assert.equal(r.stdout, 'abc\n');
    assert.equal(r.code, 0);
  });

  test('stdout and stderr arrive apart', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; echo out2']);
    assert.equal(r.stdout, 'out\nout2\n');
    assert.equal(withoutWarnings(r.stderr), 'err\n');
  });

  test('a command that does not exist fails as Docker fails', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /no-such-command/);
    // --rm removes it even though it never ran.
    assert.equal((await d.docker(['ps', '-aq'])).stdout, '');
  });

  test('environment, working dir, user and hostname reach the process', async () => {
    const r = await d.docker(['run', '--rm', '-e', 'GREETING=hi there', '-w', '/tmp', '-u', 'nobody', '--hostname', 'box1', 'busybox', 'sh', '-c', 'echo "$GREETING|$(pwd)|$(id -u)|$(hostname)"']);
    assert.equal(r.stdout, 'hi there|/tmp|65534|box1\n', r.stderr);
  });

  test('the process runs under an init that reaps zombies (pier default)', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']);
    assert.match(r.stdout, /docker-init/);
  });

  test('--network none shows only lo; the default bridge gives eth0 without a warning', async () => {
    const none = await d.docker(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']);
    assert.equal(none.stdout.trim(), 'lo');
    const created = await d.docker(['create', 'busybox', 'true']);
    assert.equal(created.stderr, '');
    const id = created.stdout.trim();
    const inspect = await d.docker(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}', id]);
    assert.equal(inspect.stdout.trim(), 'bridge');
    await d.docker(['rm', id]);
    const def = await d.docker(['run', '--rm', 'busybox', 'ls', '/sys/class/net']);
    assert.deepEqual(def.stdout.split('\n').filter(Boolean).sort(), ['eth0', 'lo']);
  });

  test('-t gives the container a terminal of the client terminal size', async () => {
    // `script` gives the docker CLI a terminal of its own, sized 30x100.
    const r = await run('script', ['-qec', `stty cols 100 rows 30; ${dockerCli} run --rm -t --network none busybox sh -c 'tty; stty size'`, '/dev/null'], d.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/0\r*\n30 100\r*\n/);
  });

  test('run -d, logs -f follows new lines, stop ends it', async () => {
    const run = await d.docker(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done']);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const logs = d.docker(['logs', '-f', 'ticker'], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1500));
    const stop = await d.docker(['stop', '-t', '10', 'ticker']);
    assert.equal(stop.code, 0, stop.stderr);
    const followed = await logs;
    assert.equal(followed.code, 0);
    const lines = followed.stdout.trim().split('\n');
    assert.ok(lines.length >= 4, `followed ${lines.length} lines`);
    assert.deepEqual(lines.slice(0, 3), ['line 0', 'line 1', 'line 2']);
    const ps = await d.docker(['ps', '-a', '--filter', 'name=ticker', '--format', '{{.Status}}']);
    assert.match(ps.stdout, /^Exited \(0\) /);
    const tail = await d.docker(['logs', '--tail', '1', 'ticker']);
    assert.equal(tail.stdout, `${lines.at(-1)!}\n`);
    await d.docker(['rm', 'ticker']);
  });

  test('stop: a process that traps TERM stops at once; one that ignores it is killed after the timeout', async () => {
    await d.docker(['run', '-d', '--name', 'trapper', 'busybox', 'sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done']);
    let t0 = Date.now();
    await d.docker(['stop', '-t', '10', 'trapper']);
    assert.ok(Date.now() - t0 < 5000, `trapping stop took ${Date.now() - t0} ms`);
    const trapped = await d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'trapper']);
    assert.equal(trapped.stdout.trim(), '3');

    await d.docker(['run', '-d', '--init=false', '--name', 'ignorer', 'busybox', 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
    t0 = Date.now();
    await d.docker(['stop', '-t', '2', 'ignorer']);
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 8000, `ignoring stop took ${took} ms`);
    const killed = await d.docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'ignorer']);
    assert.equal(killed.stdout.trim(), 'exited 137');
    // The runtime that ran it, as `docker info` names it.
    const runtime = (await d.docker(['info', '-f', '{{.DefaultRuntime}}'])).stdout.trim();
    assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Runtime}}', 'ignorer'])).stdout.trim(), runtime);
    const ps = await d.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /ignorer Exited \(137\) /);
    assert.match(ps.stdout, /trapper Exited \(3\) /);
    await d.docker(['rm', 'trapper', 'ignorer']);
  });

  test('ps shows running containers in Docker table form; -a adds stopped ones', async () => {
    await d.docker(['run', '-d', '--name', 'sleeper', '-l', 'tier=web', 'busybox', 'sleep', '300']);
    await d.docker(['create', '--name', 'idle', 'busybox', 'true']);
    const ps = await d.docker(['ps']);
    const [header, ...rows] = ps.stdout.trimEnd().split('\n');
    assert.match(header!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.equal(rows.length, 1);
    assert.match(rows[0]!, /^[0-9a-f]{12}\s+busybox\s+"sleep 300"\s+.*\s+Up .*\s+sleeper$/);
    const all = await d.docker(['ps', '-a', '--format', '{{.Names}}:{{.State}}']);
    assert.deepEqual(all.stdout.trim().split('\n').sort(), ['idle:created', 'sleeper:running']);
    const byLabel = await d.docker(['ps', '-a', '--filter', 'label=tier=web', '--format', '{{.Names}}']);
    assert.equal(byLabel.stdout.trim(), 'sleeper');
    const byStatus = await d.docker(['ps', '-a', '--filter', 'status=created', '--format', '{{.Names}}']);
    assert.equal(byStatus.stdout.trim(), 'idle');
    const byAncestor = await d.docker(['ps', '--filter', 'ancestor=busybox', '--format', '{{.Names}}']);
    assert.equal(byAncestor.stdout.trim(), 'sleeper');
    assert.equal((await d.docker(['ps', '--filter', 'network=bridge', '--format', '{{.Names}}'])).stdout.trim(), 'sleeper');
    assert.equal((await d.docker(['ps', '--filter', 'network=none', '--format', '{{.Names}}'])).stdout.trim(), '');
    await d.docker(['rm', '-f', 'sleeper', 'idle']);
  });

  test('names are unique (409), rename, and wait', async () => {
    await d.docker(['create', '--name', 'one', 'busybox', 'sh', '-c', 'exit 5']);
    const dup = await d.docker(['create', '--name', 'one', 'busybox', 'true']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /Conflict\. The container name "\/one" is already in use/);
    assert.equal((await d.docker(['rename', 'one', 'two'])).code, 0);
    await d.docker(['start', 'two']);
    const w = await d.docker(['wait', 'two']);
    assert.equal(w.stdout.trim(), '5');
    await d.docker(['rm', 'two']);
  });

  test('resource limits reach the cgroup', async () => {
    const r = await d.docker(['run', '--rm', '-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
    assert.equal(r.stdout, `${64 * 1024 * 1024}\n50\n`, r.stderr);
  });

  test('containers that exit at once never hang run --rm (exit seen during start)', async () => {
    for (let i = 0; i < 25; i++) {
      const r = await d.docker(['run', '--rm', '--network', 'none', 'busybox', 'true'], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await d.docker(['ps', '-aq'])).stdout, '');
  });

  test('restart policies: on-failure retries up to its count; restart starts again', async () => {
    await d.docker(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo try; exit 1']);
    let state = '';
    for (let i = 0; i < 100; i++) {
      state = (await d.docker(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'flaky'])).stdout.trim();
      if (state === 'exited 2') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state, 'exited 2');
    assert.equal((await d.docker(['logs', 'flaky'])).stdout, 'try\ntry\ntry\n');
    await d.docker(['rm', 'flaky']);

    await d.docker(['run', '-d', '--name', 'again', 'busybox', 'sleep', '300']);
    const pid1 = (await d.docker(['inspect', '-f', '{{.State.Pid}}', 'again'])).stdout.trim();
    const r = await d.docker(['restart', '-t', '1', 'again']);
    assert.equal(r.code, 0, r.stderr);
    const after = (await d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'again'])).stdout.trim().split(' ');
    assert.equal(after[0], 'running');
    assert.notEqual(after[1], pid1);
    await d.docker(['rm', '-f', 'again']);
  });

  test('--runtime: each of runc and crun runs, stops, execs and removes its container; inspect and info show them; an unknown one is refused', async () => {
    const runtimes = JSON.parse((await d.docker(['info', '--format', '{{json .Runtimes}}'])).stdout) as Record<string, { path: string }>;
    assert.deepEqual(Object.keys(runtimes).sort(), ['crun', 'runc']);
    for (const rt of ['runc', 'crun']) {
      const name = `rt-${rt}`;
      const r = await d.docker(['run', '-d', '--name', name, '--runtime', rt, 'busybox', 'sleep', '300']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Runtime}} {{.State.Status}}', name])).stdout, `${rt} running\n`);
      assert.equal((await d.docker(['exec', name, 'echo', `in-${rt}`])).stdout, `in-${rt}\n`);
      // The runtime's own state shows which one holds the container.
      const state = await run(rt === 'runc' ? '/usr/sbin/runc' : '/usr/bin/crun', [`--root=${d.execRoot}/runtime-root`, 'state', r.stdout.trim()], process.env);
      assert.equal(state.code, 0, state.stderr);
      assert.equal((await d.docker(['stop', '-t', '1', name])).code, 0);
      assert.equal((await d.docker(['start', name])).code, 0);
      assert.equal((await d.docker(['rm', '-f', name])).code, 0);
    }
    const unknown = await d.docker(['create', '--runtime', 'nope', 'busybox', 'true']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /Unknown runtime specified nope/);
    // Without --runtime: the default, named in inspect as in info.
    const dflt = (await d.docker(['info', '--format', '{{.DefaultRuntime}}'])).stdout.trim();
    await d.docker(['create', '--name', 'rt-default', 'busybox', 'true']);
    assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Runtime}}', 'rt-default'])).stdout.trim(), dflt);
    await d.docker(['rm', 'rt-default']);
    // docker-py's create_container(runtime=) sends a top-level Runtime: taken when pier has it, ignored (as by Docker) when not.
    for (const [asked, shown] of [['runc', 'runc'], ['crun', 'crun'], ['nvidia', dflt]] as const) {
      const res = await fetchSocket(d.socket, 'POST', `/v1.45/containers/create?name=rt-top-${asked}`, JSON.stringify({ Image: 'busybox', Cmd: ['true'], Runtime: asked }));
      assert.equal(res.status, 201, res.body);
      assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Runtime}}', `rt-top-${asked}`])).stdout.trim(), shown);
      await d.docker(['rm', `rt-top-${asked}`]);
    }
  });

  test('an attach with logs=1&stream=1 before start gets the output of a start sent right after the upgrade', async () => {
    for (let i = 0; i < 5; i++) {
      const id = (await d.docker(['create', 'busybox', 'printf', 'hi'])).stdout.trim();
      const sock = connect(d.socket);
      const received: Buffer[] = [];
      let upgraded: () => void = () => undefined;
      const upgrade = new Promise<void>((resolve) => (upgraded = resolve));
      sock.on('data', (b: Buffer) => {
        received.push(b);
        if (Buffer.concat(received).includes('\r\n\r\n')) upgraded();
      });
      const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.write(`POST /v1.51/containers/${id}/attach?logs=1&stream=1&stdout=1 HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
      await upgrade;
      assert.equal((await fetchSocket(d.socket, 'POST', `/v1.51/containers/${id}/start`)).status, 204);
      await ended;
      const all = Buffer.concat(received);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      assert.deepEqual([...body], [1, 0, 0, 0, 0, 0, 0, 2, ...Buffer.from('hi')], `run ${i}: ${all.toString('latin1')}`);
      await d.docker(['rm', id]);
    }
  });

  test('bad input gets Docker errors: unknown image 404, malformed body 400, running rm 409', async () => {
    const r = await d.docker(['run', '--rm', 'nosuchimage:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such image|Unable to find image 'nosuchimage:1' locally/);
    const res = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', '{"Image": "busybox",');
    assert.equal(res.status, 400);
    assert.match((JSON.parse(res.body) as { message: string }).message, /invalid JSON/);
    await d.docker(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '100']);
    const rm = await d.docker(['rm', 'busy']);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /container is running/);
    await d.docker(['rm', '-f', 'busy']);
    // Isolation: Linux has one kind, kept as asked; any other is refused with Docker's words.
    await d.docker(['create', '--name', 'iso', '--isolation', 'default', 'busybox', 'true']);
    assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Isolation}}', 'iso'])).stdout.trim(), 'default');
    await d.docker(['rm', 'iso']);
    const hyperv = await d.docker(['create', '--isolation', 'hyperv', 'busybox', 'true']);
    assert.notEqual(hyperv.code, 0);
    assert.match(hyperv.stderr, /invalid isolation: "hyperv" - linux only supports 'default'/);
  });
});

/** stderr without the CLI's `WARNING:` lines. */
function withoutWarnings(stderr: string): string {
  return stderr.split('\n').filter((l) => !l.startsWith('WARNING:')).join('\n');
}
