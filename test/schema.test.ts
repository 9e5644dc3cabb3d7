/**
 * The schema check itself, without pierd: the validator over answers with a field removed or
 * mistyped (so the check the harness runs on every answer cannot silently pass), and the proxy
 * in front of a stand-in daemon (what it passes through is byte for byte what came, streams and
 * upgraded connections included; what it reports are the wrong answers, a stream's value too).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { repoRoot } from './harness.js';
import { startSchemaProxy } from './schema-proxy.js';
import { loadEngineSchema, ResponseChecker } from './schema/validator.js';

const checker = new ResponseChecker(loadEngineSchema(repoRoot));

/** A container as `docker inspect` shows it (Docker 28, a created busybox container). */
function containerInspect(): Record<string, unknown> {
  return {
    Id: 'c'.repeat(64), Created: '2025-01-01T00:00:00.000000000Z', Path: 'sh', Args: [],
    State: { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' },
    Image: `sha256:${'a'.repeat(64)}`, ResolvConfPath: '', HostnamePath: '', HostsPath: '', LogPath: '', Name: '/box', RestartCount: 0,
    Driver: 'overlay2', Platform: 'linux', MountLabel: '', ProcessLabel: '', AppArmorProfile: '', ExecIDs: null,
    HostConfig: { Binds: null, NetworkMode: 'bridge', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false, CapAdd: null, CapDrop: null, Dns: [], Privileged: false },
    GraphDriver: { Name: 'overlay2', Data: { MergedDir: '/m', UpperDir: '/u', WorkDir: '/w' } },
    Mounts: [],
    Config: { Hostname: 'c', Domainname: '', User: '', Tty: false, Env: ['PATH=/bin'], Cmd: ['sh'], Image: 'busybox', Volumes: null, WorkingDir: '', Entrypoint: null, Labels: {} },
    NetworkSettings: { SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} },
  };
}

function imageSummary(): Record<string, unknown> {
  return { Id: `sha256:${'a'.repeat(64)}`, ParentId: '', RepoTags: ['busybox:latest'], RepoDigests: [], Created: 1700000000, Size: 4_000_000, SharedSize: -1, Labels: {}, Containers: -1 };
}

describe('the validator', () => {
  test('a whole ContainerInspect passes; without State, with State null or with Args null it fails, naming the field', () => {
    const path = `/v1.51/containers/${'c'.repeat(12)}/json`;
    assert.deepEqual(checker.check('GET', path, 200, JSON.stringify(containerInspect())), []);

    const { State: _state, ...withoutState } = containerInspect();
    const missing = checker.check('GET', path, 200, JSON.stringify(withoutState));
    assert.equal(missing.length, 1);
    assert.equal(missing[0]!.endpoint, 'GET /containers/{id}/json');
    assert.equal(missing[0]!.status, 200);
    assert.deepEqual(missing[0]!.errors, ["/ should have required property 'State'"]);

    const nulls = checker.check('GET', path, 200, JSON.stringify({ ...containerInspect(), State: null, Args: null }));
    assert.deepEqual(nulls[0]!.errors.sort(), ['/Args should be array', '/State should be object']);

    const wrongType = checker.check('GET', path, 200, JSON.stringify({ ...containerInspect(), RestartCount: '0' }));
    assert.deepEqual(wrongType[0]!.errors, ['/RestartCount should be integer']);
  });

  test("an exposed port that is not published is null in NetworkSettings.Ports (the swagger's x-nullable map value); a string there fails", () => {
    const path = `/containers/${'c'.repeat(12)}/json`;
    const ports = (value: unknown): Record<string, unknown> => ({
      ...containerInspect(),
      NetworkSettings: { SandboxID: '', SandboxKey: '', Ports: { '8080/tcp': value, '53/udp': [{ HostIp: '0.0.0.0', HostPort: '5353' }] }, Networks: {} },
    });
    assert.deepEqual(checker.check('GET', path, 200, JSON.stringify(ports(null))), []);
    assert.deepEqual(checker.check('GET', path, 200, JSON.stringify(ports('8080'))).map((v) => v.errors), [['/NetworkSettings/Ports/8080~1tcp should be array,null']]);
  });

  test('an ImageSummary with RepoTags null fails where Docker gives []; the same list with [] passes', () => {
    assert.deepEqual(checker.check('GET', '/images/json?all=1', 200, JSON.stringify([imageSummary()])), []);
    const found = checker.check('GET', '/images/json', 200, JSON.stringify([imageSummary(), { ...imageSummary(), RepoTags: null }]));
    assert.deepEqual(found.map((v) => v.errors), [['/1/RepoTags should be array']]);
  });

  test('a success status the operation does not answer is reported; an error status is checked as ErrorResponse', () => {
    const created = checker.check('POST', '/v1.51/containers/create', 200, JSON.stringify({ Id: 'c'.repeat(64), Warnings: [] }));
    assert.match(created[0]?.errors[0] ?? '', /status 200 is not one this operation answers \(201, 400, 404, 409, 500\)/);
    assert.deepEqual(checker.check('POST', '/v1.51/containers/create', 201, JSON.stringify({ Id: 'c'.repeat(64), Warnings: null })).map((v) => v.errors), [['/Warnings should be array']]);
    assert.deepEqual(checker.check('GET', '/containers/x/json', 404, '{"message":"No such container: x"}'), []);
    assert.deepEqual(checker.check('POST', '/containers/x/start', 400, '{"error":"bad"}').map((v) => v.errors), [["/ should have required property 'message'"]]);
    assert.deepEqual(checker.check('GET', '/v1.51/nosuch', 404, '{"message":"page not found"}'), []);
    assert.deepEqual(checker.check('GET', '/v1.51/nosuch', 404, 'page not found').map((v) => v.errors[0]?.startsWith('the body is not JSON')), [true]);
  });

  test('paths match their templates: names with slashes, versions, queries and the most literal template first', () => {
    assert.deepEqual(checker.operation('GET', '/v1.44/images/localhost:5000/tools/busybox:1/json?x=1'), { method: 'GET', template: '/images/{name}/json' });
    assert.deepEqual(checker.operation('GET', '/images/json'), { method: 'GET', template: '/images/json' });
    assert.deepEqual(checker.operation('POST', '/containers/create'), { method: 'POST', template: '/containers/create' });
    assert.deepEqual(checker.operation('DELETE', '/containers/abc'), { method: 'DELETE', template: '/containers/{id}' });
    assert.equal(checker.operation('GET', '/containers/abc'), undefined);
  });
});

describe('the proxy', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('passes answers, streams and upgraded connections through unchanged, and reports the wrong answer', async (t) => {
    const dir = await mkdtemp('/tmp/pt-schema-');
    dirs.push(dir);
    const upstream = join(dir, 'daemon.sock');
    const wrong = JSON.stringify([{ ...imageSummary(), RepoTags: null }]);
    const daemon = createServer((req, res) => {
      if (req.url === '/v1.51/images/json') {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(wrong) });
        res.end(wrong);
      } else if (req.url === '/v1.51/events') {
        // A stream: no Content-Length, one value a line, each checked once the stream ends.
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"Type":"container","Action":"start"}\n');
        setTimeout(() => res.end('{"Type":"box","Action":"start"}\n'), 50);
      } else {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"message":"page not found"}');
      }
    });
    daemon.on('upgrade', (_req, socket, head: Buffer) => {
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      const upper = (chunk: Buffer) => socket.write(Buffer.from(chunk.toString().toUpperCase()));
      if (head.length > 0) upper(head);
      socket.on('data', upper);
      socket.on('end', () => socket.end('bye\n'));
    });
    daemon.listen(upstream);
    await once(daemon, 'listening');
    t.after(() => daemon.close());
    const proxy = await startSchemaProxy(join(dir, 'api.sock'), upstream, new ResponseChecker(loadEngineSchema(repoRoot)));
    t.after(() => proxy.close());

    const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ socketPath: proxy.socket, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      }).on('error', reject).end();
    });
    assert.deepEqual(await get('/v1.51/images/json'), { status: 200, body: wrong });
    assert.deepEqual(await get('/v1.51/events'), { status: 200, body: '{"Type":"container","Action":"start"}\n{"Type":"box","Action":"start"}\n' });
    assert.deepEqual(await get('/v1.51/nosuch'), { status: 404, body: '{"message":"page not found"}' });

    // An attach-like upgrade: the answer's head, then bytes both ways, the client's half-close kept.
    const socket = connect(proxy.socket);
    socket.write('POST /v1.51/containers/x/attach?stream=1 HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n');
    socket.write('hello\n');
    setTimeout(() => socket.end(), 100);
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    await once(socket, 'end');
    const text = Buffer.concat(received).toString();
    assert.match(text, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    assert.ok(text.endsWith('\r\n\r\nHELLO\nbye\n'), JSON.stringify(text));

    assert.deepEqual(proxy.violations().map((v) => [v.endpoint, v.status, v.errors, v.count]), [
      ['GET /images/json', 200, ['/0/RepoTags should be array'], 1],
      ['GET /events', 200, ['value 2: /Type should be equal to one of the allowed values ("builder", "config", "container", "daemon", "image", "network", "node", "plugin", "secret", "service", "volume")'], 1],
    ]);

    // Paused (the daemon down), the proxy refuses connections as a missing daemon would.
    await proxy.pause();
    await assert.rejects(get('/v1.51/_ping'), /ENOENT|ECONNREFUSED/);
    await proxy.resume();
    assert.equal((await get('/v1.51/nosuch')).status, 404);
  });

  test('an answer pierd gives before reading the whole body reaches the client, and the connection serves again', async (t) => {
    const dir = await mkdtemp('/tmp/pt-schema-');
    dirs.push(dir);
    const upstream = join(dir, 'daemon.sock');
    // As pierd refuses a hostile tar: the answer at once, the body left unread.
    const daemon = createServer((_req, res) => {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end('{"message":"invalid entry name"}');
    });
    daemon.listen(upstream);
    await once(daemon, 'listening');
    t.after(() => daemon.close());
    const proxy = await startSchemaProxy(join(dir, 'api.sock'), upstream, new ResponseChecker(loadEngineSchema(repoRoot)));
    t.after(() => proxy.close());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const body = Buffer.alloc(8 * 1024 * 1024, 'x');
    for (let i = 0; i < 5; i++) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ socketPath: proxy.socket, agent, method: 'PUT', path: '/v1.51/containers/x/archive?path=/', headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.deepEqual(answer, { status: 400, body: '{"message":"invalid entry name"}' });
    }
    assert.deepEqual(proxy.violations(), []);
  });
});

