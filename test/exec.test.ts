import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchSocket, importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * Running containers well, as a Docker user drives them with the real docker CLI: exec, top,
 * stats, update, events of exec sessions.
 */
describe('exec, top, stats and update through the docker CLI', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    const r = await d.docker(['run', '-d', '--name', 'box', 'busybox', 'sleep', '1000']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await d?.stop();
  });

  test('exec prints the output and gives the exit code of its process', async () => {
    const hello = await d.docker(['exec', 'box', 'echo', 'hello']);
    assert.equal(hello.stdout, 'hello\n');
    assert.equal(hello.code, 0);
    const three = await d.docker(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(three.code, 3);
    assert.equal(three.stdout, 'out\n');
    assert.equal(three.stderr, 'err\n');
  });

  test('exec takes stdin, a user, a working directory and environment', async () => {
    const cat = await d.docker(['exec', '-i', 'box', 'cat'], { input: 'line one\nline two\n' });
    assert.equal(cat.stdout, 'line one\nline two\n');
    const r = await d.docker(['exec', '-u', 'nobody', '-w', '/tmp', '-e', 'GREETING=hi there', 'box', 'sh', '-c', 'echo "$(id -u)|$(pwd)|$GREETING"']);
    assert.equal(r.stdout, '65534|/tmp|hi there\n', r.stderr);
    // crun gives its stdin to the exec's user: the host's /dev/null is never that stdin.
    const devNull = statSync('/dev/null');
    assert.deepEqual([devNull.uid, devNull.gid], [0, 0], "the host's /dev/null is still root's");
  });

  test('exec -d runs in the background; the process is seen in top', async () => {
    const r = await d.docker(['exec', '-d', 'box', 'sh', '-c', 'sleep 77']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    let top = '';
    for (let i = 0; i < 50 && !top.includes('sleep 77'); i++) {
      top = (await d.docker(['top', 'box'])).stdout;
      if (!top.includes('sleep 77')) await sleep(100);
    }
    assert.match(top, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD/);
    assert.match(top, /sleep 1000/);
    assert.match(top, /sleep 77/);
    const custom = await d.docker(['top', 'box', '-o', 'pid,comm']);
    assert.match(custom.stdout, /^\s*PID\s+COMMAND\n/);
    assert.match(custom.stdout, /sleep/);
  });

  test('top lists the container\'s own processes: pier\'s default init is left out, an asked-for --init is not', async () => {
    const rows = async (name: string): Promise<string[]> => {
      const out = (await d.docker(['top', name, '-o', 'pid,comm'])).stdout.trim().split('\n').slice(1);
      return out.map((l) => l.trim().split(/\s+/)[1]!);
    };
    // Until the init has started the command.
    const settled = async (name: string): Promise<string[]> => {
      let seen = await rows(name);
      for (let i = 0; i < 50 && !seen.includes('sleep'); i++) seen = (await sleep(100), await rows(name));
      return seen.sort();
    };
    await d.docker(['run', '-d', '--name', 'plain', 'busybox', 'sleep', '300']);
    assert.deepEqual(await settled('plain'), ['sleep']);
    await d.docker(['run', '-d', '--name', 'withinit', '--init', 'busybox', 'sleep', '300']);
    assert.deepEqual(await settled('withinit'), ['docker-init', 'sleep']);
    await d.docker(['rm', '-f', 'plain', 'withinit']);
  });

  test('a command that cannot run is told, with exit code 127', async () => {
    const r = await d.docker(['exec', 'box', 'no-such-command']);
    assert.equal(r.code, 127, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /no-such-command/);
  });

  test('exec into a stopped container is a 409 with Docker\'s message', async () => {
    await d.docker(['create', '--name', 'stopped', 'busybox', 'true']);
    const r = await d.docker(['exec', 'stopped', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    const id = (await d.docker(['inspect', '-f', '{{.Id}}', 'stopped'])).stdout.trim();
    const api = await fetchSocket(d.socket, 'POST', `/v1.51/containers/${id}/exec`, JSON.stringify({ Cmd: ['true'] }));
    assert.equal(api.status, 409);
    const missing = await fetchSocket(d.socket, 'GET', '/v1.51/exec/nope/json');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /No such exec instance: nope/);
    const noCmd = await fetchSocket(d.socket, 'POST', `/v1.51/containers/box/exec`, JSON.stringify({ Cmd: [] }));
    assert.equal(noCmd.status, 400);
    await d.docker(['rm', 'stopped']);
  });

  test('exec instances are inspectable: ExitCode, ProcessConfig, Running, and exec events', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const created = await fetchSocket(d.socket, 'POST', '/v1.51/containers/box/exec', JSON.stringify({ Cmd: ['sh', '-c', 'exit 5'], AttachStdout: true }));
    assert.equal(created.status, 201, created.body);
    const { Id } = JSON.parse(created.body) as { Id: string };
    const before = JSON.parse((await fetchSocket(d.socket, 'GET', `/v1.51/exec/${Id}/json`)).body) as Record<string, unknown>;
    assert.equal(before.Running, false);
    assert.equal(before.ExitCode, null);
    assert.deepEqual(before.ProcessConfig, { tty: false, entrypoint: 'sh', arguments: ['-c', 'exit 5'], privileged: false, user: '' });
    const start = await fetchSocket(d.socket, 'POST', `/v1.51/exec/${Id}/start`, JSON.stringify({ Detach: true }));
    assert.equal(start.status, 200, start.body);
    let info: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) {
      info = JSON.parse((await fetchSocket(d.socket, 'GET', `/v1.51/exec/${Id}/json`)).body) as Record<string, unknown>;
      if (info.ExitCode !== null) break;
      await sleep(50);
    }
    assert.equal(info.ExitCode, 5);
    assert.equal(info.Running, false);
    const again = await fetchSocket(d.socket, 'POST', `/v1.51/exec/${Id}/start`, JSON.stringify({ Detach: true }));
    assert.equal(again.status, 409);
    const events = await d.docker(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=box', '--format', '{{.Action}}']);
    assert.match(events.stdout, /^exec_create: sh -c exit 5$/m);
    assert.match(events.stdout, /^exec_start: sh -c exit 5$/m);
    assert.match(events.stdout, /^exec_die$/m);
  });

  test('--init (pier\'s default) reaps orphaned children; without it they stay zombies', async () => {
    const orphan = ['sh', '-c', '(sleep 0.2 &); exec sleep 60'];
    await d.docker(['run', '-d', '--name', 'reaped', 'busybox', ...orphan]);
    await d.docker(['run', '-d', '--name', 'unreaped', '--init=false', 'busybox', ...orphan]);
    await sleep(1000);
    const zombies = async (name: string): Promise<number> =>
      (await d.docker(['exec', name, 'ps', '-o', 'stat'])).stdout.split('\n').filter((l) => l.trim() === 'Z').length;
    assert.equal(await zombies('reaped'), 0);
    assert.equal(await zombies('unreaped'), 1);
    await d.docker(['rm', '-f', 'reaped', 'unreaped']);
  });

  test('stats --no-stream shows memory, CPU and pids of a running container', async () => {
    const r = await d.docker(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}', 'box']);
    assert.equal(r.code, 0, r.stderr);
    const [name, mem, cpu, pids] = r.stdout.trim().split('|');
    assert.equal(name, 'box');
    assert.match(mem!, /^[\d.]+[KMG]iB \/ [\d.]+[KMG]iB$/);
    assert.match(cpu!, /^\d+\.\d\d%$/);
    assert.ok(Number(pids) >= 2, pids);
    const raw = JSON.parse((await fetchSocket(d.socket, 'GET', '/v1.51/containers/box/stats?stream=false')).body) as Record<string, Record<string, unknown>>;
    assert.ok((raw.memory_stats!.usage as number) > 0);
    assert.ok(((raw.precpu_stats!.cpu_usage as Record<string, number>).total_usage ?? 0) > 0, 'precpu_stats is filled');
    assert.ok('eth0' in (raw.networks ?? {}), JSON.stringify(raw.networks));
  });

  test('update -m changes the memory limit of the running container\'s cgroup; bad values are refused', async () => {
    const r = await d.docker(['update', '-m', '96m', '--memory-swap', '-1', '--cpu-shares', '512', 'box']);
    assert.equal(r.code, 0, r.stderr);
    const pid = (await d.docker(['inspect', '-f', '{{.State.Pid}}', 'box'])).stdout.trim();
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!.split(':')[2]!;
    assert.equal(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`, 'utf8').trim(), String(96 * 1024 * 1024));
    const inspect = await d.docker(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.CpuShares}}', 'box']);
    assert.equal(inspect.stdout.trim(), `${96 * 1024 * 1024} 512`);
    const bad = await d.docker(['update', '--restart', 'always', '--cpu-shares', '1', 'box']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /minimum allowed cpu-shares is 2/);
    const small = await d.docker(['update', '-m', '1m', 'box']);
    assert.match(small.stderr, /Minimum memory limit allowed is 6MB/);
  });
});
