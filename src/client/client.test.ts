import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApiError, Client, DaemonUnreachableError, DEFAULT_HOST, encodeQuery, filtersParam, parseHost, resolveHost } from './client.js';
import { demuxTo } from './demux.js';
import { FakeDaemon, frame, sendJson, upgrade101 } from './fake-daemon.js';
import { jsonMessages, JsonStreamError } from './json-stream.js';

describe('host selection', () => {
  it('takes -H, then PIER_HOST, then DOCKER_HOST, then pier\'s socket', () => {
    assert.equal(resolveHost('unix:///a', { PIER_HOST: 'unix:///b', DOCKER_HOST: 'unix:///c' }), 'unix:///a');
    assert.equal(resolveHost(undefined, { PIER_HOST: 'unix:///b', DOCKER_HOST: 'unix:///c' }), 'unix:///b');
    assert.equal(resolveHost(undefined, { DOCKER_HOST: 'unix:///c' }), 'unix:///c');
    assert.equal(resolveHost(undefined, {}), DEFAULT_HOST);
    assert.equal(DEFAULT_HOST, 'unix:///run/pier/pier.sock');
  });

  it('parses unix and tcp addresses', () => {
    assert.deepEqual(parseHost('unix:///run/pier/pier.sock'), { socketPath: '/run/pier/pier.sock' });
    assert.deepEqual(parseHost('/tmp/x.sock'), { socketPath: '/tmp/x.sock' });
    assert.deepEqual(parseHost('tcp://127.0.0.1:2375'), { hostname: '127.0.0.1', port: 2375 });
    assert.deepEqual(parseHost('tcp://[::1]:1234'), { hostname: '::1', port: 1234 });
    assert.throws(() => parseHost('ssh://x'), /unable to parse docker host `ssh:\/\/x`/);
  });
});

describe('query encoding', () => {
  it('sends true as 1, leaves out false and undefined, repeats arrays', () => {
    assert.equal(encodeQuery({ all: true, size: false, limit: 3, name: undefined, names: ['a', 'b:1'] }), '?all=1&limit=3&names=a&names=b%3A1');
    assert.equal(encodeQuery({}), '');
  });

  it('builds Docker filters from key=value pairs', () => {
    assert.equal(filtersParam(['status=exited', 'label=a=b', 'status=created']), '{"status":{"exited":true,"created":true},"label":{"a=b":true}}');
    assert.equal(filtersParam([]), undefined);
    assert.throws(() => filtersParam(['nope']), /bad format of filter/);
  });
});

describe('client against a stand-in daemon', () => {
  const daemon = new FakeDaemon();
  let client: Client;
  before(async () => {
    await daemon.start();
    client = new Client({ host: daemon.host });
  });
  after(async () => {
    client.close();
    await daemon.close();
  });

  it('sends versioned requests and parses JSON answers', async () => {
    daemon.reply('GET', '/containers/json', 200, [{ Id: 'abc', Names: ['/x'] }]);
    const list = await client.containerList({ all: true, filters: filtersParam(['status=exited']) });
    assert.deepEqual(list, [{ Id: 'abc', Names: ['/x'] }]);
    const req = daemon.find('GET', '/containers/json').at(-1)!;
    assert.equal(req.version, '1.51');
    assert.equal(req.query.get('all'), '1');
    assert.equal(req.query.get('filters'), '{"status":{"exited":true}}');
  });

  it('sends JSON bodies with their type and length', async () => {
    daemon.reply('POST', '/containers/create', 201, { Id: 'c1', Warnings: [] });
    const res = await client.containerCreate({ Image: 'busybox', Cmd: ['true'] }, { name: 'n1' });
    assert.deepEqual(res, { Id: 'c1', Warnings: [] });
    const req = daemon.find('POST', '/containers/create').at(-1)!;
    assert.equal(req.query.get('name'), 'n1');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(req.body.toString()), { Image: 'busybox', Cmd: ['true'] });
  });

  it('keeps slashes and colons of image names in paths', async () => {
    daemon.reply('GET', '/images/docker.io/library/alpine:3/json', 200, { Id: 'sha256:x' });
    assert.deepEqual(await client.imageInspect('docker.io/library/alpine:3'), { Id: 'sha256:x' });
  });

  it('throws ApiError with the status and Docker\'s message', async () => {
    daemon.reply('DELETE', '/containers/nope', 404, { message: 'No such container: nope' });
    await assert.rejects(client.containerRemove('nope', { force: true }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 404);
      assert.equal(err.message, 'No such container: nope');
      return true;
    });
    assert.equal(daemon.find('DELETE', '/containers/nope').at(-1)!.query.get('force'), '1');
  });

  it('takes a text error body as the message, and 304 as success', async () => {
    daemon.on('POST', '/containers/t/stop', (_r, res) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('boom\n');
    });
    await assert.rejects(client.containerStop('t'), { name: 'ApiError', message: 'boom' });
    daemon.reply('POST', '/containers/s/start', 304);
    await client.containerStart('s');
  });

  it('streams a body upload (import) and a body download (save)', async () => {
    daemon.on('POST', '/images/create', (req, res) => {
      sendJson(res, 200, { status: `got ${req.body.length} bytes, type ${req.headers['content-type']}, src ${req.query.get('fromSrc')}, changes ${req.query.getAll('changes').join('|')}` });
    });
    const src = Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(24, 2)]);
    const res = await client.imageImport(src, { repo: 'foo:v1', changes: ['CMD ["sh"]', 'ENV A=1'] });
    const msgs = [];
    for await (const m of jsonMessages(res)) msgs.push(m);
    assert.deepEqual(msgs, [{ status: 'got 1024 bytes, type application/x-tar, src -, changes CMD ["sh"]|ENV A=1' }]);

    daemon.on('GET', '/images/get', (req, r) => {
      r.writeHead(200, { 'Content-Type': 'application/x-tar' });
      r.end(`tar of ${req.query.getAll('names').join(',')}`);
    });
    const tar = await client.imageSave(['busybox', 'alpine:3']);
    let text = '';
    for await (const c of tar as AsyncIterable<Buffer>) text += c.toString();
    assert.equal(text, 'tar of busybox,alpine:3');
  });

  it('surfaces errorDetail in a JSON stream after the messages before it', async () => {
    daemon.on('POST', '/images/create', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"status":"Pulling from library/x","id":"latest"}\r\n');
      res.end('{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\r\n');
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const m of jsonMessages(await client.imagePull('docker.io/library/x', { tag: 'latest' }))) seen.push(m.status ?? '');
      })(),
      (err: unknown) => err instanceof JsonStreamError && err.message === 'manifest unknown',
    );
    assert.deepEqual(seen, ['Pulling from library/x']);
  });

  it('wait: resolves once the head is in, then with the exit', async () => {
    let finish: (() => void) | undefined;
    daemon.on('POST', '/containers/w/wait', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      finish = () => res.end('{"StatusCode":7,"Error":null}');
    });
    const { result } = await client.containerWait('w', 'next-exit');
    assert.equal(daemon.find('POST', '/containers/w/wait').at(-1)!.query.get('condition'), 'next-exit');
    assert.ok(finish, 'the daemon has the wait before the client goes on');
    finish();
    assert.deepEqual(await result, { StatusCode: 7, Error: null });
  });

  it('hijacks attach: 101, frames out, stdin in, half-close on EOF while output continues', async () => {
    daemon.onUpgrade('/containers/h/attach', (req, socket) => {
      upgrade101(socket);
      socket.write(frame(1, 'ready\n'));
      socket.on('end', () => {
        // stdin is closed: answer with what came in, then end like an exited container
        socket.write(frame(1, `you said ${Buffer.concat(req.stdin!).toString()}`));
        socket.end(frame(2, 'bye\n'));
      });
    });
    const { socket, contentType } = await client.containerAttach('h', { stdin: true, stdout: true, stderr: true });
    assert.equal(contentType, 'application/vnd.docker.multiplexed-stream');
    const req = daemon.find('POST', '/containers/h/attach').at(-1)!;
    assert.equal(req.headers.connection, 'Upgrade');
    assert.equal(req.headers.upgrade, 'tcp');
    assert.equal(req.query.toString(), 'stderr=1&stdin=1&stdout=1&stream=1');
    const out = new PassThrough();
    const err = new PassThrough();
    const done = demuxTo(socket, out, err);
    socket.write('hello');
    socket.end();
    await done;
    assert.equal(String(out.read() as Buffer | null), 'ready\nyou said hello');
    assert.equal(String(err.read() as Buffer | null), 'bye\n');
    assert.equal(req.stdinEnded, true);
  });

  it('a hijack answered without 101 is an error; an error status is an ApiError', async () => {
    daemon.onUpgrade('/containers/plain/attach', (_req, socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nContent-Length: 0\r\n\r\n');
    });
    await assert.rejects(client.containerAttach('plain', { stdout: true }), /unable to upgrade to tcp, received 200/);
    await assert.rejects(client.containerAttach('missing', { stdout: true }), { name: 'ApiError', message: 'page not found' });
  });

  it('negotiates down once when the daemon calls its version too new', async () => {
    const old = new FakeDaemon();
    await old.start();
    try {
      old.on('GET', /.*/, (req, res) => {
        if (req.version === '1.51') sendJson(res, 400, { message: 'client version 1.51 is too new. Maximum supported API version is 1.41' });
        else sendJson(res, 200, { Version: '20.10.24', ApiVersion: '1.41' });
      });
      old.on('HEAD', '/_ping', (_req, res) => {
        res.writeHead(200, { 'Api-Version': '1.41' });
        res.end();
      });
      const c = new Client({ host: old.host });
      assert.equal((await c.version()).ApiVersion, '1.41');
      assert.equal(c.apiVersion, '1.41');
      assert.deepEqual(old.requests.map((r) => `${r.method} ${r.version ?? '-'} ${r.path}`), ['GET 1.51 /version', 'HEAD - /_ping', 'GET 1.41 /version']);
      c.close();
    } finally {
      await old.close();
    }
  });

  it('reports an absent daemon as unreachable, with the reason', async () => {
    const c = new Client({ host: 'unix:///nonexistent/pier.sock' });
    await assert.rejects(c.info(), (err: unknown) => {
      assert.ok(err instanceof DaemonUnreachableError);
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.host, 'unix:///nonexistent/pier.sock');
      assert.match(err.message, /\(no such file\)/);
      return true;
    });
  });
});
