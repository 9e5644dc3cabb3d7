import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { busyboxTarPath, run, repoRoot, startDaemon, type Daemon } from './harness.js';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';

/** pier's own CLI against a private pierd: Docker's commands, flags and output. */
describe('the pier CLI', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    const tar = await readFile(await busyboxTarPath());
    const imp = await d.pier(['import', '-c', 'CMD ["sh"]', '-', 'busybox:latest'], { input: tar });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });
  after(async () => {
    await d?.stop();
  });

  test('run prints the output and exits with the container', async () => {
    const r = await d.pier(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.code, 3);
    const i = await d.pier(['run', '-i', '--rm', '--network', 'none', 'busybox', 'cat'], { input: 'piped\n' });
    assert.equal(i.stdout, 'piped\n');
  });

  test('run -d, ps, logs, inspect --format, stop, rm', async () => {
    const r = await d.pier(['run', '-d', '--name', 'svc', '-l', 'team=core', '-e', 'X=1', 'busybox', 'sh', '-c', 'echo started $X; sleep 300']);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await d.pier(['ps']);
    const [header, row] = ps.stdout.trimEnd().split('\n');
    assert.match(header!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.match(row!, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo started…"\\s+.*Up .*svc$`));
    assert.equal((await d.pier(['ps', '-q'])).stdout, `${id.slice(0, 12)}\n`);
    assert.equal((await d.pier(['ps', '--format', '{{.Names}}:{{.Labels}}'])).stdout, 'svc:team=core\n');
    for (let i = 0; i < 50 && !(await d.pier(['logs', 'svc'])).stdout; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal((await d.pier(['logs', 'svc'])).stdout, 'started 1\n');
    assert.equal((await d.pier(['inspect', '-f', '{{.State.Status}} {{index .Config.Labels "team"}}', 'svc'])).stdout, 'running core\n');
    const json = JSON.parse((await d.pier(['inspect', 'svc'])).stdout) as Array<{ Id: string; Name: string }>;
    assert.equal(json[0]!.Id, id);
    assert.equal(json[0]!.Name, '/svc');
    assert.equal((await d.pier(['stop', '-t', '1', 'svc'])).stdout, 'svc\n');
    assert.match((await d.pier(['ps', '-a', '--format', '{{.Status}}'])).stdout, /^Exited \(143\) /);
    assert.equal((await d.pier(['rm', 'svc'])).stdout, 'svc\n');
  });

  test('exec, top, stats, update and system df print what the docker CLI prints', async () => {
    const r = await d.pier(['run', '-d', '--name', 'mon', 'busybox', 'sleep', '300']);
    assert.equal(r.code, 0, r.stderr);
    const ex = await d.pier(['exec', 'mon', 'sh', '-c', 'echo in-$((6*7)); exit 3']);
    assert.equal(ex.stdout, 'in-42\n');
    assert.equal(ex.code, 3);
    const both = async (args: string[]): Promise<[string, string]> => [(await d.pier(args)).stdout, (await d.docker(args)).stdout];
    // ps's C column (CPU time over the process's lifetime) may tick between the two calls.
    const steadyC = (out: string) => out.replace(/^(\S+\s+\d+\s+\d+\s+)\d+/gm, '$1C');
    // df's CREATED and STATUS columns are ages, which may tick between the two calls (and a
    // longer age widens its column): both become T, and column gaps one gap.
    const steadyAge = (out: string) =>
      out.replace(/Less than a second|About a minute|\d+ (second|minute)s?/g, 'T').replace(/ {2,}/g, '  ');
    for (const args of [['top', 'mon'], ['top', 'mon', '-o', 'pid,comm'], ['system', 'df'], ['system', 'df', '-v']]) {
      const [pier, docker] = await both(args);
      const steady = args[0] === 'top' ? steadyC : steadyAge;
      assert.equal(steady(pier), steady(docker), args.join(' '));
    }
    const [pierStats, dockerStats] = await both(['stats', '--no-stream', '--format', '{{.ID}} {{.Name}} {{.PIDs}} {{.MemPerc}}', 'mon']);
    assert.match(pierStats, /^[0-9a-f]{12} mon 2 0\.\d\d%\n$/);
    assert.equal(pierStats.split(' ').slice(0, 3).join(' '), dockerStats.split(' ').slice(0, 3).join(' '));
    const header = (await d.pier(['stats', '--no-stream', 'mon'])).stdout.split('\n')[0];
    assert.match(header!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    const up = await d.pier(['update', '--memory', '80m', '--memory-swap', '-1', '--restart', 'on-failure:3', 'mon']);
    assert.equal(up.stdout, 'mon\n', up.stderr);
    assert.equal((await d.docker(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', 'mon'])).stdout, `${80 * 1024 * 1024} on-failure:3\n`);
    const none = await d.pier(['update', 'mon']);
    assert.equal(none.code, 1);
    await d.pier(['rm', '-f', 'mon']);
  });

  test('ps, images, network ls, volume ls, history, inspect and the server parts of info and version print what the docker CLI prints', async () => {
    assert.equal((await d.pier(['run', '-d', '--name', 'cmp', '-p', '127.0.0.1::80', '-v', 'cmpvol:/data', 'busybox', 'sleep', '300'])).code, 0);
    try {
      // Ages may tick between the two calls (and a longer one widens its column).
      const steady = (out: string): string =>
        out.replace(/Less than a second|About (a|an) (minute|hour)|\d+ (second|minute|hour)s?/g, 'T').replace(/ {2,}/g, '  ');
      for (const args of [['ps'], ['ps', '-a', '--no-trunc'], ['images'], ['images', '-a'], ['network', 'ls'], ['volume', 'ls'], ['history', 'busybox'], ['history', '--no-trunc', 'busybox']]) {
        const pier = await d.pier(args);
        const docker = await d.docker(args);
        assert.equal(pier.code, 0, pier.stderr);
        assert.equal(steady(pier.stdout), steady(docker.stdout), args.join(' '));
      }
      const inspect = async (cli: 'pier' | 'docker', args: string[]): Promise<unknown> => JSON.parse((await d[cli](args)).stdout) as unknown;
      for (const args of [['inspect', 'cmp'], ['image', 'inspect', 'busybox'], ['network', 'inspect', 'bridge'], ['volume', 'inspect', 'cmpvol']]) {
        assert.deepEqual(await inspect('pier', args), await inspect('docker', args), args.join(' '));
      }
      // info and version: the Server part is the daemon's answer in both (less the clock); the Client part is each CLI's own.
      const server = (out: string): string => out.slice(out.indexOf('Server:')).replace(/ {2,}/g, '  ');
      for (const args of [['version'], ['info']]) {
        const [pier, docker] = [(await d.pier(args)).stdout, (await d.docker(args)).stdout];
        const drop = (t: string): string => t.split('\n').filter((l) => !/^\s*System Time:/.test(l)).join('\n');
        // pier says what runs the engine ('Node.js version' where the docker CLI says 'Go version'),
        // and sorts the runtimes, which the docker CLI lists in its map's varying order.
        const runtimes = (t: string): string => t.replace(/^ Runtimes: (.*)$/m, (_l, names: string) => ` Runtimes: ${names.split(' ').sort().join(' ')}`);
        assert.equal(drop(server(pier)).replace('Node.js version:', 'Go version:'), runtimes(drop(server(docker))), args.join(' '));
      }
    } finally {
      await d.pier(['rm', '-f', '-v', 'cmp']);
      await d.pier(['volume', 'rm', 'cmpvol']);
    }
  });

  test('images, tag, history, rmi in Docker table form', async () => {
    assert.equal((await d.pier(['tag', 'busybox', 'mybox:1'])).code, 0);
    const images = await d.pier(['images']);
    const lines = images.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.ok(lines.some((l) => /^mybox\s+1\s+[0-9a-f]{12}\s+.+\s+[\d.]+MB$/.test(l)), images.stdout);
    const history = await d.pier(['history', 'mybox:1']);
    assert.match(history.stdout, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
    const rmi = await d.pier(['rmi', 'mybox:1']);
    assert.equal(rmi.stdout, 'Untagged: mybox:1\n');
  });

  test('errors read like Docker and exit 1; no daemon says how to start one', async () => {
    const r = await d.pier(['inspect', 'nothing-here']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such object: nothing-here/);
    const none = await run(join(repoRoot, 'bin', 'pier'), ['ps'], { ...process.env, PIER_HOST: 'unix:///tmp/pier-no-daemon.sock', DOCKER_HOST: '' });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /cannot reach pierd at unix:\/\/\/tmp\/pier-no-daemon\.sock.*\n?.*pierd/);
    assert.doesNotMatch(none.stderr, /at .*\.js:\d+/);
  });

  test('version and info report the engine', async () => {
    const v = await d.pier(['version']);
    assert.match(v.stdout, /API version:\s+1\.51/);
    const info = await d.pier(['info']);
    assert.match(info.stdout, /Storage Driver: overlay2/);
    assert.match(info.stdout, /Cgroup Version: [12]/);
    assert.match(info.stdout, /Default Runtime: (runc|crun)/);
    assert.match(info.stdout, /CPUs: \d+/);
  });
});
