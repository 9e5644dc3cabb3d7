import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { configFor, docker25Archive, gzip, harness, tarOf } from '../../images/test-helpers.js';
import { Router } from '../router.js';
import { createApiServer } from '../server.js';
import { registerImageRoutes } from './images.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

async function serve(t: TestContext): Promise<{ call: (method: string, path: string, body?: Buffer) => Promise<Reply>; svc: Awaited<ReturnType<typeof harness>>['svc'] }> {
  const h = await harness(t);
  const router = new Router();
  registerImageRoutes(router, h.svc);
  const dir = await mkdtemp(join(tmpdir(), 'pimr-'));
  const socketPath = join(dir, 's.sock');
  const server = createApiServer({ router, log: pino({ level: 'silent' }) });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const call = (method: string, path: string, body?: Buffer): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath, path, method, headers: body ? { 'Content-Type': 'application/x-tar' } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return { call, svc: h.svc };
}

const json = (r: Reply): unknown => JSON.parse(r.body.toString());
const lines = (r: Reply): unknown[] =>
  r.body
    .toString()
    .split('\r\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

void test('import, list, tag, inspect by a name with slashes, history, delete over HTTP', async (t) => {
  const { call } = await serve(t);
  const rootfs = await tarOf([{ name: 'hello', data: 'hi' }]);
  const imp = await call('POST', '/v1.51/images/create?fromSrc=-&repo=localhost:5000/team/app&tag=v1&changes=CMD%20%5B%22sh%22%5D', gzip(rootfs));
  assert.equal(imp.status, 200);
  assert.equal(imp.headers['content-type'], 'application/json');
  const [status] = lines(imp) as Array<{ status: string }>;
  assert.match(status!.status, /^sha256:[a-f0-9]{64}$/);
  const id = status!.status;

  const tag = await call('POST', `/v1.51/images/${id.slice(7, 19)}/tag?repo=other&tag=2`);
  assert.equal(tag.status, 201);
  const list = json(await call('GET', '/v1.51/images/json')) as Array<{ Id: string; RepoTags: string[] }>;
  assert.deepEqual(list.map((s) => [s.Id, s.RepoTags]), [[id, ['localhost:5000/team/app:v1', 'other:2']]]);

  const inspect = json(await call('GET', '/v1.51/images/localhost:5000/team/app:v1/json')) as { Id: string; Config: unknown };
  assert.equal(inspect.Id, id);
  assert.deepEqual(inspect.Config, { Cmd: ['sh'] });
  const history = json(await call('GET', '/v1.51/images/other:2/history')) as Array<{ Id: string; Comment: string }>;
  assert.deepEqual(history.map((x) => [x.Id, x.Comment]), [[id, 'Imported from -']]);

  const missing = await call('GET', '/v1.51/images/nope/json');
  assert.equal(missing.status, 404);
  assert.deepEqual(json(missing), { message: 'No such image: nope:latest' });
  const bad = await call('POST', '/v1.51/images/other:2/tag?repo=Bad');
  assert.equal(bad.status, 400);

  const del = await call('DELETE', '/v1.51/images/other:2');
  assert.deepEqual(json(del), [{ Untagged: 'other:2' }]);
  const conflict = await call('DELETE', `/v1.51/images/${id}?force=0`);
  assert.equal(conflict.status, 200, 'a single remaining reference goes with a delete by ID');
  assert.deepEqual((json(conflict) as unknown[]).slice(0, 2), [{ Untagged: 'localhost:5000/team/app:v1' }, { Deleted: id }]);
  assert.deepEqual(json(await call('POST', '/v1.51/images/prune')), { ImagesDeleted: null, SpaceReclaimed: 0 });
});

void test('load streams its messages (a broken archive\'s error too); save streams the archive; errors keep their status', async (t) => {
  const { call } = await serve(t);
  const layer = await tarOf([{ name: 'f', data: 'content' }]);
  const archive = await docker25Archive([{ config: configFor([layer]), layers: [layer], tags: ['busybox:latest'] }]);
  const load = await call('POST', '/v1.51/images/load?quiet=1', archive);
  assert.equal(load.status, 200);
  assert.deepEqual(lines(load), [{ stream: 'Loaded image: busybox:latest\n' }]);

  const save = await call('GET', '/v1.51/images/get?names=busybox');
  assert.equal(save.status, 200);
  assert.equal(save.headers['content-type'], 'application/x-tar');
  const again = await call('POST', '/v1.51/images/load', save.body);
  assert.deepEqual(lines(again), [{ stream: 'Loaded image: busybox:latest\n' }]);
  const single = await call('GET', '/v1.51/images/busybox/get');
  assert.deepEqual(single.body, save.body);

  const missing = await call('GET', '/v1.51/images/get?names=busybox&names=ghost');
  assert.equal(missing.status, 404);
  // An archive that cannot be read: Docker's 200 with the error in the stream.
  const truncated = await call('POST', '/v1.51/images/load', archive.subarray(0, 2000));
  assert.equal(truncated.status, 200);
  assert.match((lines(truncated).at(-1) as { error: string }).error, /invalid archive/);
  // Refused before the (large) body is read: the client still gets the message, not a broken pipe.
  const big = Buffer.alloc(8 * 1024 * 1024);
  const refused = await call('POST', '/v1.51/images/create?fromSrc=-&changes=RUN%20x', big);
  assert.equal(refused.status, 400);
  assert.deepEqual(json(refused), { message: 'run is not a valid change command' });
  const pull = await call('POST', '/v1.51/images/create?fromImage=alpine&tag=3');
  assert.equal(pull.status, 501);
});
