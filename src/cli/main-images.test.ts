import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sendJson, type RecordedRequest } from '../client/fake-daemon.js';
import { main } from './main.js';
import { calls, daemon, fakeIo, now, pier } from './test-kit.js';

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
