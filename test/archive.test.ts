import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { extract } from 'tar-stream';
import { tarOf, type TarSpec } from '../src/snapshots/test-helpers.js';
import { dockerCli, importBusybox, run, startDaemon, type Daemon } from './harness.js';

/**
 * A container's files through the real docker CLI: `docker cp` both ways on running and
 * stopped containers, the containment of every path inside the container (symlinks aimed
 * at the host, hostile tars), `docker export`, `docker diff`, `docker commit` after an exec.
 */
describe('docker cp, export, diff, commit', () => {
  let d: Daemon;
  let work: string;
  /** A folder on the host with a canary: no copy may ever change it or add to it. */
  let canaryDir: string;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = await mkdtemp('/tmp/pier-cp-');
    canaryDir = join(work, 'canary-dir');
    await mkdir(canaryDir);
    await writeFile(join(canaryDir, 'canary'), 'host canary\n');
    await mkdir(join(work, 'src', 'dir', 'sub'), { recursive: true });
    await writeFile(join(work, 'src', 'file.txt'), 'hello\n');
    await writeFile(join(work, 'src', 'dir', 'a'), 'A\n');
    await writeFile(join(work, 'src', 'dir', 'sub', 'b'), 'B\n');
  });
  after(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const docker = async (...args: string[]): Promise<string> => {
    const r = await d.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  async function assertCanaryUntouched(): Promise<void> {
    assert.equal(await readFile(join(canaryDir, 'canary'), 'utf8'), 'host canary\n');
    assert.deepEqual(await readdir(canaryDir), ['canary']);
  }

  /** Mounts under the daemon's root (a stopped container's rootfs must not stay mounted after a copy). */
  function mountsUnder(dir: string): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(dir));
  }

  test('cp a file and a folder into a running container and out again', async () => {
    await docker('run', '-d', '--name', 'run1', 'busybox', 'sleep', '1000');
    await docker('cp', join(work, 'src', 'file.txt'), 'run1:/tmp/');
    await docker('cp', join(work, 'src', 'dir'), 'run1:/tmp/');
    // A folder onto a path that does not exist takes that name.
    await docker('cp', join(work, 'src', 'dir'), 'run1:/tmp/renamed');
    assert.equal(await docker('exec', 'run1', 'sh', '-c', 'cat /tmp/file.txt /tmp/dir/a /tmp/dir/sub/b /tmp/renamed/sub/b'), 'hello\nA\nB\nB\n');

    const out = join(work, 'out-running');
    await mkdir(out);
    await docker('cp', 'run1:/tmp/dir', out);
    await docker('cp', 'run1:/tmp/file.txt', join(out, 'copied.txt'));
    // What the container's own mounts show: its /etc/hostname is its own.
    await docker('cp', 'run1:/etc/hostname', join(out, 'hostname'));
    assert.equal(await readFile(join(out, 'dir', 'sub', 'b'), 'utf8'), 'B\n');
    assert.equal(await readFile(join(out, 'copied.txt'), 'utf8'), 'hello\n');
    const id = (await docker('inspect', '-f', '{{.Id}}', 'run1')).trim();
    assert.equal(await readFile(join(out, 'hostname'), 'utf8'), `${id.slice(0, 12)}\n`);
  });

  test('cp into and out of a stopped container; its rootfs is unmounted after', async () => {
    const id = (await docker('create', '--name', 'stopped1', 'busybox', 'sh', '-c', 'cat /data/file.txt /data/dir/a')).trim();
    const mkdirTar = await tarOf([{ name: 'data/', type: 'directory', mode: 0o755 }]);
    assert.equal((await putArchive('stopped1', '/', mkdirTar)).status, 200);
    await docker('cp', join(work, 'src', 'file.txt'), 'stopped1:/data/');
    await docker('cp', join(work, 'src', 'dir'), 'stopped1:/data/dir');
    assert.deepEqual(mountsUnder(join(d.root, 'containers', id)), []);
    const started = await d.docker(['start', '-a', 'stopped1']);
    assert.equal(started.stdout, 'hello\nA\n', started.stderr);
    // Exited now: out again, and still nothing left mounted.
    const out = join(work, 'out-stopped');
    await docker('cp', 'stopped1:/data', out);
    assert.equal(await readFile(join(out, 'dir', 'a'), 'utf8'), 'A\n');
    assert.deepEqual(mountsUnder(join(d.root, 'containers', id)), []);
  });

  test('a bind mount is seen as the container sees it, running or stopped; a read-only one is refused', async () => {
    const vol = join(work, 'vol');
    await mkdir(vol);
    await writeFile(join(vol, 'on-host'), 'from the host\n');
    const id = (await docker('create', '--name', 'bind1', '-v', `${vol}:/data`, '-v', `${canaryDir}:/ro:ro`, 'busybox', 'sleep', '1000')).trim();
    await docker('cp', join(work, 'src', 'file.txt'), 'bind1:/data/stopped.txt');
    assert.equal(await readFile(join(vol, 'stopped.txt'), 'utf8'), 'hello\n');
    const out = join(work, 'out-bind');
    await docker('cp', 'bind1:/data/on-host', out);
    assert.equal(await readFile(out, 'utf8'), 'from the host\n');
    const ro = await d.docker(['cp', join(work, 'src', 'file.txt'), 'bind1:/ro/']);
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /mounted volume is marked read-only/);
    assert.deepEqual(mountsUnder(join(d.root, 'containers', id)), []);
    await docker('start', 'bind1');
    await docker('cp', join(work, 'src', 'dir'), 'bind1:/data/');
    assert.equal(await readFile(join(vol, 'dir', 'sub', 'b'), 'utf8'), 'B\n');
    await assertCanaryUntouched();
    await docker('rm', '-f', 'bind1');
  });

  test('cp -a gives what it copies the container\'s user; without it the tar\'s owner stays', async () => {
    await docker('run', '-d', '--name', 'user1', '-u', 'nobody', 'busybox', 'sleep', '1000');
    await docker('cp', '-a', join(work, 'src', 'dir'), 'user1:/tmp/');
    await docker('cp', join(work, 'src', 'file.txt'), 'user1:/tmp/');
    assert.equal(await docker('exec', 'user1', 'stat', '-c', '%u:%g %n', '/tmp/dir', '/tmp/dir/sub/b', '/tmp/file.txt'), '65534:65534 /tmp/dir\n65534:65534 /tmp/dir/sub/b\n0:0 /tmp/file.txt\n');
    await docker('rm', '-f', 'user1');
  });

  test('a path ending in /. copies the folder\'s contents, both ways', async () => {
    await docker('cp', `${join(work, 'src', 'dir')}/.`, 'run1:/tmp/contents');
    assert.equal(await docker('exec', 'run1', 'ls', '-A', '/tmp/contents'), 'a\nsub\n');
    const out = join(work, 'out-dot');
    await mkdir(out);
    await writeFile(join(out, 'kept'), 'k');
    await docker('cp', 'run1:/tmp/contents/.', out);
    assert.deepEqual((await readdir(out)).sort(), ['a', 'kept', 'sub']);
  });

  test('tar on stdin and stdout (-)', async () => {
    const tar = await tarOf([{ name: 'from-stdin.txt', data: 'piped\n' }]);
    const r = await d.docker(['cp', '-', 'run1:/tmp'], { input: tar });
    assert.equal(r.code, 0, r.stderr);
    const got = await stdoutBytes(['cp', 'run1:/tmp/from-stdin.txt', '-']);
    assert.deepEqual(await tarEntries(got), [{ name: 'from-stdin.txt', type: 'file', data: 'piped\n' }]);
  });

  test('a cp aimed through a symlink to / or to .. writes inside the container only', async () => {
    const mark = `pier-escape-${randomBytes(4).toString('hex')}`;
    // Inside the container: links that would lead to the host's root if followed there, and
    // the host canary's own path, so that a copy "to the canary" has somewhere to land.
    await docker('exec', 'run1', 'sh', '-c', `mkdir -p /target ${canaryDir} && ln -s / /target/root && ln -s ../../../../.. /target/up && echo container > ${canaryDir}/canary`);
    await writeFile(join(work, mark), 'payload\n');
    await docker('cp', join(work, mark), 'run1:/target/root/');
    await docker('cp', join(work, mark), 'run1:/target/up/tmp/');
    await writeFile(join(work, 'canary'), 'overwritten\n');
    await docker('cp', join(work, 'canary'), `run1:/target/root${canaryDir}/canary`);
    await docker('cp', join(work, 'canary'), `run1:/target/up${canaryDir}/`);
    // On a stopped container too.
    await docker('create', '--name', 'stopped2', 'busybox');
    await docker('cp', join(work, mark), 'stopped2:/');
    const link = await tarOf([{ name: 'rootlink', type: 'symlink', linkname: '/' }]);
    assert.equal((await putArchive('stopped2', '/', link)).status, 200);
    await docker('cp', join(work, mark), 'stopped2:/rootlink/etc/');

    assert.equal(existsSync(`/${mark}`), false, 'nothing appears at the host\'s root');
    assert.equal(existsSync(`/tmp/${mark}`), false);
    assert.equal(existsSync(`/etc/${mark}`), false);
    await assertCanaryUntouched();
    assert.equal(await docker('exec', 'run1', 'cat', `/${mark}`, `/tmp/${mark}`, `${canaryDir}/canary`), 'payload\npayload\noverwritten\n');
    // Reading through the link reads the container's files, not the host's.
    const out = join(work, 'out-link');
    await mkdir(out);
    await docker('cp', 'run1:/target/root/etc/passwd', join(out, 'passwd'));
    assert.equal(await readFile(join(out, 'passwd'), 'utf8'), await docker('exec', 'run1', 'cat', '/etc/passwd'));
    const stopped = join(work, 'out-stopped2');
    await docker('cp', 'stopped2:/etc/', stopped);
    assert.equal(await readFile(join(stopped, mark), 'utf8'), 'payload\n');
  });

  test('a container swapping a folder for a symlink to / while it is copied into and out of never lets a copy out', async () => {
    const mark = `pier-race-${randomBytes(4).toString('hex')}`;
    // The container flips /w/dir between a folder and a link to / as fast as it can.
    await docker('run', '-d', '--name', 'race1', 'busybox', 'sh', '-c', 'mkdir -p /w/dir/etc /w/stash && echo inside > /w/dir/etc/hostname && while :; do mv /w/dir /w/stash/dir; ln -s / /w/dir; rm /w/dir; mv /w/stash/dir /w/dir; done');
    await writeFile(join(work, mark), 'raced\n');
    const hostHostname = await readFile('/etc/hostname', 'utf8');
    const out = join(work, 'race-out');
    let copiedIn = 0;
    let copiedOut = 0;
    for (let i = 0; i < 25; i++) {
      // Either copy may fail (the folder was a link, or gone, at the wrong moment): none may escape.
      if ((await d.docker(['cp', join(work, mark), 'race1:/w/dir/'])).code === 0) copiedIn++;
      const r = await d.docker(['cp', 'race1:/w/dir/etc/hostname', out]);
      if (r.code === 0) {
        copiedOut++;
        assert.notEqual(await readFile(out, 'utf8'), hostHostname, 'read the host\'s /etc/hostname');
      }
    }
    assert.equal(existsSync(`/${mark}`), false, 'a copy landed at the host\'s root');
    await assertCanaryUntouched();
    assert.ok(copiedIn > 0 && copiedOut > 0, `copies that got through: ${copiedIn} in, ${copiedOut} out`);
    await docker('rm', '-f', 'race1');
  });

  test('a hostile tar through PUT /archive stays inside the container', async () => {
    await docker('exec', 'run1', 'mkdir', '-p', '/dest');
    const mark = `pier-hostile-${randomBytes(4).toString('hex')}`;
    // ../ names climb out of the folder: refused, nothing written.
    const climbing = await putArchive('run1', '/dest', await tarOf([{ name: `../../../../../../${mark}`, data: 'evil' }]));
    assert.equal(climbing.status, 400);
    assert.match(climbing.body, /invalid entry name/);
    // An absolute name lands under the folder.
    assert.equal((await putArchive('run1', '/dest', await tarOf([{ name: `/${mark}`, data: 'abs\n' }]))).status, 200);
    // A symlink to the host's canary folder and one to /, then files through them: inside.
    const escape: TarSpec[] = [
      { name: 'esc', type: 'symlink', linkname: canaryDir },
      { name: 'esc/canary', data: 'through a symlink\n' },
      { name: 'slash', type: 'symlink', linkname: '/' },
      { name: `slash/${mark}`, data: 'slash\n' },
      { name: 'hard', type: 'link', linkname: `slash/${mark}` },
    ];
    const r = await putArchive('run1', '/dest', await tarOf(escape));
    assert.equal(r.status, 200, r.body);
    assert.equal(existsSync(`/${mark}`), false);
    await assertCanaryUntouched();
    assert.equal(await docker('exec', 'run1', 'cat', `/dest/${mark}`, `${canaryDir}/canary`, `/${mark}`, '/dest/hard'), 'abs\nthrough a symlink\nslash\nslash\n');
    // A link out of the folder for a hard link target: refused.
    const hard = await putArchive('run1', '/dest', await tarOf([{ name: 'h', type: 'link', linkname: '../../etc/shadow' }]));
    assert.equal(hard.status, 400);
    assert.match(hard.body, /invalid hardlink target/);
  });

  test('docker export lists the image\'s files and the container\'s changes', async () => {
    await docker('run', '--name', 'exp1', 'busybox', 'sh', '-c', 'echo changed > /exported-change && rm /bin/vi');
    const tarPath = join(work, 'exp1.tar');
    await docker('export', '-o', tarPath, 'exp1');
    const names = (await tarEntries(await readFile(tarPath))).map((e) => e.name);
    for (const n of ['bin/', 'bin/busybox', 'bin/sh', 'etc/', 'exported-change']) assert.ok(names.includes(n), `${n} in ${names.slice(0, 20).join(' ')}`);
    assert.ok(!names.includes('bin/vi'));
    assert.ok(!names.some((n) => n.startsWith('/') || n.startsWith('./')));
    // Through stdout as well, from a running container.
    const piped = await stdoutBytes(['export', 'run1']);
    assert.ok((await tarEntries(piped)).some((e) => e.name === 'tmp/file.txt'));
  });

  test('docker diff lists added, changed and deleted files, and none of the mount points', async () => {
    await docker('run', '--name', 'diff1', 'busybox', 'sh', '-c', 'echo new > /added && echo more >> /etc/passwd && rm /bin/vi');
    assert.equal(await docker('diff', 'diff1'), 'A /added\nC /bin\nD /bin/vi\nC /etc\nC /etc/passwd\n');
    // A container that changed nothing shows nothing (its hosts, hostname, resolv.conf and init are pier's).
    await docker('run', '--name', 'diff2', 'busybox', 'true');
    assert.equal(await docker('diff', 'diff2'), '');
  });

  test('exec, commit, run the committed image: the change is there, the mount points are not in its layer', async () => {
    await docker('run', '-d', '--name', 'commit1', 'busybox', 'sleep', '1000');
    await docker('exec', 'commit1', 'sh', '-c', 'echo committed > /marker');
    await docker('commit', 'commit1', 'committed:1');
    assert.equal(await docker('run', '--rm', 'committed:1', 'cat', '/marker'), 'committed\n');
    const saved = join(work, 'committed.tar');
    await docker('save', '-o', saved, 'committed:1');
    const layer = await lastLayerEntries(saved);
    assert.deepEqual(layer.map((e) => e.name), ['marker']);
  });

  test('bad input: Docker\'s statuses and messages', async () => {
    const missing = await d.docker(['cp', 'run1:/no/such/file', join(work, 'x')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'Error response from daemon: Could not find the file /no/such/file in container run1');
    const noContainer = await d.docker(['cp', 'nosuch:/etc/hosts', join(work, 'x')]);
    assert.equal(noContainer.code, 1);
    assert.equal(noContainer.stderr.trim(), 'Error response from daemon: No such container: nosuch');
    const head = await api('HEAD', '/containers/run1/archive?path=/nope');
    assert.equal(head.status, 404);
    const toFile = await putArchive('run1', '/etc/passwd', await tarOf([{ name: 'x', data: 'x' }]));
    assert.equal(toFile.status, 400);
    assert.equal((JSON.parse(toFile.body) as { message: string }).message, 'extraction point is not a directory');
    const toMissing = await putArchive('run1', '/no/such/dir', await tarOf([{ name: 'x', data: 'x' }]));
    assert.equal(toMissing.status, 404);
    assert.equal((JSON.parse(toMissing.body) as { message: string }).message, 'Could not find the file /no/such/dir in container run1');
    await docker('create', '--name', 'readonly1', '--read-only', 'busybox');
    const readOnly = await d.docker(['cp', join(work, 'src', 'file.txt'), 'readonly1:/tmp/']);
    assert.equal(readOnly.code, 1);
    assert.equal(readOnly.stderr.trim(), 'Error response from daemon: container rootfs is marked read-only');
    const exportMissing = await api('GET', '/containers/nosuch/export');
    assert.equal(exportMissing.status, 404);
  });

  test('the stat header, and archive-path, extract-to-dir and export events', async () => {
    const since = (Date.now() / 1000).toFixed(3);
    const head = await api('HEAD', '/containers/run1/archive?path=/tmp/file.txt');
    assert.equal(head.status, 200);
    const stat = JSON.parse(Buffer.from(head.headers['x-docker-container-path-stat'] as string, 'base64').toString()) as Record<string, unknown>;
    assert.deepEqual({ ...stat, mtime: typeof stat.mtime }, { name: 'file.txt', size: 6, mode: 0o644, mtime: 'string', linkTarget: '' });
    const link = await api('HEAD', '/containers/run1/archive?path=/target/root');
    const linkStat = JSON.parse(Buffer.from(link.headers['x-docker-container-path-stat'] as string, 'base64').toString()) as { mode: number; linkTarget: string };
    assert.equal(linkStat.linkTarget, '/');
    assert.equal(Math.floor(linkStat.mode / 2 ** 27) % 2, 1, 'ModeSymlink');
    await docker('cp', 'run1:/tmp/file.txt', join(work, 'ev.txt'));
    await docker('cp', join(work, 'ev.txt'), 'run1:/tmp/');
    await docker('export', '-o', join(work, 'ev.tar'), 'run1');
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await docker('events', '--since', since, '--until', String(until), '--filter', 'container=run1', '--format', '{{.Action}}');
    assert.deepEqual(events.trim().split('\n').filter((a) => a !== 'exec_create' && a !== 'exec_start' && !a.startsWith('exec_die')), ['archive-path', 'extract-to-dir', 'export']);
  });

  test('pier cp, diff and export do what the docker CLI does', async () => {
    await docker('run', '-d', '--name', 'pier1', 'busybox', 'sleep', '1000');
    const pier = async (...args: string[]): Promise<string> => {
      const r = await d.pier(args);
      assert.equal(r.code, 0, `pier ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await pier('cp', join(work, 'src', 'file.txt'), 'pier1:/tmp/');
    await pier('cp', join(work, 'src', 'dir'), 'pier1:/tmp/');
    await pier('cp', `${join(work, 'src', 'dir')}/.`, 'pier1:/tmp/contents');
    assert.equal(await docker('exec', 'pier1', 'find', '/tmp'), '/tmp\n/tmp/dir\n/tmp/dir/sub\n/tmp/dir/sub/b\n/tmp/dir/a\n/tmp/file.txt\n/tmp/contents\n/tmp/contents/sub\n/tmp/contents/sub/b\n/tmp/contents/a\n');
    // Out again, by both CLIs: the same trees.
    for (const [tool, out] of [['pier', join(work, 'pier-out')], ['docker', join(work, 'docker-out')]] as const) {
      await mkdir(out);
      for (const [src, dst] of [['pier1:/tmp/dir', out], ['pier1:/tmp/contents/.', join(out, 'contents')], ['pier1:/tmp/file.txt', join(out, 'f')], ['pier1:/bin/sh', join(out, 'sh-link')]]) {
        const r = await d[tool](['cp', src!, dst!]);
        assert.equal(r.code, 0, `${tool} cp ${src} ${dst}: ${r.stderr}`);
      }
      const r = await d[tool](['cp', '-L', 'pier1:/bin/sh', join(out, 'sh-followed')]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(await treeSummary(join(work, 'pier-out')), await treeSummary(join(work, 'docker-out')));
    assert.equal((await lstat(join(work, 'pier-out', 'sh-link'))).isSymbolicLink(), true);
    assert.equal((await lstat(join(work, 'pier-out', 'sh-followed'))).isFile(), true);

    assert.equal(await pier('diff', 'pier1'), await docker('diff', 'pier1'));
    await pier('export', '-o', join(work, 'pier-export.tar'), 'pier1');
    await docker('export', '-o', join(work, 'docker-export.tar'), 'pier1');
    const names = async (f: string): Promise<string[]> => (await tarEntries(await readFile(f))).map((e) => `${e.type} ${e.name}`);
    assert.deepEqual(await names(join(work, 'pier-export.tar')), await names(join(work, 'docker-export.tar')));

    // Errors in the docker CLI's words.
    for (const args of [['cp', 'pier1:/nope', join(work, 'x')], ['cp', join(work, 'src', 'dir'), 'pier1:/tmp/file.txt'], ['cp', 'pier1:/tmp/file.txt', '/nonexistent-dir/x'], ['cp', 'pier1:/tmp', 'pier1:/tmp']]) {
      const p = await d.pier(args);
      const dk = await d.docker(args);
      // (the docker CLI also logs its tar writer's complaints on the way: its last line is the error)
      assert.deepEqual([p.code, p.stderr.trim()], [dk.code, dk.stderr.trim().split('\n').at(-1)], args.join(' '));
    }
    await docker('rm', '-f', 'pier1');
  });

  /** What a docker command writes to its stdout, as bytes (through a file: the harness decodes text). */
  async function stdoutBytes(args: string[]): Promise<Buffer> {
    const out = join(work, `stdout-${randomBytes(4).toString('hex')}`);
    const quoted = args.map((a) => `'${a}'`).join(' ');
    const r = await run('sh', ['-c', `'${dockerCli}' ${quoted} > '${out}'`], d.env);
    assert.equal(r.code, 0, r.stderr);
    return readFile(out);
  }

  /** `PUT /containers/{id}/archive?path=` with a tar body, as the docker client sends it. */
  function putArchive(container: string, path: string, tar: Buffer): Promise<{ status: number; body: string }> {
    return api('PUT', `/containers/${container}/archive?path=${encodeURIComponent(path)}&noOverwriteDirNonDir=true`, tar);
  }

  function api(method: string, path: string, body?: Buffer): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: d.socket, method, path: `/v1.51${path}`, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
});

/** Each path under `dir` with its type, mode and content, for comparing two copies. */
async function treeSummary(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = join(rel, name);
      const st = await lstat(join(dir, p));
      const content = st.isFile() ? (await readFile(join(dir, p))).length : st.isSymbolicLink() ? 'link' : 'dir';
      out.push(`${p} ${(st.mode & 0o7777).toString(8)} ${content}`);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk('');
  return out;
}

interface Entry {
  name: string;
  type: string;
  data: string;
}

async function tarEntries(tar: Buffer): Promise<Entry[]> {
  const ex = extract();
  const out: Entry[] = [];
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ name: e.header.name, type: e.header.type ?? 'file', data: Buffer.concat(chunks).toString() });
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

/** The entries of the top layer of the one image in a `docker save` archive. */
async function lastLayerEntries(savedPath: string): Promise<Entry[]> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      files.set(e.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(await readFile(savedPath));
  await done;
  const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Layers: string[] }>;
  const top = manifest[0]!.Layers.at(-1)!;
  return tarEntries(files.get(top)!);
}
