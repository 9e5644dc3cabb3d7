import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FakeDaemon, frame, sendJson, upgrade101, type RecordedRequest } from '../client/fake-daemon.js';
import type { Io } from './context.js';
import { main } from './main.js';

/**
 * `pier` end to end against a stand-in daemon: the requests it sends (in Docker's order),
 * what it prints on stdout and stderr, and its exit code.
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface FakeIo extends Io {
  signal(sig: NodeJS.Signals): void;
}

function fakeIo(env: NodeJS.ProcessEnv, stdin?: PassThrough): { io: FakeIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const input = stdin ?? new PassThrough();
  if (!stdin) input.end();
  const handlers = new Map<string, Set<() => void>>();
  const io: FakeIo = {
    stdin: input,
    stdout,
    stderr,
    env,
    cwd: '/tmp',
    onSignal: (sig, handler) => {
      let set = handlers.get(sig);
      if (!set) handlers.set(sig, (set = new Set()));
      set.add(handler);
      return () => set.delete(handler);
    },
    signal: (sig) => {
      for (const h of handlers.get(sig) ?? []) h();
    },
  };
  return { io, out: () => out, err: () => err };
}

const daemon = new FakeDaemon();
let pier: (args: string[], opts?: { stdin?: PassThrough; io?: (io: FakeIo) => void }) => Promise<Run>;

before(async () => {
  await daemon.start();
  pier = async (args, opts = {}) => {
    const { io, out, err } = fakeIo({ PIER_HOST: daemon.host }, opts.stdin);
    opts.io?.(io);
    const code = await main(args, io);
    return { code, stdout: out(), stderr: err() };
  };
});
after(() => daemon.close());
beforeEach(() => {
  daemon.requests.length = 0;
});

const ID = 'c0ffee'.padEnd(64, '0');
const now = (): number => Math.floor(Date.now() / 1000);
const calls = (): string[] => daemon.requests.map((r) => `${r.method} ${r.path}`);

/** A daemon that runs a container: attach streams frames, wait answers after `exitAfter` ms. */
function serveContainer(opts: { exitCode?: number; tty?: boolean; createStatus?: () => number } = {}): { finish: () => void } {
  let finishWait: (() => void) | undefined;
  let finishAttach: (() => void) | undefined;
  const finish = (): void => {
    finishAttach?.();
    setTimeout(() => finishWait?.(), 5);
  };
  daemon.on('POST', '/containers/create', (req, res) => {
    const status = opts.createStatus?.() ?? 201;
    if (status === 404) sendJson(res, 404, { message: 'No such image: busybox:latest' });
    else sendJson(res, 201, { Id: ID, Warnings: req.query.get('name') === 'warn' ? ['Your kernel does not support swap'] : [] });
  });
  daemon.onUpgrade(`/containers/${ID}/attach`, (req, socket) => {
    upgrade101(socket, opts.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    socket.write(opts.tty ? 'tty output\r\n' : frame(1, 'hello out\n'));
    if (!opts.tty) socket.write(frame(2, 'hello err\n'));
    finishAttach = () => {
      if (req.query.get('stdin') === '1') socket.write(opts.tty ? '' : frame(1, `stdin was: ${Buffer.concat(req.stdin ?? []).toString()}`));
      socket.end();
    };
  });
  daemon.on('POST', `/containers/${ID}/wait`, (_req, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    finishWait = () => res.end(JSON.stringify({ StatusCode: opts.exitCode ?? 0 }));
  });
  daemon.on('POST', `/containers/${ID}/start`, (_req, res) => {
    res.writeHead(204);
    res.end();
    setTimeout(finish, 20);
  });
  return { finish };
}

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

describe('image commands', () => {
  it('images lists repositories and tags; a name filters by reference', async () => {
    daemon.reply('GET', '/images/json', 200, [
      { Id: 'sha256:1111111111111111111111111111111111111111111111111111111111111111', ParentId: '', RepoTags: ['busybox:latest'], RepoDigests: [], Created: now() - 3 * 86400, Size: 4261234, SharedSize: -1, Labels: null, Containers: -1 },
    ]);
    const r = await pier(['images', 'busybox']);
    assert.equal(r.stdout, 'REPOSITORY   TAG       IMAGE ID       CREATED      SIZE\nbusybox      latest    111111111111   3 days ago   4.26MB\n');
    assert.equal(daemon.find('GET', '/images/json')[0]!.query.get('filters'), '{"reference":{"busybox":true}}');
    const q = await pier(['image', 'ls', '-q']);
    assert.equal(q.stdout, '111111111111\n');
  });

  it('rmi prints Untagged and Deleted lines', async () => {
    daemon.reply('DELETE', '/images/busybox', 200, [{ Untagged: 'busybox:latest' }, { Deleted: 'sha256:abc' }]);
    const r = await pier(['rmi', '-f', 'busybox']);
    assert.equal(r.stdout, 'Untagged: busybox:latest\nDeleted: sha256:abc\n');
    assert.equal(daemon.find('DELETE', '/images/busybox')[0]!.query.get('force'), '1');
  });

  it('tag sends the full repository name and the tag', async () => {
    daemon.reply('POST', '/images/busybox/tag', 201);
    const r = await pier(['tag', 'busybox', 'foo/bar:v1']);
    assert.equal(r.code, 0);
    assert.equal(daemon.find('POST', '/images/busybox/tag')[0]!.query.toString(), 'repo=docker.io%2Ffoo%2Fbar&tag=v1');
    const bad = await pier(['tag', 'busybox', 'Foo/Bar']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error parsing reference: "Foo\/Bar" is not a valid repository\/tag: invalid reference format: repository name \(Bar\) must be lowercase\n$/);
  });

  it('image prune -a asks for non-dangling images', async () => {
    daemon.reply('POST', '/images/prune', 200, { ImagesDeleted: [{ Untagged: 'x:1' }, { Deleted: 'sha256:d' }], SpaceReclaimed: 1000 });
    const r = await pier(['image', 'prune', '-a', '-f']);
    assert.equal(r.stdout, 'Deleted Images:\nuntagged: x:1\ndeleted: sha256:d\n\nTotal reclaimed space: 1kB\n');
    assert.equal(daemon.find('POST', '/images/prune')[0]!.query.get('filters'), '{"dangling":{"false":true}}');
  });

  it('import sends the file and its changes; load and save stream archives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pier-cli-'));
    try {
      const tar = join(dir, 'in.tar');
      await writeFile(tar, Buffer.alloc(2048, 7));
      daemon.on('POST', '/images/create', (req, res) => sendJson(res, 200, { status: `sha256:${req.body.length}` }));
      const imp = await pier(['import', '-c', 'CMD ["sh"]', '-m', 'msg', tar, 'foo:v1']);
      assert.equal(imp.stdout, 'sha256:2048\n');
      const q = daemon.find('POST', '/images/create')[0]!.query;
      assert.equal(q.toString(), 'changes=CMD+%5B%22sh%22%5D&fromSrc=-&message=msg&repo=foo%3Av1');

      daemon.on('POST', '/images/load', (req, res) => sendJson(res, 200, { stream: `Loaded image: busybox:latest (${req.body.length} bytes)\n` }));
      const load = await pier(['load', '-i', tar]);
      assert.equal(load.stdout, 'Loaded image: busybox:latest (2048 bytes)\n');

      daemon.on('GET', '/images/get', (req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        res.end(`archive of ${req.query.getAll('names').join(' ')}`);
      });
      const out = join(dir, 'out.tar');
      const save = await pier(['save', '-o', out, 'busybox', 'alpine:3']);
      assert.equal(save.code, 0);
      assert.equal(await readFile(out, 'utf8'), 'archive of busybox alpine:3');

      const missing = await pier(['load', '-i', join(dir, 'nope.tar')]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^open .*nope\.tar: no such file or directory\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('history prints Docker\'s table', async () => {
    daemon.reply('GET', '/images/busybox/history', 200, [{ Id: 'sha256:abcdefabcdefabcdef', Created: now() - 3600 * 5, CreatedBy: '/bin/sh -c #(nop)  CMD ["sh"]', Tags: ['busybox:latest'], Size: 0, Comment: '' }]);
    const r = await pier(['history', 'busybox']);
    assert.equal(r.stdout, 'IMAGE          CREATED       CREATED BY                      SIZE      COMMENT\nabcdefabcdef   5 hours ago   /bin/sh -c #(nop)  CMD ["sh"]   0B        \n');
  });
});

describe('system commands', () => {
  it('events prints Docker\'s lines with exact nanoseconds', async () => {
    daemon.on('GET', '/events', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"status":"start","id":"abc","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"web","image":"nginx"}},"scope":"local","time":1795801707,"timeNano":1795801707123456789}\n');
      res.end();
    });
    const r = await pier(['events', '--since', '10m', '--until', '0s', '--filter', 'type=container']);
    assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123456789(Z|[+-]\d\d:\d\d) container start abc \(image=nginx, name=web\)\n$/);
    const q = daemon.find('GET', '/events')[0]!.query;
    assert.equal(q.get('filters'), '{"type":{"container":true}}');
    assert.equal(Number(q.get('until')) - Number(q.get('since')), 600);
    const f = await pier(['events', '--format', '{{.Type}}/{{.Action}}/{{.Actor.Attributes.name}}']);
    assert.equal(f.stdout, 'container/start/web\n');
  });

  it('system prune: containers, networks (when the daemon has them), images; one total', async () => {
    daemon.reply('POST', '/containers/prune', 200, { ContainersDeleted: ['aaa'], SpaceReclaimed: 1000 });
    daemon.reply('POST', '/images/prune', 200, { ImagesDeleted: [{ Deleted: 'sha256:d' }], SpaceReclaimed: 2000 });
    const r = await pier(['system', 'prune', '-f']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'Deleted Containers:\naaa\n\nDeleted Images:\ndeleted: sha256:d\n\nTotal reclaimed space: 3kB\n');
    assert.deepEqual(calls(), ['POST /containers/prune', 'POST /networks/prune', 'POST /images/prune']);
    daemon.reply('POST', '/networks/prune', 200, { NetworksDeleted: ['net1'] });
    assert.match((await pier(['system', 'prune', '-f'])).stdout, /\nDeleted Networks:\nnet1\n\n/);
  });

  it('version and info', async () => {
    daemon.reply('GET', '/version', 200, {
      Platform: { Name: 'pier' },
      Components: [{ Name: 'Engine', Version: '28.5.0', Details: { ApiVersion: '1.51', MinAPIVersion: '1.24', GoVersion: 'node v20', GitCommit: 'abc', Os: 'linux', Arch: 'amd64', Experimental: 'false', BuildTime: '2025-11-27T00:00:00.000000000+00:00' } }],
      Version: '28.5.0',
      ApiVersion: '1.51',
      Os: 'linux',
      Arch: 'amd64',
    });
    const v = await pier(['version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^Client: pier\n Version: {11}0\.1\.0\n API version: {7}1\.51\n/);
    assert.match(v.stdout, /\nServer: pier\n Engine:\n {2}Version: {10}28\.5\.0\n {2}API version: {6}1\.51 \(minimum version 1\.24\)\n/);
    const vf = await pier(['version', '--format', '{{.Server.Version}} {{.Client.ApiVersion}}']);
    assert.equal(vf.stdout, '28.5.0 1.51\n');

    daemon.reply('GET', '/info', 200, { Containers: 3, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 2, Images: 5, ServerVersion: '28.5.0', MemTotal: 16663879680, Warnings: ['WARNING: no swap'] });
    const i = await pier(['info']);
    assert.match(i.stdout, /\nServer:\n Containers: 3\n {2}Running: 1\n {2}Paused: 0\n {2}Stopped: 2\n Images: 5\n Server Version: 28\.5\.0\n/);
    assert.match(i.stdout, / Total Memory: 15\.52GiB\n/);
    assert.equal(i.stderr, 'WARNING: no swap\n');
    assert.equal((await pier(['info', '-f', '{{.Containers}}'])).stdout, '3\n');
  });
});

describe('errors', () => {
  // main.js: the compiled file under dist/, the source through tsx's .js-to-.ts resolution
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));

  it('an absent daemon: a clear message, exit 1 (125 for run), no stack trace', async () => {
    const host = 'unix:///nonexistent/pier.sock';
    for (const [args, code] of [
      [['ps'], 1],
      [['run', 'busybox'], 125],
    ] as const) {
      const { io, out, err } = fakeIo({ PIER_HOST: host });
      assert.equal(await main([...args], io), code);
      assert.equal(out(), '');
      const expected = `pier: cannot reach pierd at ${host} (no such file). Start it with: sudo pierd &   (or set PIER_HOST/DOCKER_HOST)`;
      assert.equal(err(), code === 1 ? `${expected}\n` : `${expected}\n\nRun 'pier run --help' for more information\n`);
    }
  });

  it('-H wins over the environment', async () => {
    daemon.reply('GET', '/containers/json', 200, []);
    const { io, out } = fakeIo({ PIER_HOST: 'unix:///nonexistent/x.sock' });
    assert.equal(await main(['-H', daemon.host, 'ps', '-q'], io), 0);
    assert.equal(out(), '');
    assert.equal(daemon.find('GET', '/containers/json').length, 1);
  });

  it('unknown commands and flags', async () => {
    const cmd = await pier(['frobnicate']);
    assert.equal(cmd.code, 1);
    assert.equal(cmd.stderr, "pier: 'frobnicate' is not a pier command.\nSee 'pier --help'\n");
    const typo = await pier(['imagess']);
    assert.equal(typo.code, 1);
    assert.equal(typo.stderr, "pier: 'imagess' is not a pier command.\n\nDid you mean this?\n\timages\n\nSee 'pier --help'\n");
    assert.match((await pier(['exce'])).stderr, /Did you mean this\?\n\texec\n/);
    const flag = await pier(['ps', '--frob']);
    assert.equal(flag.code, 125);
    assert.match(flag.stderr, /^pier: unknown option '--frob'\nSee 'pier ps --help'\.\n$/);
    const missing = await pier(['rm']);
    assert.equal(missing.code, 1);
  });

  it('the process exits with the code and prints no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pier-cli-'));
    try {
      const script = join(dir, 'pier.mjs');
      await writeFile(script, `import { runProcess } from ${JSON.stringify(cli)};\nawait runProcess();\n`);
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', script, 'inspect', 'x'],
          { env: { ...process.env, PIER_HOST: 'unix:///nonexistent/pier.sock' }, cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
        );
      });
      assert.equal(result.stderr, 'pier: cannot reach pierd at unix:///nonexistent/pier.sock (no such file). Start it with: sudo pierd &   (or set PIER_HOST/DOCKER_HOST)\n');
      assert.equal(result.code, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// Keep the type import used when the file is read alone.
export type { RecordedRequest };
