import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { isKind } from '../errors.js';
import { canUseCrun, controllerPath, detectCgroupLayout } from './cgroups.js';
import { OciRuntime } from './oci.js';
import { containerSpec, type ContainerSpec, type ExitStatus } from './runtime.js';

/**
 * Real containers through conmon + runc and conmon + crun (one set of cases for both), on a
 * busybox root filesystem built in a temp folder.
 * Needs root. Every container, cgroup and folder made here is removed in `after`.
 */

const execFileP = promisify(execFile);
const BUSYBOX_APPLETS = ['sh', 'echo', 'cat', 'sleep', 'true', 'id', 'env', 'ifconfig', 'stty', 'dd', 'unshare', 'ls', 'head'];

let tmp: string;
let rootfs: string;
let execRoot: string;
let cgroupParent: string;
let rt: OciRuntime;
const runtimes: OciRuntime[] = [];
const ids = new Set<string>();

function makeRootfs(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'tmp'));
  copyFileSync('/usr/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const a of BUSYBOX_APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

function newId(): string {
  const id = `t${randomBytes(8).toString('hex')}`;
  ids.add(id);
  return id;
}

function spec(id: string, args: string[], over: Partial<ContainerSpec> = {}): ContainerSpec {
  return containerSpec({ id, rootfs, args, shmSize: 0, ...over });
}

function logPath(id: string): string {
  return join(tmp, 'logs', `${id}.log`);
}

async function collect(r: Readable): Promise<string> {
  let s = '';
  for await (const chunk of r) s += String(chunk);
  return s;
}

function waitExit(runtime: OciRuntime, id: string, ms = 10_000): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cancel();
      reject(new Error(`no exit of ${id} within ${ms} ms`));
    }, ms);
    const cancel = runtime.watchExit(id, (st) => {
      clearTimeout(timer);
      resolve(st);
    });
  });
}

/** create → attach → start, then the output and the exit. */
async function run(s: ContainerSpec, stdin?: string): Promise<{ stdout: string; stderr: string; exit: ExitStatus }> {
  await rt.create(s, logPath(s.id));
  const streams = await rt.attach(s.id);
  const out = collect(streams.stdout);
  const err = collect(streams.stderr);
  await rt.start(s.id);
  if (stdin !== undefined) streams.stdin.end(stdin);
  const [stdout, stderr, exit] = await Promise.all([out, err, waitExit(rt, s.id)]);
  streams.close();
  return { stdout, stderr, exit };
}

before(() => {
  tmp = mkdtempSync('/tmp/prt-');
  rootfs = join(tmp, 'rootfs');
  execRoot = join(tmp, 'x');
  mkdirSync(join(tmp, 'logs'));
  makeRootfs(rootfs);
  cgroupParent = `pier-test-${randomBytes(4).toString('hex')}`;
});

after(async () => {
  for (const r of runtimes) {
    for (const id of ids) {
      try {
        await r.delete(id, { force: true });
      } catch (err) {
        console.error(`clean-up of ${id}:`, err);
      }
    }
    await r.drain();
  }
  // runc removes each container's cgroup, not the parent made for this test.
  const root = '/sys/fs/cgroup';
  for (const c of readdirSync(root)) {
    const dir = join(root, c, cgroupParent);
    if (existsSync(dir)) rmdirSync(dir);
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('auto picks crun where it can run (every layout pier knows), runc otherwise', () => {
  const auto = new OciRuntime({ execRoot: join(tmp, 'auto'), runtime: 'auto', cgroupParent });
  const verdict = canUseCrun(detectCgroupLayout());
  assert.equal(verdict.ok, true);
  assert.equal(auto.name, 'crun');
  assert.match(auto.reason, /crun/);
});

/** One set of cases, every runtime (containerd's snapshots testsuite pattern). */
for (const runtime of ['runc', 'crun'] as const) describe(`OciRuntime with ${runtime}`, () => {
  before(() => {
    execRoot = join(tmp, `x-${runtime}`);
    rt = new OciRuntime({ execRoot, runtime, cgroupParent });
    runtimes.push(rt);
  });

  test('init checks the binaries and makes the state folders', async () => {
    await rt.init();
    assert.ok(existsSync(join(execRoot, 'containers')));
    assert.ok(existsSync(join(execRoot, 'runtime-root')));
  });

  test('stdout and stderr arrive apart, the exit code is reported, the log has the lines', async () => {
    const id = newId();
    const { stdout, stderr, exit } = await run(spec(id, ['sh', '-c', 'echo hello; echo err >&2; exit 7']));
    assert.equal(stdout, 'hello\n');
    assert.equal(stderr, 'err\n');
    assert.equal(exit.exitCode, 7);
    assert.equal(exit.oomKilled, false);
    assert.ok(Date.now() - exit.finishedAt.getTime() < 60_000);
    assert.deepEqual(await rt.exitStatus(id), exit);
    assert.deepEqual(await rt.state(id), { status: 'stopped', pid: 0 });

    const lines = readFileSync(logPath(id), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 2);
    const ts = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) /;
    assert.match(lines[0]!, ts);
    assert.ok(lines.some((l) => / stdout F hello$/.test(l)));
    assert.ok(lines.some((l) => / stderr F err$/.test(l)));

    // watchExit on an exited container fires at once.
    assert.equal((await waitExit(rt, id, 2000)).exitCode, 7);
    // conmon removed its attach socket when it exited.
    await assert.rejects(rt.attach(id), (e: Error) => isKind(e, 'conflict'));
    await assert.rejects(rt.resize(id, 10, 10), (e: Error) => isKind(e, 'conflict'));
    await rt.delete(id);
    await rt.delete(id); // idempotent, also while its files go
    await rt.drain();
    assert.equal(existsSync(rt.containerDir(id)), false);
  });

  test('stdin piped to cat comes back and its end ends cat', async () => {
    const id = newId();
    const text = 'line one\nline two\n' + 'x'.repeat(100_000) + '\n';
    const { stdout, exit } = await run(spec(id, ['cat'], { openStdin: true, stdinOnce: true }), text);
    assert.equal(stdout.length, text.length);
    assert.equal(stdout, text);
    assert.equal(exit.exitCode, 0);
  });

  test('20 MB of output arrives whole through a reader that stalls', async () => {
    const id = newId();
    await rt.create(spec(id, ['head', '-c', '20000000', '/dev/zero']), logPath(id));
    const streams = await rt.attach(id);
    streams.stdout.pause();
    await rt.start(id);
    // conmon blocks on the full socket meanwhile: the container cannot finish.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await rt.exitStatus(id), undefined);
    let bytes = 0;
    let nonZero = 0;
    for await (const chunk of streams.stdout as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (const b of chunk) if (b !== 0) nonZero++;
    }
    assert.equal(bytes, 20_000_000);
    assert.equal(nonZero, 0);
    assert.equal((await waitExit(rt, id)).exitCode, 0);
  });

  test('without StdinOnce, ending the input of one client leaves stdin open', async () => {
    const id = newId();
    await rt.create(spec(id, ['cat'], { openStdin: true, stdinOnce: false }), logPath(id));
    const first = await rt.attach(id);
    await rt.start(id);
    const echoed = new Promise<string>((resolve) => first.stdout.once('data', (d: Buffer) => resolve(String(d))));
    first.stdin.end('ping\n');
    assert.equal(await echoed, 'ping\n');
    first.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await rt.state(id)).status, 'running');
    // A second client still reaches cat.
    const second = await rt.attach(id);
    const again = new Promise<string>((resolve) => second.stdout.once('data', (d: Buffer) => resolve(String(d))));
    second.stdin.write('pong\n');
    assert.equal(await again, 'pong\n');
    second.close();
    await rt.delete(id, { force: true });
  });

  test('a missing command fails create with the runtime message', async () => {
    const id = newId();
    await assert.rejects(rt.create(spec(id, ['/nonexistent']), logPath(id)), (err: Error) => {
      assert.ok(isKind(err, 'invalid'), String(err));
      assert.match(err.message, /nonexistent.*no such file or directory|executable file not found/);
      return true;
    });
    await rt.delete(id);
  });

  test('an unknown user is refused, nobody runs as 65534 with HOME from passwd', async () => {
    const bad = newId();
    await assert.rejects(rt.create(spec(bad, ['true'], { user: 'nosuch' }), logPath(bad)), (err: Error) => {
      assert.ok(isKind(err, 'invalid'));
      assert.equal(err.message, 'unable to find user nosuch: no matching entries in passwd file');
      return true;
    });
    await rt.delete(bad);
    const id = newId();
    const { stdout } = await run(spec(id, ['sh', '-c', 'id -u; id -g; echo $HOME'], { user: 'nobody' }));
    assert.equal(stdout, '65534\n65534\n/nonexistent\n');
  });

  test('a new network namespace has only lo', async () => {
    const id = newId();
    const { stdout } = await run(spec(id, ['cat', '/proc/net/dev']));
    const ifaces = stdout.split('\n').slice(2).filter((l) => l.trim() !== '').map((l) => l.split(':')[0]!.trim());
    assert.deepEqual(ifaces, ['lo']);
    const host = newId();
    const hostOut = await run(spec(host, ['cat', '/proc/net/dev'], { network: { netns: { kind: 'host' } } }));
    const hostIfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).filter((l) => l.trim() !== '').length;
    assert.equal(hostOut.stdout.split('\n').slice(2).filter((l) => l.trim() !== '').length, hostIfaces);
  });

  test('memory and pids limits are in the container cgroup', async () => {
    const id = newId();
    await rt.create(spec(id, ['sleep', '30'], { resources: { memory: 64 * 1024 * 1024, pidsLimit: 50, cpuShares: 512 } }), logPath(id));
    const layout = detectCgroupLayout();
    const cg = rt.cgroupsPath(id);
    const mem = controllerPath(layout, 'memory', cg);
    if (layout.mode === 'v2') {
      assert.equal(readFileSync(join(mem, 'memory.max'), 'utf8').trim(), String(64 * 1024 * 1024));
      assert.equal(readFileSync(join(mem, 'pids.max'), 'utf8').trim(), '50');
    } else {
      assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
      assert.equal(readFileSync(join(controllerPath(layout, 'pids', cg), 'pids.max'), 'utf8').trim(), '50');
      assert.equal(readFileSync(join(controllerPath(layout, 'cpu', cg), 'cpu.shares'), 'utf8').trim(), '512');
    }
    await rt.start(id);
    // Until runc's init (a threaded Go process) has exec'd sleep, it counts several tasks.
    let stats = await rt.stats(id);
    for (const deadline = Date.now() + 3000; stats.pids.current !== 1 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 10));
      stats = await rt.stats(id);
    }
    assert.equal(stats.memory.limit, 64 * 1024 * 1024);
    assert.equal(stats.pids.limit, 50);
    assert.equal(stats.pids.current, 1);
    assert.ok((stats.memory.usage ?? 0) > 0);
    await rt.delete(id, { force: true });
    await rt.drain();
    assert.equal(existsSync(mem), false);
  });

  test('a TTY starts with the size of the spec and takes a resize through the control fifo; output arrives on stdout', async () => {
    const id = newId();
    // The second size is printed once it differs from the first (for at most 5 s).
    const script = 'stty size; i=0; while [ "$(stty size)" = "20 60" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; stty size; echo to-err >&2';
    await rt.create(spec(id, ['sh', '-c', script], { tty: true, consoleSize: { height: 20, width: 60 } }), logPath(id));
    const streams = await rt.attach(id);
    const out = collect(streams.stdout);
    const err = collect(streams.stderr);
    // Resized once the first size is out.
    let seen = '';
    const firstSize = new Promise<void>((resolve) => {
      streams.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('\n')) resolve();
      });
    });
    await rt.start(id);
    await firstSize;
    await rt.resize(id, 33, 101);
    const exit = await waitExit(rt, id);
    assert.equal(exit.exitCode, 0);
    assert.equal(await out, '20 60\r\n33 101\r\nto-err\r\n');
    assert.equal(await err, '');
  });

  test('SIGKILL gives 137; SIGTERM through the init gives 143', async () => {
    const plain = newId();
    await rt.create(spec(plain, ['sleep', '60']), logPath(plain));
    await rt.start(plain);
    assert.equal((await rt.state(plain)).status, 'running');
    await rt.kill(plain, 'SIGKILL');
    assert.equal((await waitExit(rt, plain)).exitCode, 137);
    await assert.rejects(rt.kill(plain, 'TERM'), (e: Error) => isKind(e, 'conflict'));

    const withInit = newId();
    const { pid } = await rt.create(spec(withInit, ['sleep', '60'], { init: true }), logPath(withInit));
    await rt.start(withInit);
    // tini forwards signals once it runs its child; a signal before that is lost (PID 1
    // ignores what it has no handler for), as under Docker.
    const children = `/proc/${pid}/task/${pid}/children`;
    const deadline = Date.now() + 5000;
    while (readFileSync(children, 'utf8').trim() === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await rt.kill(withInit, 15);
    assert.equal((await waitExit(rt, withInit)).exitCode, 143);
  });

  test('removeLeftovers deletes exited containers without a record and leaves running ones', async () => {
    const exited = newId();
    await run(spec(exited, ['true']));
    const running = newId();
    await rt.create(spec(running, ['sleep', '60']), logPath(running));
    await rt.start(running);
    const kept = newId();
    await run(spec(kept, ['true']));
    await rt.removeLeftovers(new Set([kept]));
    await rt.drain();
    assert.equal(existsSync(rt.containerDir(exited)), false);
    assert.equal((await rt.state(running)).status, 'running');
    assert.equal((await rt.state(kept)).status, 'stopped');
    await rt.delete(running, { force: true });
    await rt.delete(kept);
  });

  test('pause and resume', async () => {
    const id = newId();
    await rt.create(spec(id, ['sleep', '60']), logPath(id));
    assert.equal((await rt.state(id)).status, 'created');
    await rt.start(id);
    await rt.pause(id);
    assert.equal((await rt.state(id)).status, 'paused');
    await rt.resume(id);
    assert.equal((await rt.state(id)).status, 'running');
    await assert.rejects(rt.delete(id), (e: Error) => isKind(e, 'conflict'));
    await rt.delete(id, { force: true });
    await assert.rejects(rt.state(id), (e: Error) => isKind(e, 'notFound'));
    await rt.drain();
    assert.equal(existsSync(rt.containerDir(id)), false);
    await assert.rejects(rt.state(id), (e: Error) => isKind(e, 'notFound'));
  });

  test('an OOM kill is reported', async () => {
    const id = newId();
    const { exit } = await run(
      spec(id, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], { resources: { memory: 16 * 1024 * 1024, memorySwap: 16 * 1024 * 1024 } }),
    );
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.oomKilled, true);
  });

  test('the default seccomp profile denies new namespaces; unconfined allows them', async () => {
    const id = newId();
    const denied = await run(spec(id, ['unshare', '-U', 'true']));
    assert.notEqual(denied.exit.exitCode, 0);
    assert.match(denied.stderr, /Operation not permitted/);
    const id2 = newId();
    const allowed = await run(spec(id2, ['unshare', '-U', 'true'], { seccomp: 'unconfined' }));
    assert.equal(allowed.exit.exitCode, 0, allowed.stderr);
  });

  test('a container outlives the process that started it and is found again', async () => {
    const id = newId();
    // A separate node process plays pierd: it creates and starts the container, then exits.
    const script = `
      import { OciRuntime } from ${JSON.stringify(new URL(import.meta.url.endsWith('.ts') ? './oci.ts' : './oci.js', import.meta.url).href)};
      const rt = new OciRuntime({ execRoot: ${JSON.stringify(execRoot)}, runtime: 'runc', cgroupParent: ${JSON.stringify(cgroupParent)} });
      const s = JSON.parse(process.argv[1]);
      const c = await rt.create(s, ${JSON.stringify(logPath(id))});
      await rt.start(s.id);
      console.log(JSON.stringify(c));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(spec(id, ['sh', '-c', 'echo started; exec sleep 60'], { init: true }))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out = await collect(child.stdout);
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
    const created = JSON.parse(out) as { pid: number; conmonPid: number };

    // "pierd" is gone; a new runtime on the same exec root finds the container running.
    const again = new OciRuntime({ execRoot, runtime: 'runc', cgroupParent });
    const st = await again.state(id);
    assert.equal(st.status, 'running');
    assert.equal(st.pid, created.pid);
    assert.ok(existsSync(`/proc/${created.conmonPid}`));
    assert.equal(await again.exitStatus(id), undefined);
    // It logs with no one attached (conmon may still be writing when the script is done).
    const deadline = Date.now() + 5000;
    while (!/ stdout F started\n/.test(readFileSync(logPath(id), 'utf8')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(readFileSync(logPath(id), 'utf8'), / stdout F started\n/);

    const exited = waitExit(again, id);
    await again.kill(id, 'SIGTERM');
    assert.equal((await exited).exitCode, 143);
    await again.delete(id);
  });

  test('exec: output apart, exit code, stdin, user, TTY resize, detached, failures', async () => {
    const id = newId();
    await rt.create(spec(id, ['sleep', '60'], { init: true, env: ['FROM_CONTAINER=1'] }), logPath(id));
    await rt.start(id);
    const base = { env: ['FROM_CONTAINER=1'], cwd: '', user: '', tty: false, openStdin: false, attach: true };

    const a = await rt.exec(id, { ...base, args: ['sh', '-c', 'echo out $FROM_CONTAINER $HOME; echo err >&2; exit 3'] });
    assert.ok(a.pid > 0);
    const [out, err, exit] = await Promise.all([collect(a.streams!.stdout), collect(a.streams!.stderr), a.exited]);
    assert.equal(out, 'out 1 /root\n');
    assert.equal(err, 'err\n');
    assert.deepEqual(exit, { exitCode: 3 });

    const c = await rt.exec(id, { ...base, args: ['cat'], openStdin: true });
    const echoed = collect(c.streams!.stdout);
    c.streams!.stdin.end('through cat\n');
    assert.equal(await echoed, 'through cat\n');
    assert.equal((await c.exited).exitCode, 0);

    const u = await rt.exec(id, { ...base, args: ['id', '-u'], user: 'nobody' });
    assert.equal(await collect(u.streams!.stdout), '65534\n');

    const t = await rt.exec(id, { ...base, args: ['sh', '-c', 'sleep 0.3; stty size'], tty: true });
    await t.resize(40, 120);
    assert.equal(await collect(t.streams!.stdout), '40 120\r\n');
    assert.equal((await t.exited).exitCode, 0);

    const d = await rt.exec(id, { ...base, args: ['sh', '-c', 'echo detached > /tmp/mark'], attach: false });
    assert.equal(d.streams, undefined);
    assert.equal((await d.exited).exitCode, 0);
    const check = await rt.exec(id, { ...base, args: ['cat', '/tmp/mark'] });
    assert.equal(await collect(check.streams!.stdout), 'detached\n');

    await assert.rejects(rt.exec(id, { ...base, args: ['nosuchcmd'] }), (e: Error) => {
      assert.ok(isKind(e, 'invalid'), String(e));
      assert.match(e.message, /executable file not found/);
      return true;
    });
    // Sessions leave nothing behind.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(readdirSync(join(rt.containerDir(id), 'exec')), []);

    await rt.kill(id, 'KILL');
    await waitExit(rt, id);
    await assert.rejects(rt.exec(id, { ...base, args: ['true'] }), (e: Error) => isKind(e, 'conflict'));
  });

});

test('raw runc sanity: the runtime root is private to the exec root', async () => {
  const { stdout } = await execFileP('/usr/sbin/runc', [`--root=${join(tmp, 'x-runc', 'runtime-root')}`, 'list', '-q']);
  for (const id of stdout.split('\n').filter((l) => l !== '')) assert.ok(ids.has(id), `unexpected container ${id}`);
});
