import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importBusybox, mountsUnder, startDaemon, type Daemon } from './harness.js';

/**
 * Volumes and mounts as a Docker user sees them: the real docker CLI against a private pierd,
 * real containers writing real files.
 */

/** One request to the daemon's socket, with a JSON body; the status and the parsed answer. */
function api(d: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: d.socket, method, path, headers: text ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown = raw === '' ? undefined : raw;
        try {
          json = JSON.parse(raw) as unknown;
        } catch {
          // not JSON (`/_ping` answers OK): the text itself
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

const ok = (r: { code: number; stdout: string; stderr: string }): string => {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

describe('volumes and mounts through the docker CLI', () => {
  let d: Daemon;
  let host: string;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    host = await mkdtemp('/tmp/pier-vol-host-');
  });
  after(async () => {
    await d?.stop();
    if (host) await rm(host, { recursive: true, force: true });
  });

  test('data written to a named volume is read by the next container and survives a pierd restart', async () => {
    assert.equal(ok(await d.docker(['volume', 'create', '--label', 'app=db', 'keep'])), 'keep\n');
    ok(await d.docker(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f']));
    assert.equal(ok(await d.docker(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f'])), 'persisted\n');
    await d.restart();
    assert.equal(ok(await d.docker(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f'])), 'persisted\n');
    const inspect = JSON.parse(ok(await d.docker(['volume', 'inspect', 'keep']))) as Array<Record<string, unknown>>;
    assert.equal(inspect[0]!.Name, 'keep');
    assert.equal(inspect[0]!.Driver, 'local');
    assert.equal(inspect[0]!.Scope, 'local');
    assert.deepEqual(inspect[0]!.Labels, { app: 'db' });
    assert.equal(inspect[0]!.Mountpoint, join(d.root, 'volumes', 'keep', '_data'));
    assert.match(String(inspect[0]!.CreatedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(ok(await d.docker(['volume', 'ls', '--filter', 'label=app=db', '--format', '{{.Driver}} {{.Name}}'])), 'local keep\n');
    ok(await d.docker(['volume', 'rm', 'keep']));
    assert.equal((await d.docker(['volume', 'inspect', 'keep'])).code, 1);
  });

  test("an image's /data content appears in a new volume, owners and modes kept; nocopy skips it", async () => {
    const made = ok(await d.docker(['run', '-d', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo seed > /data/sub/hello && chown -R 1234:5678 /data && chmod 750 /data && chmod 640 /data/sub/hello && ln -s sub/hello /data/link'])).trim();
    ok(await d.docker(['wait', made]));
    ok(await d.docker(['commit', '-c', 'VOLUME ["/data"]', made, 'seeded:1']));
    ok(await d.docker(['rm', made]));
    const show = 'cat /data/sub/hello; stat -c "%u:%g %a" /data /data/sub/hello; readlink /data/link';
    assert.equal(ok(await d.docker(['run', '--rm', '-v', 'fresh:/data', 'seeded:1', 'sh', '-c', show])), 'seed\n1234:5678 750\n1234:5678 640\nsub/hello\n');
    // The anonymous volume of the image's VOLUME gets the same.
    assert.equal(ok(await d.docker(['run', '--rm', 'seeded:1', 'cat', '/data/sub/hello'])), 'seed\n');
    // ... and `run --rm` removes that anonymous volume with the container.
    assert.equal(ok(await d.docker(['volume', 'ls', '-q', '--filter', 'label=com.docker.volume.anonymous'])), '');
    // A volume that holds something is left as it is.
    ok(await d.docker(['run', '--rm', '-v', 'full:/data', 'busybox', 'sh', '-c', 'echo mine > /data/own']));
    assert.equal(ok(await d.docker(['run', '--rm', '-v', 'full:/data', 'seeded:1', 'ls', '/data'])), 'own\n');
    assert.equal(ok(await d.docker(['run', '--rm', '-v', 'bare:/data:nocopy', 'seeded:1', 'ls', '-A', '/data'])), '');
    for (const v of ['fresh', 'full', 'bare']) ok(await d.docker(['volume', 'rm', v]));
  });

  test('a :ro bind cannot be written; a missing -v host path is made; --read-only with --tmpfs /run works', async () => {
    await writeFile(join(host, 'file'), 'host data\n');
    const r = await d.docker(['run', '--rm', '-v', `${host}:/b:ro`, 'busybox', 'sh', '-c', 'cat /b/file; echo x > /b/new']);
    assert.equal(r.stdout, 'host data\n');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    await assert.rejects(stat(join(host, 'new')));
    const made = join(host, 'made', 'deep');
    ok(await d.docker(['run', '--rm', '-v', `${made}:/m`, 'busybox', 'sh', '-c', 'echo w > /m/w']));
    assert.equal(await readFile(join(made, 'w'), 'utf8'), 'w\n');
    const ro = await d.docker(['run', '--rm', '--read-only', '--tmpfs', '/run:size=1m', 'busybox', 'sh', '-c', 'echo ok > /run/x && cat /run/x && touch /etc/nope']);
    assert.equal(ro.stdout, 'ok\n');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
  });

  test('--mount bind/volume/tmpfs and inspect Mounts exactly as Docker shows them', async () => {
    await mkdir(join(host, 'm'), { recursive: true });
    const id = ok(await d.docker([
      'create', '--mount', `type=bind,src=${host}/m,dst=/b,readonly`, '--mount', 'type=volume,src=mv,dst=/v,volume-label=k=v',
      '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770', '-v', 'nv:/n:ro', 'busybox', 'true',
    ])).trim();
    const mounts = JSON.parse(ok(await d.docker(['inspect', '-f', '{{json .Mounts}}', id]))) as Array<Record<string, unknown>>;
    const byDest: Record<string, unknown> = Object.fromEntries(mounts.map((m) => [String(m.Destination), m]));
    assert.deepEqual(byDest['/b'], { Type: 'bind', Source: `${host}/m`, Destination: '/b', Mode: '', RW: false, Propagation: 'rprivate' });
    assert.deepEqual(byDest['/v'], { Type: 'volume', Name: 'mv', Source: join(d.root, 'volumes', 'mv', '_data'), Destination: '/v', Driver: 'local', Mode: 'z', RW: true, Propagation: '' });
    assert.deepEqual(byDest['/n'], { Type: 'volume', Name: 'nv', Source: join(d.root, 'volumes', 'nv', '_data'), Destination: '/n', Driver: 'local', Mode: 'ro', RW: false, Propagation: '' });
    assert.deepEqual(byDest['/t'], { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' });
    assert.equal(ok(await d.docker(['volume', 'inspect', '-f', '{{json .Labels}}', 'mv'])), '{"k":"v"}\n');
    // `ps --filter volume=` matches a volume's name and a destination.
    assert.equal(ok(await d.docker(['ps', '-aq', '--no-trunc', '--filter', 'volume=mv'])), `${id}\n`);
    assert.equal(ok(await d.docker(['ps', '-aq', '--no-trunc', '--filter', 'volume=/t'])), `${id}\n`);
    assert.equal(ok(await d.docker(['ps', '-aq', '--filter', 'volume=nothing'])), '');
    const run = await d.docker(['start', '-a', id]);
    assert.equal(run.code, 0, run.stderr);
    ok(await d.docker(['rm', id]));
    ok(await d.docker(['volume', 'rm', 'mv', 'nv']));
  });

  test('volume-subpath mounts a folder of the volume; one that is not there fails the start', async () => {
    ok(await d.docker(['run', '--rm', '-v', 'sv:/all', 'busybox', 'sh', '-c', 'mkdir -p /all/sub && echo inside > /all/sub/f && echo top > /all/t']));
    assert.equal(ok(await d.docker(['run', '--rm', '--mount', 'type=volume,src=sv,dst=/s,volume-subpath=sub', 'busybox', 'ls', '/s'])), 'f\n');
    const missing = await d.docker(['run', '--rm', '--mount', 'type=volume,src=sv,dst=/s,volume-subpath=nope', 'busybox', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot access path .*\/sv\/_data\/nope/);
    // The failed start held nothing: the volume can go.
    ok(await d.docker(['volume', 'rm', 'sv']));
  });

  test('rm -v removes anonymous volumes and keeps named ones; a volume in use gives 409, force too', async () => {
    const id = ok(await d.docker(['create', '-v', 'named:/n', '-v', '/anon', 'busybox', 'true'])).trim();
    const anon = ok(await d.docker(['inspect', '-f', '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}', id])).trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    assert.equal(ok(await d.docker(['volume', 'inspect', '-f', '{{json .Labels}}', anon])), '{"com.docker.volume.anonymous":""}\n');
    for (const path of ['/volumes/named', '/volumes/named?force=1']) {
      const res = await api(d, 'DELETE', path);
      assert.equal(res.status, 409);
      assert.deepEqual(res.json, { message: `remove named: volume is in use - [${id}]` });
    }
    const cli = await d.docker(['volume', 'rm', 'named']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /volume is in use/);
    ok(await d.docker(['rm', '-v', id]));
    const left = ok(await d.docker(['volume', 'ls', '-q'])).split('\n');
    assert.ok(left.includes('named'));
    assert.ok(!left.includes(anon));
    // Without -v, the anonymous volume stays (dangling); prune takes it, and only it (API >= 1.42).
    const id2 = ok(await d.docker(['create', '-v', '/anon2', 'busybox', 'true'])).trim();
    const anon2 = ok(await d.docker(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', id2])).trim();
    ok(await d.docker(['rm', id2]));
    assert.equal(ok(await d.docker(['volume', 'ls', '-q', '--filter', 'dangling=true'])).split('\n').filter(Boolean).sort().join(' '), [anon2, 'named'].sort().join(' '));
    const pruned = ok(await d.docker(['volume', 'prune', '-f']));
    assert.match(pruned, new RegExp(`Deleted Volumes:\\n${anon2}\\n`));
    assert.equal(ok(await d.docker(['volume', 'ls', '-q'])), 'named\n');
    assert.match(ok(await d.docker(['volume', 'prune', '-f', '--all'])), /Deleted Volumes:\nnamed\n/);
    assert.equal(ok(await d.docker(['volume', 'ls', '-q'])), '');
  });

  test('--volumes-from shares the volumes of another container, :ro makes them read-only', async () => {
    const src = ok(await d.docker(['create', '--name', 'vsrc', '-v', 'shared:/s', '-v', '/anon', 'busybox', 'true'])).trim();
    ok(await d.docker(['run', '--rm', '--volumes-from', 'vsrc', 'busybox', 'sh', '-c', 'echo one > /s/f; echo two > /anon/g']));
    assert.equal(ok(await d.docker(['run', '--rm', '--volumes-from', 'vsrc:ro', 'busybox', 'sh', '-c', 'cat /s/f /anon/g'])), 'one\ntwo\n');
    const ro = await d.docker(['run', '--rm', '--volumes-from', 'vsrc:ro', 'busybox', 'sh', '-c', 'echo x > /s/f']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    // (The docker CLI takes any 404 of a create for a missing image and pulls: asked directly.)
    const missing = await api(d, 'POST', '/containers/create', { Image: 'busybox', HostConfig: { VolumesFrom: ['nope:ro'] } });
    assert.deepEqual(missing, { status: 404, json: { message: 'No such container: nope' } });
    const badMode = await api(d, 'POST', '/containers/create', { Image: 'busybox', HostConfig: { VolumesFrom: ['vsrc:shared'] } });
    assert.deepEqual(badMode, { status: 400, json: { message: 'invalid mode: shared' } });
    ok(await d.docker(['rm', '-v', src]));
    ok(await d.docker(['volume', 'rm', 'shared']));
  });

  test('a tmpfs-backed volume is mounted while used and unmounted after; events tell create, mount, unmount, destroy', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    ok(await d.docker(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m', 'tv']));
    const data = join(d.root, 'volumes', 'tv', '_data');
    assert.deepEqual(await mountsUnder(data), []);
    const out = ok(await d.docker(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'echo x > /t/x; df -k /t | tail -n 1']));
    assert.match(out, /^tmpfs\s+1024\s/);
    assert.deepEqual(await mountsUnder(data), []);
    assert.equal(ok(await d.docker(['volume', 'inspect', '-f', '{{json .Options}}', 'tv'])), '{"device":"tmpfs","o":"size=1m","type":"tmpfs"}\n');
    ok(await d.docker(['volume', 'rm', 'tv']));
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = ok(await d.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--filter', 'volume=tv', '--format', '{{.Action}}']));
    assert.equal(events, 'create\nmount\nunmount\ndestroy\n');
  });

  test("bad input gets Docker's status and message, and pierd keeps serving", async () => {
    const create = (hostConfig: Record<string, unknown>, extra: Record<string, unknown> = {}) => api(d, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], ...extra, HostConfig: hostConfig });
    const cases: Array<[Promise<{ status: number; json: unknown }>, number, string]> = [
      [create({ Binds: ['/:/'] }), 400, `invalid volume specification: '/:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
      [create({ Binds: ['/tmp:data'] }), 400, `invalid volume specification: '/tmp:data': invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute`],
      [create({ Binds: ['rel/dir:/data'] }), 400, 'create rel/dir: "rel/dir" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [create({ Binds: ['/tmp:/x:bogus'] }), 400, 'invalid mode: bogus'],
      [create({ Binds: ['/tmp:/x', '/etc:/x'] }), 400, 'Duplicate mount point: /x'],
      [create({ Binds: ['/tmp:/x'], Mounts: [{ Type: 'tmpfs', Target: '/x' }] }), 400, 'Duplicate mount point: /x'],
      [create({ Mounts: [{ Type: 'bind', Source: '/no/such/path', Target: '/x' }] }), 400, 'invalid mount config for type "bind": bind source path does not exist: /no/such/path'],
      [create({ Mounts: [{ Type: 'floppy', Target: '/x' }] }), 400, 'invalid mount config for type "floppy": mount type unknown'],
      [create({ Mounts: [{ Type: 'volume', Target: '/' }] }), 400, `invalid mount config for type "volume": invalid specification: destination can't be '/'`],
      [create({ Mounts: [{ Type: 'volume', Source: 'v', Target: 'rel' }] }), 400, `invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`],
      [create({ Tmpfs: { run: '' } }), 400, `invalid mount path: 'run' mount path must be absolute`],
      [create({ Mounts: [{ Type: 'volume', Source: 'v', Target: '/x', VolumeOptions: { Subpath: '../up' } }] }), 400, 'invalid mount config for type "volume": subpath must be a relative path within the volume'],
      [api(d, 'POST', '/volumes/create', { Name: 'a/b' }), 400, 'create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [api(d, 'POST', '/volumes/create', { Name: 'x1', DriverOpts: { bogus: '1' } }), 400, 'create x1: invalid option: "bogus"'],
      [api(d, 'POST', '/volumes/create', { Name: 'x1', DriverOpts: { type: 'tmpfs' } }), 400, 'create x1: missing required option: "device"'],
      [api(d, 'POST', '/volumes/create', { Name: 'x1', Driver: 'nfsplugin' }), 404, 'error looking up volume plugin nfsplugin: plugin "nfsplugin" not found'],
      [api(d, 'GET', '/volumes/nosuch'), 404, 'get nosuch: no such volume'],
      [api(d, 'DELETE', '/volumes/nosuch'), 404, 'get nosuch: no such volume'],
      [api(d, 'GET', '/volumes?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D'), 400, "invalid filter 'bogus'"],
      [api(d, 'GET', '/volumes?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D'), 400, "invalid filter 'dangling=maybe'"],
    ];
    for (const [pending, status, message] of cases) {
      const res = await pending;
      assert.deepEqual({ status: res.status, json: res.json }, { status, json: { message } });
    }
    assert.equal((await api(d, 'DELETE', '/volumes/nosuch?force=1')).status, 204);
    // Nothing was left behind by the refused creates, and the daemon still answers.
    assert.equal(ok(await d.docker(['ps', '-aq'])), '');
    assert.deepEqual(((await api(d, 'GET', '/volumes')).json as { Volumes: unknown[] }).Volumes, []);
    assert.equal((await api(d, 'GET', '/_ping')).status, 200);
  });

  test('pier volume create|ls|inspect|rm|prune and pier run --mount/--volumes-from, with Docker\'s output', async () => {
    assert.equal(ok(await d.pier(['volume', 'create', '--label', 'x=1', 'pv1'])), 'pv1\n');
    assert.equal(ok(await d.pier(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', 'pv2'])), 'pv2\n');
    assert.equal(ok(await d.pier(['volume', 'ls'])), 'DRIVER    VOLUME NAME\nlocal     pv1\nlocal     pv2\n');
    assert.equal(ok(await d.pier(['volume', 'ls', '-q', '--filter', 'label=x'])), 'pv1\n');
    assert.equal(ok(await d.pier(['volume', 'ls', '--format', '{{.Name}} {{.Labels}} {{.Scope}}'])), 'pv1 x=1 local\npv2  local\n');
    assert.equal(ok(await d.pier(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'pv1'])), `${join(d.root, 'volumes', 'pv1', '_data')}\n`);
    const missing = await d.pier(['volume', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such volume/i);
    ok(await d.pier(['run', '--rm', '--name', 'pw', '--mount', 'type=volume,src=pv1,dst=/p', 'busybox', 'sh', '-c', 'echo from-pier > /p/f']));
    const holder = ok(await d.pier(['create', '--name', 'pholder', '-v', 'pv1:/p', 'busybox', 'true'])).trim();
    assert.equal(ok(await d.pier(['run', '--rm', '--volumes-from', 'pholder:ro', 'busybox', 'cat', '/p/f'])), 'from-pier\n');
    const bad = await d.pier(['run', '--rm', '--mount', 'type=bind,dst=/x,colour=red', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid argument "type=bind,dst=\/x,colour=red" for "--mount" flag: unexpected key 'colour' in 'colour=red'/);
    const inUse = await d.pier(['volume', 'rm', 'pv1', 'pv2']);
    assert.equal(inUse.code, 1);
    assert.equal(inUse.stdout, 'pv2\n');
    assert.equal(inUse.stderr, `Error response from daemon: remove pv1: volume is in use - [${holder}]\n`);
    ok(await d.pier(['rm', 'pholder']));
    assert.equal(ok(await d.pier(['volume', 'prune', '-f'])), 'Total reclaimed space: 0B\n');
    assert.equal(ok(await d.pier(['volume', 'prune', '-f', '-a'])), 'Deleted Volumes:\npv1\n\nTotal reclaimed space: 10B\n');
    assert.equal(ok(await d.pier(['volume', 'ls', '-q'])), '');
  });

  test('an rm -v that a crash interrupted is finished at the next start, anonymous volumes included', async () => {
    const id = ok(await d.docker(['create', '-v', '/anon', '-v', 'kept:/k', 'busybox', 'true'])).trim();
    const anon = ok(await d.docker(['inspect', '-f', '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}', id])).trim();
    await d.kill9();
    // What `rm -v` saves first, before anything is torn down.
    const path = join(d.root, 'containers', id, 'container.json');
    const rec = JSON.parse(await readFile(path, 'utf8')) as { State: Record<string, unknown> };
    rec.State.Status = 'removing';
    rec.State.RemoveVolumes = true;
    await writeFile(path, JSON.stringify(rec));
    await d.restart();
    assert.equal(ok(await d.docker(['ps', '-aq'])), '');
    assert.equal(ok(await d.docker(['volume', 'ls', '-q'])), 'kept\n');
    assert.notEqual(anon, '');
    ok(await d.docker(['volume', 'rm', 'kept']));
  });

  test('a kill -9 of pierd during volume creation leaves a consistent store', async () => {
    // Creates one after another, four at a time, the daemon killed while they run.
    const N = 400;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) {
        const name = `burst${next++}`;
        const res = await api(d, 'POST', '/volumes/create', { Name: name }).catch(() => undefined);
        if (!res) return;
      }
    };
    const workers = Promise.all([worker(), worker(), worker(), worker()]);
    const dir = join(d.root, 'volumes');
    for (let i = 0; i < 2000 && (await readdir(dir)).filter((e) => e.startsWith('burst')).length < 10; i++) await new Promise((r) => setTimeout(r, 2));
    await d.kill9();
    await workers;
    // And what a crash at the worst moments leaves: a staging folder half-written, a removal half-done.
    await mkdir(join(dir, '.new-0123456789abcdef', '_data'), { recursive: true });
    await writeFile(join(dir, '.new-0123456789abcdef', 'volume.json'), '{"Name":"hal');
    await mkdir(join(dir, '.rm-fedcba9876543210', '_data'), { recursive: true });
    await d.restart();
    const names = ok(await d.docker(['volume', 'ls', '-q'])).split('\n').filter(Boolean);
    assert.ok(names.length > 0 && names.length < N, `the kill came during the creates (${names.length} of ${N} made)`);
    for (const name of names) {
      assert.match(name, /^burst\d+$/);
      assert.equal(ok(await d.docker(['volume', 'inspect', '-f', '{{.Name}}', name])), `${name}\n`);
    }
    const entries = (await readdir(dir)).sort();
    assert.deepEqual(entries, [...names].sort());
    ok(await d.docker(['volume', 'create', 'after']));
    ok(await d.docker(['run', '--rm', '-v', 'after:/a', 'busybox', 'true']));
    if (names.length > 0) ok(await d.docker(['volume', 'rm', ...names]));
    ok(await d.docker(['volume', 'rm', 'after']));
  });
});
