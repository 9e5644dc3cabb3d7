import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { frame, upgrade101 } from '../client/fake-daemon.js';
import { calls, daemon, ID, now, pier, serveContainer, type FakeIo } from './test-kit.js';

describe('pier run', () => {
  it('creates, attaches, waits, starts, prints the output and exits with the container\'s code', async () => {
    serveContainer({ exitCode: 3 });
    const r = await pier(['run', '--name', 'web', 'busybox', 'echo', 'hi']);
    assert.deepEqual(calls(), ['POST /containers/create', `POST /containers/${ID}/attach`, `POST /containers/${ID}/wait`, `POST /containers/${ID}/start`]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'hello out\n');
    assert.equal(r.stderr, 'hello err\n');
    const create = daemon.find('POST', '/containers/create')[0]!;
    assert.equal(create.query.get('name'), 'web');
    const body = JSON.parse(create.body.toString()) as Record<string, unknown>;
    assert.equal(body.Image, 'busybox');
    assert.deepEqual(body.Cmd, ['echo', 'hi']);
    assert.equal(daemon.find('POST', `/containers/${ID}/attach`)[0]!.query.toString(), 'stderr=1&stdout=1&stream=1');
    assert.equal(daemon.find('POST', `/containers/${ID}/wait`)[0]!.query.get('condition'), 'next-exit');
    assert.equal(daemon.find('POST', `/containers/${ID}/attach`)[0]!.stdinEnded, true, 'no stdin: the connection is half-closed at once');
  });

  it('passes the arguments after the image to the container, flags included', async () => {
    serveContainer();
    await pier(['run', '--rm', 'busybox', 'ls', '-l', '--rm=false', '-e', 'X']);
    const body = JSON.parse(daemon.find('POST', '/containers/create')[0]!.body.toString()) as { Cmd: string[]; HostConfig: { AutoRemove: boolean } };
    assert.deepEqual(body.Cmd, ['ls', '-l', '--rm=false', '-e', 'X']);
    assert.equal(body.HostConfig.AutoRemove, true);
    assert.equal(daemon.find('POST', `/containers/${ID}/wait`)[0]!.query.get('condition'), 'removed');
  });

  it('maps Docker-style flags (--x=false, units, combined short flags) into the body', async () => {
    serveContainer();
    await pier(['run', '-dit', '--init=false', '--sig-proxy=false', '-m', '512m', '--cpus=1.5', '--restart', 'on-failure:3', '-e=A=1', '--network', 'none', '-p', '8080:80', 'busybox']);
    const body = JSON.parse(daemon.find('POST', '/containers/create')[0]!.body.toString()) as Record<string, unknown> & { HostConfig: Record<string, unknown> };
    assert.equal(body.Tty, true);
    assert.equal(body.OpenStdin, true);
    assert.equal(body.AttachStdin, false);
    assert.deepEqual(body.Env, ['A=1']);
    assert.equal(body.HostConfig.Init, false);
    assert.equal(body.HostConfig.Memory, 536870912);
    assert.equal(body.HostConfig.NanoCpus, 1500000000);
    assert.deepEqual(body.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.equal(body.HostConfig.NetworkMode, 'none');
    assert.deepEqual(body.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  });

  it('-d starts without attaching and prints the ID', async () => {
    serveContainer();
    const r = await pier(['run', '-d', '--name', 'warn', 'busybox']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${ID}\n`);
    assert.equal(r.stderr, 'WARNING: Your kernel does not support swap\n');
    assert.deepEqual(calls(), ['POST /containers/create', `POST /containers/${ID}/start`]);
  });

  it('pulls the image when the daemon has none, then creates again', async () => {
    let creates = 0;
    serveContainer({ createStatus: () => (++creates === 1 ? 404 : 201) });
    daemon.on('POST', '/images/create', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (const m of [
        { status: 'Pulling from library/busybox', id: 'latest' },
        { status: 'Pulling fs layer', progressDetail: {}, id: 'abc123' },
        { status: 'Downloading', progressDetail: { current: 100, total: 1000 }, progress: '[=>   ] 100B/1kB', id: 'abc123' },
        { status: 'Pull complete', progressDetail: {}, id: 'abc123' },
        { status: 'Digest: sha256:4444' },
        { status: 'Status: Downloaded newer image for busybox:latest' },
      ]) {
        res.write(`${JSON.stringify(m)}\r\n`);
      }
      res.end();
    });
    const r = await pier(['run', 'busybox']);
    assert.equal(r.code, 0);
    assert.deepEqual(calls().slice(0, 3), ['POST /containers/create', 'POST /images/create', 'POST /containers/create']);
    const pull = daemon.find('POST', '/images/create')[0]!;
    assert.equal(pull.query.get('fromImage'), 'docker.io/library/busybox');
    assert.equal(pull.query.get('tag'), 'latest');
    assert.equal(
      r.stderr,
      "Unable to find image 'busybox:latest' locally\nlatest: Pulling from library/busybox\nabc123: Pulling fs layer\nabc123: Pull complete\nDigest: sha256:4444\nStatus: Downloaded newer image for busybox:latest\nhello err\n",
    );
  });

  it('-i forwards stdin and half-closes at its end; the output keeps coming', async () => {
    serveContainer();
    const stdin = new PassThrough();
    stdin.end('some input\n');
    const r = await pier(['run', '-i', 'busybox', 'cat'], { stdin });
    const attach = daemon.find('POST', `/containers/${ID}/attach`)[0]!;
    assert.equal(attach.query.get('stdin'), '1');
    assert.equal(attach.stdinEnded, true);
    assert.equal(r.stdout, 'hello out\nstdin was: some input\n');
  });

  it('-t copies the raw stream to stdout', async () => {
    serveContainer({ tty: true });
    const r = await pier(['run', '-t', 'busybox']);
    assert.equal(r.stdout, 'tty output\r\n');
  });

  it('forwards signals to the container', async () => {
    let fire: FakeIo['signal'] | undefined;
    daemon.on('POST', `/containers/${ID}/kill`, (_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const { finish } = serveContainer();
    daemon.on('POST', `/containers/${ID}/start`, (_req, res) => {
      res.writeHead(204);
      res.end();
      setTimeout(() => fire!('SIGTERM'), 5);
      setTimeout(finish, 50);
    });
    await pier(['run', 'busybox'], { io: (io) => (fire = (sig) => io.signal(sig)) });
    assert.equal(daemon.find('POST', `/containers/${ID}/kill`)[0]?.query.get('signal'), 'SIGTERM');
  });

  it('fails with 125 and Docker\'s wording before the container started', async () => {
    daemon.reply('POST', '/containers/create', 409, { message: 'Conflict. The container name "/web" is already in use' });
    const r = await pier(['run', '--name', 'web', 'busybox']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, `pier: Error response from daemon: Conflict. The container name "/web" is already in use\n\nRun 'pier run --help' for more information\n`);
  });

  it('refuses conflicting flags without asking the daemon', async () => {
    const r = await pier(['run', '--rm', '--restart=always', 'busybox']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^pier: conflicting options: cannot specify both --restart and --rm\n/);
    assert.deepEqual(calls(), []);
  });

  it('exits 127 when the command is not found at start', async () => {
    serveContainer();
    daemon.reply('POST', `/containers/${ID}/start`, 400, { message: 'failed to create task: exec: "nope": executable file not found in $PATH' });
    const r = await pier(['run', 'busybox', 'nope']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /executable file not found/);
  });
});

describe('container commands', () => {
  it('ps prints Docker\'s table', async () => {
    daemon.reply('GET', '/containers/json', 200, [
      { Id: 'a1b2c3d4e5f6a7b8', Names: ['/web'], Image: 'nginx:latest', ImageID: 'sha256:11', Command: 'nginx -g daemon off;', Created: now() - 7200, State: 'running', Status: 'Up 2 hours', Ports: [{ PrivatePort: 80, Type: 'tcp' }], Labels: {} },
    ]);
    const r = await pier(['ps', '-a', '-n', '3', '--filter', 'status=running']);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      'CONTAINER ID   IMAGE          COMMAND                  CREATED       STATUS       PORTS     NAMES\n' +
        'a1b2c3d4e5f6   nginx:latest   "nginx -g daemon off;"   2 hours ago   Up 2 hours   80/tcp    web\n',
    );
    const q = daemon.find('GET', '/containers/json')[0]!.query;
    assert.equal(q.get('all'), '1');
    assert.equal(q.get('limit'), '3');
    assert.equal(q.get('filters'), '{"status":{"running":true}}');
  });

  it('ps --format errors are Docker\'s', async () => {
    daemon.reply('GET', '/containers/json', 200, [{ Id: 'a', Names: ['/x'], Image: 'i', ImageID: 'i', Command: '', Created: 0, State: '', Status: '', Ports: [], Labels: {} }]);
    const bad = await pier(['ps', '--format', '{{.Foo}}']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr, 'failed to execute template: template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext\n');
    const unparsable = await pier(['ps', '--format', '{{.Names']);
    assert.equal(unparsable.stderr, 'failed to parse template: template: :1: unclosed action\n');
  });

  it('stop, kill, restart, rm print each name, report each failure, exit 1 if any failed', async () => {
    daemon.reply('POST', '/containers/a/stop', 204).reply('POST', '/containers/nope/stop', 404, { message: 'No such container: nope' });
    const r = await pier(['stop', '-t', '5', '-s', 'SIGINT', 'a', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'a\n');
    assert.equal(r.stderr, 'Error response from daemon: No such container: nope\n');
    assert.equal(daemon.find('POST', '/containers/a/stop')[0]!.query.toString(), 'signal=SIGINT&t=5');

    daemon.reply('DELETE', '/containers/a', 204);
    const rm = await pier(['rm', '-f', '-v', 'a']);
    assert.deepEqual([rm.code, rm.stdout], [0, 'a\n']);
    assert.equal(daemon.find('DELETE', '/containers/a')[0]!.query.toString(), 'force=1&v=1');

    daemon.reply('POST', '/containers/a/kill', 204);
    assert.equal((await pier(['kill', '-s', 'HUP', 'a'])).stdout, 'a\n');
    assert.equal(daemon.find('POST', '/containers/a/kill')[0]!.query.get('signal'), 'HUP');
  });

  it('start names its failures at the end', async () => {
    daemon.reply('POST', '/containers/x/start', 404, { message: 'No such container: x' });
    const r = await pier(['start', 'x']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: No such container: x\nError: failed to start containers: x\n');
  });

  it('start -a attaches before starting and exits with the container\'s code', async () => {
    serveContainer({ exitCode: 4 });
    daemon.reply('GET', '/containers/web/json', 200, { Id: ID, Name: '/web', State: { Running: false }, Config: { Tty: false, OpenStdin: false }, HostConfig: {} });
    const r = await pier(['start', '-a', 'web']);
    assert.equal(r.code, 4);
    assert.equal(r.stdout, 'hello out\n');
    assert.deepEqual(calls(), ['GET /containers/web/json', `POST /containers/${ID}/attach`, `POST /containers/${ID}/wait`, `POST /containers/${ID}/start`]);
  });

  it('exec: inspect, create, start hijacked with stdin, exit code from the exec', async () => {
    const EXEC = 'e'.repeat(64);
    daemon.reply('GET', '/containers/web/json', 200, { Id: ID, State: { Running: true }, Config: {}, HostConfig: {} });
    daemon.reply('POST', `/containers/${ID}/exec`, 201, { Id: EXEC });
    daemon.onUpgrade(`/exec/${EXEC}/start`, (req, socket) => {
      upgrade101(socket);
      socket.on('end', () => socket.end(frame(1, `ran with ${Buffer.concat(req.stdin!).toString()}`)));
    });
    daemon.reply('GET', `/exec/${EXEC}/json`, 200, { ID: EXEC, Running: false, ExitCode: 42, ContainerID: ID });
    const stdin = new PassThrough();
    stdin.end('input');
    const r = await pier(['exec', '-i', '-e', 'A=1', '-w', '/tmp', 'web', 'sh', '-c', 'cat; exit 42'], { stdin });
    assert.equal(r.code, 42);
    assert.equal(r.stdout, 'ran with input');
    assert.deepEqual(calls(), ['GET /containers/web/json', `POST /containers/${ID}/exec`, `POST /exec/${EXEC}/start`, `GET /exec/${EXEC}/json`]);
    assert.deepEqual(JSON.parse(daemon.find('POST', `/containers/${ID}/exec`)[0]!.body.toString()), {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: ['sh', '-c', 'cat; exit 42'],
      Env: ['A=1'],
      WorkingDir: '/tmp',
    });
    assert.deepEqual(JSON.parse(daemon.find('POST', `/exec/${EXEC}/start`)[0]!.body.toString()), { Detach: false, Tty: false });

    daemon.reply('GET', '/containers/stopped/json', 200, { Id: 'f'.repeat(64), State: { Running: false }, Config: {}, HostConfig: {} });
    const stopped = await pier(['exec', 'stopped', 'true']);
    assert.equal(stopped.code, 1);
    assert.equal(stopped.stderr, `Error response from daemon: container ${'f'.repeat(64)} is not running\n`);
  });

  it('wait prints exit codes', async () => {
    daemon.reply('POST', '/containers/a/wait', 200, { StatusCode: 0 }).reply('POST', '/containers/b/wait', 200, { StatusCode: 137 });
    const r = await pier(['wait', 'a', 'b']);
    assert.deepEqual([r.code, r.stdout], [0, '0\n137\n']);
  });

  it('logs: learns TTY from inspect, demuxes, passes since/tail/timestamps', async () => {
    daemon.reply('GET', '/containers/web/json', 200, { Id: ID, Config: { Tty: false } });
    daemon.on('GET', '/containers/web/logs', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
      res.end(Buffer.concat([frame(1, 'line 1\n'), frame(2, 'oops\n'), frame(1, 'line 2\n')]));
    });
    const r = await pier(['logs', '-t', '--tail', '10', '--since', '2024-01-02T03:04:05Z', 'web']);
    assert.equal(r.stdout, 'line 1\nline 2\n');
    assert.equal(r.stderr, 'oops\n');
    const q = daemon.find('GET', '/containers/web/logs')[0]!.query;
    assert.equal(q.toString(), 'since=1704164645.000000000&stderr=1&stdout=1&tail=10&timestamps=1');
  });

  it('inspect prints the daemon\'s JSON indented, falls back to images, reports what matched nothing', async () => {
    daemon.on('GET', '/containers/web/json', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"Id":"abc","State":{"Status":"running","Pid":42},"Args":[],"Config":{"Labels":{}},"TimeNano":1795801707123456789}');
    });
    daemon.reply('GET', '/containers/busybox/json', 404, { message: 'No such container: busybox' });
    daemon.reply('GET', '/images/busybox/json', 200, { Id: 'sha256:b' });
    const r = await pier(['inspect', 'web', 'busybox']);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      '[\n    {\n        "Id": "abc",\n        "State": {\n            "Status": "running",\n            "Pid": 42\n        },\n        "Args": [],\n        "Config": {\n            "Labels": {}\n        },\n        "TimeNano": 1795801707123456789\n    },\n    {\n        "Id": "sha256:b"\n    }\n]\n',
    );
    const f = await pier(['inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{json .Config}}', 'web']);
    assert.equal(f.stdout, 'running 42 {"Labels":{}}\n');

    const missing = await pier(['inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '[]\n');
    assert.equal(missing.stderr, 'Error: No such object: nope\n');
    const typed = await pier(['container', 'inspect', 'busybox']);
    assert.equal(typed.stderr, 'Error response from daemon: No such container: busybox\n');
  });

  it('rename reports Docker\'s two lines on failure', async () => {
    daemon.reply('POST', '/containers/a/rename', 409, { message: 'Conflict. The container name "/b" is already in use' });
    const r = await pier(['rename', 'a', 'b']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: Conflict. The container name "/b" is already in use\nError: failed to rename container named a\n');
  });

  it('container prune -f prints what went and the space reclaimed', async () => {
    daemon.reply('POST', '/containers/prune', 200, { ContainersDeleted: ['aaa', 'bbb'], SpaceReclaimed: 212 });
    const r = await pier(['container', 'prune', '-f', '--filter', 'until=1h']);
    assert.equal(r.stdout, 'Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 212B\n');
    assert.equal(daemon.find('POST', '/containers/prune')[0]!.query.get('filters'), '{"until":{"1h":true}}');
  });

  it('container prune asks first and does nothing on no', async () => {
    const stdin = new PassThrough();
    stdin.end('n\n');
    const r = await pier(['container', 'prune'], { stdin });
    assert.equal(r.stdout, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
    assert.deepEqual(calls(), []);
  });
});
