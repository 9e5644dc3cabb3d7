/**
 * Self-test of the harness, against a stand-in daemon (a few lines of node:http below) so it
 * runs without pierd: start and ping, the docker CLI reaching the private socket, an import fed
 * as a stream, kill9 and restart, a failed start, the clean-up of what a crashed daemon's
 * containers leave (processes, mounts, cgroups), and the busybox rootfs tar.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { extract } from 'tar-stream';
import {
  busyboxTarPath, cleanUp, daemonPaths, importBusybox, mountsUnder, repoRoot, run, startDaemon,
  type RunResult,
} from './harness.js';

// The stand-in daemon: answers /_ping, /version, /containers/json, DELETE /containers/<id>,
// and POST /images/create by hashing the body it was sent; logs every request line.
const FAKE_PIERD = `#!/usr/bin/env node
const http = require('node:http');
const fs = require('node:fs');
const crypto = require('node:crypto');
const argv = process.argv.slice(2);
const flag = (name) => argv[argv.indexOf(name) + 1];
if (argv.includes('--fail')) { console.error('fake-pierd: refusing to start'); process.exit(3); }
const root = flag('--root');
const socket = flag('--host').replace('unix://', '');
fs.mkdirSync(root, { recursive: true });
fs.mkdirSync(flag('--exec-root'), { recursive: true });
const json = (res, status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
const server = http.createServer((req, res) => {
  fs.appendFileSync(root + '/requests.log', req.method + ' ' + req.url + '\\n');
  const path = req.url.split('?')[0].replace(/^\\/v[0-9.]+/, '');
  if (path === '/_ping') { res.writeHead(200, { 'Api-Version': '1.51', 'Content-Type': 'text/plain' }); return res.end('OK'); }
  if (path === '/version') return json(res, 200, { Version: 'fake-pierd', ApiVersion: '1.51', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64' });
  if (path === '/containers/json') return json(res, 200, []);
  if (req.method === 'DELETE' && path.startsWith('/containers/')) { res.writeHead(204); return res.end(); }
  if (req.method === 'POST' && path === '/images/create') {
    const hash = crypto.createHash('sha256');
    req.on('data', (chunk) => hash.update(chunk));
    req.on('end', () => json(res, 200, { status: 'sha256:' + hash.digest('hex') }));
    return;
  }
  json(res, 404, { message: 'no such route in fake-pierd' });
});
try { fs.unlinkSync(socket); } catch {} // left by a daemon killed with SIGKILL, as pierd must do too
server.listen(socket);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const fakeDir = await mkdtemp('/tmp/pf-');
after(() => rm(fakeDir, { recursive: true, force: true }));
const fakePierd = join(fakeDir, 'fake-pierd');
await writeFile(fakePierd, FAKE_PIERD);
await chmod(fakePierd, 0o755);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ok(result: RunResult): string {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return result.stdout;
}

test('the docker CLI reaches the private daemon, and busybox is imported as a stream', async (t) => {
  const d = await startDaemon({ pierd: fakePierd });
  t.after(() => d.stop());
  assert.ok(d.socket.length < 100, d.socket);
  assert.equal(ok(await d.docker(['version', '--format', '{{.Server.Version}}'])), 'fake-pierd\n');

  const id = await importBusybox(d);
  const tar = await readFile(await busyboxTarPath());
  assert.equal(id, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
  const requests = (await readFile(join(d.root, 'requests.log'), 'utf8')).split('\n');
  const create = requests.find((line) => /^POST \/v1\.\d+\/images\/create\?/.test(line));
  assert.ok(create, requests.join('\n'));
  const query = new URLSearchParams(create.split('?')[1]);
  assert.equal(query.get('fromSrc'), '-');
  assert.equal(query.get('changes'), 'CMD ["sh"]');
  assert.equal(query.get('repo'), 'busybox:latest');

  await d.stop();
  assert.equal(existsSync(d.dir), false);
});

test('kill9 stops the daemon at once and restart brings it back on the same socket', async (t) => {
  const d = await startDaemon({ pierd: fakePierd });
  t.after(() => d.stop());
  const first = d.pid!;
  await d.kill9();
  assert.equal(d.pid, undefined);
  assert.equal(alive(first), false);
  assert.notEqual((await d.docker(['version'])).code, 0);

  await d.restart();
  assert.notEqual(d.pid, first);
  assert.equal(ok(await d.docker(['version', '--format', '{{.Server.Version}}'])), 'fake-pierd\n');
  const second = d.pid!;
  await d.restart();
  assert.equal(alive(second), false);
  assert.equal(ok(await d.docker(['version', '--format', '{{.Server.Version}}'])), 'fake-pierd\n');
});

test('a daemon that fails to start is reported with its output, and its directory removed', async () => {
  const err = await startDaemon({ pierd: fakePierd, args: ['--fail'] }).then(
    () => assert.fail('startDaemon resolved'),
    (e: unknown) => e as Error,
  );
  assert.match(err.message, /exit code 3/);
  assert.match(err.message, /fake-pierd: refusing to start/);
  const dir = /\/tmp\/pt-\w+/.exec(err.message)?.[0];
  assert.ok(dir, err.message);
  assert.equal(existsSync(dir), false);
});

test('stop() after a crash kills what containers left, unmounts and removes their cgroups', async (t) => {
  const hierarchy = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].find((h) => existsSync(join(h, 'cgroup.procs')));
  assert.ok(hierarchy, 'no cgroup hierarchy to test with');
  const id = randomBytes(32).toString('hex');
  const cgroup = join(hierarchy, `pier-test-${id}`);
  const d = await startDaemon({ pierd: fakePierd });
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) child.kill('SIGKILL');
    if (existsSync(d.dir)) await cleanUp(daemonPaths(d.dir));
    for (const dir of [join(cgroup, 'inner'), cgroup]) if (existsSync(dir)) await rmdir(dir);
  });

  // What a container leaves when pierd dies: its record, an overlay-like mount with a bind
  // mount on top, a monitor whose command line names the bundle, and a process in a cgroup
  // named after the container.
  await mkdir(join(d.root, 'containers', id), { recursive: true });
  const snapshot = join(d.root, 'snap shot');
  const rootfs = join(d.execRoot, 'containers', id, 'rootfs');
  await mkdir(snapshot);
  await mkdir(rootfs, { recursive: true });
  ok(await run('mount', ['-t', 'tmpfs', 'tmpfs', snapshot], process.env));
  await mkdir(join(snapshot, 'fs'));
  ok(await run('mount', ['--bind', join(snapshot, 'fs'), rootfs], process.env));

  await mkdir(join(cgroup, 'inner'), { recursive: true });

  const spawnDetached = (command: string, args: string[]): ChildProcess => {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' });
    children.push(child);
    return child;
  };
  const monitor = spawnDetached(process.execPath, ['-e', 'setInterval(() => {}, 1000)', join(d.execRoot, 'containers', id, 'bundle')]);
  const containerProcess = spawnDetached('sleep', ['1000']);
  await writeFile(join(cgroup, 'inner', 'cgroup.procs'), String(containerProcess.pid));
  const exits = children.map(async (child) => once(child, 'exit'));

  await d.kill9();
  assert.ok(alive(monitor.pid!) && alive(containerProcess.pid!));
  assert.equal((await mountsUnder(d.dir)).length, 2);

  await d.stop();
  const signals = (await Promise.all(exits)).map(([, signal]) => signal as string);
  assert.deepEqual(signals, ['SIGKILL', 'SIGKILL']);
  assert.deepEqual(await mountsUnder(d.dir), []);
  assert.equal(existsSync(cgroup), false);
  assert.equal(existsSync(d.dir), false);
});

test('busybox-rootfs.sh makes the same bytes every time: a root-owned busybox rootfs', async (t) => {
  const dir = await mkdtemp('/tmp/pb-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(repoRoot, 'scripts', 'busybox-rootfs.sh');
  ok(await run('bash', [script, join(dir, 'a.tar')], process.env));
  ok(await run('bash', ['-c', `bash ${script} > ${dir}/b.tar`], process.env));
  const a = await readFile(join(dir, 'a.tar'));
  assert.ok(a.equals(await readFile(join(dir, 'b.tar'))), 'two runs gave different tars');

  const entries = new Map<string, { type: string; mode: number; linkname?: string | null }>();
  const names: string[] = [];
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    assert.equal(header.uid, 0, header.name);
    assert.equal(header.gid, 0, header.name);
    assert.equal(header.mtime?.getTime(), 0, header.name);
    const name = header.name.replace(/\/$/, '');
    names.push(name);
    entries.set(name, { type: header.type ?? 'file', mode: header.mode ?? 0, linkname: header.linkname });
    stream.on('end', next);
    stream.resume();
  });
  createReadStream(join(dir, 'a.tar')).pipe(reader);
  await once(reader, 'finish');

  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(entries.get('bin/busybox'), { type: 'file', mode: 0o755, linkname: null });
  assert.equal(entries.get('bin/sh')?.linkname, 'busybox');
  assert.equal(entries.get('usr/bin/wget')?.linkname, '../../bin/busybox');
  assert.equal(entries.get('sbin/init')?.linkname, '../bin/busybox');
  assert.equal(entries.get('tmp')?.mode, 0o1777);
  assert.equal(entries.get('root')?.mode, 0o700);

  // The rootfs works as a root filesystem: its shell runs and knows its users and groups.
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs);
  ok(await run('tar', ['-xf', join(dir, 'a.tar'), '-C', rootfs], process.env));
  const out = ok(await run('chroot', [rootfs, '/bin/sh', '-c', 'echo hello; id nobody; id -gn www-data; wget --help 2>&1 | head -n 1'], process.env));
  assert.match(out, /^hello\nuid=65534\(nobody\) gid=65534\(nogroup\)/);
  assert.match(out, /\nwww-data\nBusyBox v/);
});
