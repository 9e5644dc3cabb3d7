import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchSocket, importBusybox, run, startDaemon, type Daemon } from './harness.js';
import { TWO_STAGE, twoStageIn } from './build-context.js';

/**
 * The builder through the real docker CLI (classic API: no buildx plugin here, and
 * DOCKER_BUILDKIT=0 says so explicitly), against a private pierd.
 */


describe('docker build through pierd (classic API)', () => {
  let d: Daemon;
  let work: string;
  const env = { DOCKER_BUILDKIT: '0' };
  const build = (args: string[], dir: string) => d.docker(['build', ...args, dir], { env, timeoutMs: 120_000 });

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = await mkdtemp('/tmp/pbt-');
  });
  after(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const twoStage = (name: string): Promise<string> => twoStageIn(work, name);

  test('a two-stage Dockerfile builds, runs, inspects, and rebuilds from the cache', async () => {
    const dir = await twoStage('two');
    const first = await build(['-t', 'two:1', '-t', 'two:latest'], dir);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /Step 1\/14 : ARG GREETING=hello/);
    assert.match(first.stdout, /Step 2\/14 : FROM busybox AS build\n ---> [0-9a-f]{12}\n/);
    assert.match(first.stdout, / ---> Running in [0-9a-f]{12}\nbuilt\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
    const id = /Successfully built ([0-9a-f]{12})\n/.exec(first.stdout)?.[1];
    assert.ok(id, first.stdout);
    assert.match(first.stdout, /Successfully tagged two:1\nSuccessfully tagged two:latest\n/);

    const ran = await d.docker(['run', '--rm', 'two:1']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'hello from build: the message\nfile amode=prod\n');

    type Inspect = { Id: string; Config: { Labels: Record<string, string>; ExposedPorts: Record<string, object>; Env: string[]; WorkingDir: string; Cmd: string[] } };
    const inspect = (JSON.parse((await d.docker(['image', 'inspect', 'two:1'])).stdout) as Inspect[])[0]!;
    assert.equal(inspect.Id.slice(7, 19), id);
    assert.deepEqual(inspect.Config.Labels, { 'org.example.name': 'two stage', version: '1' });
    assert.deepEqual(Object.keys(inspect.Config.ExposedPorts).sort(), ['53/udp', '8080/tcp']);
    assert.ok(inspect.Config.Env.includes('APP_HOME=/app'));
    assert.ok(inspect.Config.Env.includes('MODE=prod'));
    assert.equal(inspect.Config.WorkingDir, '/app');
    assert.deepEqual(inspect.Config.Cmd, ['sh', '-c', 'cat /app/out.txt /app/data/a.txt; echo mode=$MODE']);

    const history = await d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'two:1']);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trim().split('\n');
    assert.match(lines[0]!, /#\(nop\) {2}CMD \["sh","-c",/);
    assert.match(lines[1]!, /#\(nop\) {2}EXPOSE 8080\/tcp 53\/udp|#\(nop\) {2}EXPOSE 53\/udp 8080\/tcp/);
    assert.ok(lines.some((l) => /COPY dir:[0-9a-f]{64} in \/app\/data\//.test(l)), history.stdout);
    assert.ok(lines.some((l) => /#\(nop\) {2}WORKDIR \/app/.test(l)), history.stdout);

    // Rebuild: nothing runs, every step is cached, same image.
    const again = await build(['-t', 'two:1'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /Running in/);
    assert.equal((again.stdout.match(/ ---> Using cache\n/g) ?? []).length, 11, again.stdout);
    assert.match(again.stdout, new RegExp(`Successfully built ${id}\n`));

    // One copied file changes: the build stage is cached, the final stage reruns from `COPY data/` on.
    await writeFile(join(dir, 'data', 'a.txt'), 'file A2');
    const changed = await build(['-t', 'two:1'], dir);
    assert.equal(changed.code, 0, changed.stderr);
    const steps = changed.stdout.split(/(?=Step \d+\/14 : )/).filter((s) => s.startsWith('Step'));
    const cachedSteps = steps.filter((s) => s.includes('Using cache')).map((s) => /Step (\d+)/.exec(s)![1]);
    assert.deepEqual(cachedSteps, ['3', '4', '5', '6', '8', '9', '10'], changed.stdout);
    const ran2 = await d.docker(['run', '--rm', 'two:1']);
    assert.equal(ran2.stdout, 'hello from build: the message\nfile A2mode=prod\n');
  });

  test('--build-arg, --target and a failing RUN', async () => {
    const dir = await twoStage('args');
    // -f outside the context: the CLI sends the Dockerfile under a random name; --label adds a last step.
    const outside = join(work, 'Dockerfile.outside');
    await writeFile(outside, TWO_STAGE);
    const r = await build(['-f', outside, '--build-arg', 'GREETING=hi', '--build-arg', 'UNUSED=1', '--label', 'from=cli', '--target', 'build', '-t', 'stage:build'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Step 7\/15/);
    assert.match(r.stdout, /Step 15\/15 : LABEL "from"="cli"\n/);
    assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed\n/);
    const labels = await d.docker(['image', 'inspect', '--format', '{{json .Config.Labels}}', 'stage:build']);
    assert.equal(labels.stdout.trim(), '{"from":"cli"}');
    const out = await d.docker(['run', '--rm', 'stage:build', 'cat', '/src/out.txt']);
    assert.equal(out.stdout, 'hi from build: the message\n');

    const fail = join(work, 'fail');
    await mkdir(fail);
    await writeFile(join(fail, 'Dockerfile'), 'FROM busybox\nRUN echo before; exit 3\nRUN echo never\n');
    const before = await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'stage:build']);
    const failed = await build(['-t', 'stage:build'], fail);
    assert.equal(failed.code, 3, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /before\n/);
    assert.match(failed.stderr, /The command '\/bin\/sh -c echo before; exit 3' returned a non-zero code: 3/);
    const quiet = await build(['-q', '-t', 'stage:build'], fail);
    assert.equal(quiet.code, 3);
    assert.match(quiet.stderr, /Step 2\/3 : RUN echo before; exit 3\n[^]*before\n/, 'with -q the held-back output is shown on failure');
    const afterId = await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'stage:build']);
    assert.equal(afterId.stdout, before.stdout, 'a failed build moves no tag');
  });

  test('a syntax error names the line', async () => {
    const dir = join(work, 'syntax');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\n# comment\nRUN true \\\n  && true\nFROOM x\n');
    const r = await build(['-t', 'bad'], dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /dockerfile parse error line 5: unknown instruction: FROOM/);
  });

  test('hostile contexts stay inside the context and the image', async () => {
    const dir = join(work, 'hostile');
    await mkdir(dir);
    await symlink('/etc', join(dir, 'etc-link'));
    await writeFile(join(dir, 'ok.txt'), 'ok');
    await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', 'RUN ln -s /etc /target && mkdir -p /owned', 'COPY ../../ok.txt /owned/', 'COPY /ok.txt /target/pier-escape-test', 'COPY etc-link/hostname /from-link', 'CMD ["cat", "/etc/pier-escape-test", "/from-link"]', ''].join('\n'));
    const r = await build(['-t', 'hostile'], dir);
    // etc-link points at the context's own /etc, which does not exist: the COPY fails.
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /etc-link\/hostname/);
    await writeFile(join(dir, 'Dockerfile'), ['FROM busybox', 'RUN ln -s /etc /target && mkdir -p /owned', 'COPY ../../ok.txt /owned/', 'COPY /ok.txt /target/pier-escape-test', 'CMD ["cat", "/etc/pier-escape-test", "/owned/ok.txt"]', ''].join('\n'));
    const ok = await build(['-t', 'hostile'], dir);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    await assert.rejects(readFile('/etc/pier-escape-test'), /ENOENT/);
    const out = await d.docker(['run', '--rm', 'hostile']);
    assert.equal(out.stdout, 'okok');

    // A context tar whose entries climb out, or write through a symlink to /tmp: refused or contained.
    const evilName = `pier-evil-${process.pid}`;
    const tarDir = join(work, 'evil-tar');
    await mkdir(tarDir);
    await writeFile(join(tarDir, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\n');
    await symlink('/tmp', join(tarDir, 'tmp-link'));
    const evil = join(work, 'evil.tar');
    assert.equal((await run('tar', ['-C', tarDir, '-cf', evil, 'Dockerfile', 'tmp-link'], process.env)).code, 0);
    await writeFile(join(work, evilName), 'x');
    assert.equal((await run('tar', ['-C', work, '-rf', evil, '--transform', `s|^|tmp-link/|`, evilName], process.env)).code, 0);
    assert.equal((await run('tar', ['-C', work, '-rf', evil, '--transform', `s|^|../../../../tmp/|`, evilName], process.env)).code, 0);
    await rm(join(work, evilName));
    const post = await run('curl', ['-sS', '-w', '%{http_code}', '--unix-socket', d.socket, '-X', 'POST', '--data-binary', `@${evil}`, 'http://pier/v1.51/build?t=evil'], process.env);
    assert.match(post.stdout, /400$/, post.stdout);
    await assert.rejects(readFile(join('/tmp', evilName)), /ENOENT/);
  });

  test('independent stages build in parallel; the stream keeps Dockerfile order', async () => {
    const dir = join(work, 'parallel');
    await mkdir(dir);
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        'FROM busybox AS a',
        'RUN date +%s > /start && sleep 2 && date +%s > /end',
        'FROM busybox AS b',
        // b ends first: its block is held back until a's is written.
        'RUN date +%s > /start && sleep 1 && echo b-output && date +%s > /end',
        'FROM busybox AS unused',
        'RUN echo never-built',
        'FROM busybox',
        'COPY --from=a /start /a.start',
        'COPY --from=a /end /a.end',
        'COPY --from=b /start /b.start',
        'CMD ["sh", "-c", "cat /a.start /a.end /b.start"]',
        '',
      ].join('\n'),
    );
    const r = await build(['-t', 'par'], dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stdout, /never-built|Step 5\/11/);
    const steps = [...r.stdout.matchAll(/Step (\d+)\/11/g)].map((m) => Number(m[1]));
    assert.deepEqual(steps, [1, 2, 3, 4, 7, 8, 9, 10, 11]);
    assert.match(r.stdout, /Step 4\/11 : RUN [^\n]*\n ---> Running in [0-9a-f]{12}\nb-output\n/);
    const out = await d.docker(['run', '--rm', 'par']);
    const [aStart, aEnd, bStart] = out.stdout.trim().split('\n').map(Number);
    assert.ok(bStart! < aEnd! && aStart! <= bStart! + 1, `stage b started (${bStart}) before stage a ended (${aEnd})`);
  });

  test('the other instructions, .dockerignore, heredocs, ADD of a tar, ONBUILD', async () => {
    const dir = join(work, 'many');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'keep.txt'), 'keep');
    await writeFile(join(dir, 'secret.key'), 'do not send');
    await writeFile(join(dir, 'logs', 'a.log'), 'a');
    await writeFile(join(dir, 'logs', 'important.log'), 'important');
    await writeFile(join(dir, '.dockerignore'), '*.key\nlogs/*.log\n!logs/important.log\n');
    const tarResult = await run('tar', ['-C', dir, '-czf', join(dir, 'bundle.tar.gz'), 'keep.txt'], process.env);
    assert.equal(tarResult.code, 0, tarResult.stderr);
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        'FROM busybox AS base',
        'ONBUILD RUN echo triggered > /onbuild.txt',
        'FROM base',
        'MAINTAINER someone@example.com',
        'SHELL ["/bin/sh", "-ec"]',
        'COPY . /ctx/',
        'ADD bundle.tar.gz /unpacked/',
        'COPY --chmod=600 --chown=1:2 keep.txt /owned.txt',
        'RUN <<EOF',
        'echo from-heredoc > /heredoc.txt',
        'ls /ctx | sort | tr "\\n" " " > /ctx-list.txt',
        'EOF',
        'COPY <<greeting /greeting.txt',
        'hello $HOSTNAME_UNSET_VAR!',
        'greeting',
        'USER 1000:1000',
        'VOLUME /data',
        'STOPSIGNAL SIGUSR1',
        'HEALTHCHECK --interval=5s CMD true',
        'ENTRYPOINT ["sh", "-c"]',
        'CMD ["cat /onbuild.txt /heredoc.txt /ctx-list.txt /greeting.txt /unpacked/keep.txt; ls /ctx/logs; stat -c \'%a %u:%g\' /owned.txt; id -u"]',
        '',
      ].join('\n'),
    );
    const r = await build(['-t', 'many'], dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /# Executing 1 build trigger/);
    const out = await d.docker(['run', '--rm', 'many']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'triggered\nfrom-heredoc\nDockerfile bundle.tar.gz keep.txt logs hello !\nkeepimportant.log\n600 1:2\n1000\n');
    const inspect = (JSON.parse((await d.docker(['image', 'inspect', 'many'])).stdout) as Array<{ Author: string; Config: Record<string, unknown> }>)[0]!;
    assert.equal(inspect.Author, 'someone@example.com');
    assert.equal(inspect.Config.User, '1000:1000');
    assert.deepEqual(inspect.Config.Volumes, { '/data': {} });
    assert.equal(inspect.Config.StopSignal, 'SIGUSR1');
    assert.deepEqual(inspect.Config.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5_000_000_000 });
    assert.deepEqual(inspect.Config.Entrypoint, ['sh', '-c']);
    assert.deepEqual(inspect.Config.Shell, ['/bin/sh', '-ec']);
    assert.equal((inspect.Config.OnBuild as string[] | null | undefined)?.length ?? 0, 0, 'the triggers ran and are not inherited');
  });

  test('the cache survives a daemon restart; --no-cache, -q and --iidfile', async () => {
    const dir = join(work, 'restart');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo once > /once\nCMD ["cat", "/once"]\n');
    const first = await build(['-q', '--iidfile', join(dir, 'iid'), '-t', 'restart:1'], dir);
    assert.equal(first.code, 0, first.stderr);
    const iid = await readFile(join(dir, 'iid'), 'utf8');
    assert.match(iid, /^sha256:[0-9a-f]{64}\n$/, 'as Docker writes it with -q: the stream line');
    assert.equal(first.stdout, iid);
    await d.restart();
    const again = await build(['-t', 'restart:1'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stdout.match(/Using cache/g) ?? []).length, 2, again.stdout);
    assert.match(again.stdout, new RegExp(`Successfully built ${iid.slice(7, 19)}`));
    const fresh = await build(['--no-cache', '-t', 'restart:1'], dir);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.doesNotMatch(fresh.stdout, /Using cache/);
    assert.match(fresh.stdout, /Running in/);

    // Build containers get the build's resource limits.
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max\n');
    const limited = await build(['--no-cache', '--memory', '64m'], dir);
    assert.equal(limited.code, 0, limited.stderr);
    assert.match(limited.stdout, new RegExp(`Running in [0-9a-f]{12}\n${64 * 1024 * 1024}\n`));
  });

  test('WORKDIR creates its folder in a layer, as Docker does; an existing one adds an empty layer', async () => {
    const dir = join(work, 'workdir');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox AS s\nWORKDIR /made/here\nWORKDIR /bin\nFROM busybox\nCOPY --from=s /made /made\nCMD ["ls", "-ld", "/made/here"]\n');
    const r = await build(['-t', 'wd'], dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = await d.docker(['run', '--rm', 'wd']);
    assert.match(out.stdout, /^drwxr-xr-x\s+2 root\s+root\s.*\/made\/here\n$/);
    const history = await d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'wd']);
    assert.match(history.stdout, /COPY dir:[0-9a-f]{64} in \/made/);
    // In stage s: busybox's layer, then one for /made/here; WORKDIR /bin (exists) adds none.
    const stage = await build(['--target', 's', '-t', 'wd:s'], dir);
    assert.equal(stage.code, 0, stage.stderr);
    const layers = await d.docker(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', 'wd:s']);
    assert.equal(layers.stdout.trim(), '2');
  });

  test('docker commit and POST /commit with --change', async () => {
    const c = await d.docker(['run', '-d', 'busybox', 'sh', '-c', 'echo committed > /note; rm /bin/true; echo ready; sleep 300']);
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    for (let i = 0; i < 100 && !(await d.docker(['logs', id])).stdout.includes('ready'); i++) await new Promise((res) => setTimeout(res, 50));
    const commit = await d.docker(['commit', '--change', 'CMD ["cat", "/note"]', '--change', 'ENV NOTE=yes', id, 'committed:1']);
    assert.equal(commit.code, 0, commit.stderr);
    assert.match(commit.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const state = await d.docker(['inspect', '--format', '{{.State.Status}}', id]);
    assert.equal(state.stdout.trim(), 'running', 'the container was unpaused after the commit');
    const out = await d.docker(['run', '--rm', 'committed:1']);
    assert.equal(out.stdout, 'committed\n');
    const env2 = await d.docker(['run', '--rm', 'committed:1', 'sh', '-c', 'echo $NOTE; test -e /bin/true && echo has-true || echo no-true']);
    assert.equal(env2.stdout, 'yes\nno-true\n');
    await d.docker(['rm', '-f', id]);
  });

  test('--add-host reaches RUN steps, a step\'s stderr comes red, --cache-from takes steps only from the images named', async () => {
    const dir = join(work, 'hosts');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nENV STEP=1\nRUN grep extra.test /etc/hosts >&2\nRUN cp /etc/hosts /copied\n');
    const first = await build(['--add-host', 'extra.test:10.1.2.3', '-t', 'hosts:1'], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.stdout.includes('\x1b[91m10.1.2.3\textra.test\n\x1b[0m'), first.stdout);
    assert.match((await d.docker(['run', '--rm', 'hosts:1', 'cat', '/copied'])).stdout, /^10\.1\.2\.3\textra\.test$/m);
    const hits = (out: string): number => out.split('\n').filter((l) => l.includes('Using cache')).length;
    const none = await build(['--add-host', 'extra.test:10.1.2.3', '--cache-from', 'nosuchimage:1', '-t', 'hosts:2'], dir);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(hits(none.stdout), 0, none.stdout);
    const from = await build(['--add-host', 'extra.test:10.1.2.3', '--cache-from', 'hosts:1', '-t', 'hosts:3'], dir);
    assert.equal(from.code, 0, from.stderr);
    assert.equal(hits(from.stdout), 3, from.stdout);
    await d.docker(['rmi', 'hosts:1', 'hosts:2', 'hosts:3']);
  });

  test('--network <user network>: RUN steps join it and reach its containers by alias; an unknown network fails the build', async () => {
    assert.equal((await d.docker(['network', 'create', 'buildnet'])).code, 0);
    const peer = await d.docker(['run', '-d', '--name', 'bpeer', '--network', 'buildnet', '--network-alias', 'pingtarget.test', 'busybox', 'sleep', '300']);
    assert.equal(peer.code, 0, peer.stderr);
    const dir = join(work, 'usernet');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN ping -c1 -W5 pingtarget.test > /dev/null && echo reached\n');
    const ok = await build(['--network', 'buildnet', '--no-cache', '-t', 'usernet:1'], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^reached$/m);
    // The default network knows no such name: the same step fails there.
    const off = await build(['--no-cache', '-t', 'usernet:2'], dir);
    assert.notEqual(off.code, 0);
    const unknown = await build(['--network', 'no-such-net', '--no-cache', '-t', 'usernet:3'], dir);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /network no-such-net not found/);
    // The build containers' endpoints went with them.
    const members = JSON.parse((await d.docker(['network', 'inspect', 'buildnet'])).stdout) as Array<{ Containers: Record<string, { Name: string }> }>;
    assert.deepEqual(Object.values(members[0]!.Containers).map((c) => c.Name), ['bpeer']);
    await d.docker(['rm', '-f', 'bpeer']);
    await d.docker(['rmi', 'usernet:1']);
    assert.equal((await d.docker(['network', 'rm', 'buildnet'])).code, 0);
  });

  test('a commit as the container\'s process ends succeeds (docker-py commits right after start)', async () => {
    for (let i = 0; i < 5; i++) {
      const created = await fetchSocket(d.socket, 'POST', '/v1.45/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['touch', `/test${i}`] }));
      assert.equal(created.status, 201, created.body);
      const { Id } = JSON.parse(created.body) as { Id: string };
      assert.equal((await fetchSocket(d.socket, 'POST', `/v1.45/containers/${Id}/start`)).status, 204);
      const commit = await fetchSocket(d.socket, 'POST', `/v1.45/commit?container=${Id}&pause=True`, '{}');
      assert.equal(commit.status, 201, commit.body);
      const image = (JSON.parse(commit.body) as { Id: string }).Id;
      await fetchSocket(d.socket, 'POST', `/v1.45/containers/${Id}/wait`);
      // The layer is read wherever the process was: the image runs, with or without the file.
      const check = await d.docker(['run', '--rm', image, 'true']);
      assert.equal(check.code, 0, check.stderr);
      await d.docker(['rm', Id]);
      await d.docker(['rmi', image]);
    }
  });
});
