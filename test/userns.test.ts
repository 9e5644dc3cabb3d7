import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fetchSocket, importBusybox, startDaemon, type Daemon, type RunResult } from './harness.js';

/**
 * User namespaces as a user sees them, through the real docker CLI (and `pier run --userns`,
 * which the docker CLI does not take beyond `host`): IDs as the host sees them in
 * /proc/<pid>/status, owners of files on the host, the ranges pierd hands out and takes back.
 *
 * Each daemon takes its subordinate IDs from a user of its own (`userns-default-user`, made
 * by pierd); the clean-up deletes that user, which takes its lines of /etc/subuid and
 * /etc/subgid with it, and checks that they are gone.
 */

const exec = promisify(execFile);
const RANGE = 65536;

const ok = (r: RunResult): string => {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

/** A daemon whose root's folders a remapped root can reach (the harness makes its folder 0700). */
async function userDaemon(config: Record<string, unknown>): Promise<{ d: Daemon; user: string; cleanup: () => Promise<void> }> {
  const user = `pt-${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const d = await startDaemon({ config: { 'userns-default-user': user, ...config } });
  const cleanup = async (): Promise<void> => {
    await d.stop();
    await exec('userdel', [user]).catch((err: unknown) => {
      if (!/does not exist/.test((err as { stderr?: string }).stderr ?? '')) throw err;
    });
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      const left = (await readFile(file, 'utf8')).split('\n').filter((l) => l.startsWith(`${user}:`));
      assert.deepEqual(left, [], `${file} keeps the test user's ranges`);
    }
  };
  try {
    await chmod(d.dir, 0o711);
    await importBusybox(d);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { d, user, cleanup };
}

/** The real and effective uid and gid of a container's first process, as the host sees them. */
async function hostIds(d: Daemon, name: string): Promise<{ pid: number; uid: number; gid: number }> {
  const pid = Number(ok(await d.docker(['inspect', '-f', '{{.State.Pid}}', name])).trim());
  assert.ok(pid > 0, `${name} runs`);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { pid, uid: field('Uid'), gid: field('Gid') };
}

async function subIdLines(user: string): Promise<string[]> {
  return (await readFile('/etc/subuid', 'utf8')).split('\n').filter((l) => l.startsWith(`${user}:`));
}

describe('--userns=auto as the daemon default (default-userns-mode: auto)', () => {
  let d: Daemon;
  let user: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ d, user, cleanup } = await userDaemon({ 'default-userns-mode': 'auto' }));
  });
  after(() => cleanup?.());

  test('root inside is an unprivileged uid on the host, and the image is root\'s inside', async () => {
    ok(await d.docker(['run', '-d', '--name', 'a1', 'busybox', 'sleep', '300']));
    const ids = await hostIds(d, 'a1');
    assert.ok(ids.uid >= 100000 && ids.gid >= 100000, `host uid ${ids.uid}, gid ${ids.gid}`);
    assert.equal(ok(await d.docker(['exec', 'a1', 'id', '-u'])), '0\n');
    assert.equal(ok(await d.docker(['exec', 'a1', 'stat', '-c', '%u:%g', '/bin/busybox', '/'])), '0:0\n0:0\n');
    // The host sees the image's files owned by the container's root, not by its own root.
    assert.equal((await stat(`/proc/${ids.pid}/root/bin/busybox`)).uid, ids.uid);
    // The range comes from the subordinate IDs pierd made for its user.
    const [line] = await subIdLines(user);
    assert.ok(line, `/etc/subuid has a range of ${user}`);
    const [, start, count] = line.split(':').map(Number) as [number, number, number];
    assert.ok(ids.uid >= start && ids.uid + RANGE <= start + count, `${ids.uid} in ${line}`);
    // exec runs in the container's user namespace.
    assert.equal(ok(await d.docker(['exec', 'a1', 'readlink', '/proc/self/ns/user'])).trim(), await readlink(`/proc/${ids.pid}/ns/user`));
    assert.match(ok(await d.docker(['exec', 'a1', 'cat', '/proc/self/uid_map'])), new RegExp(`^\\s*0\\s+${ids.uid}\\s+${RANGE}\\s*$`));
    // What the container writes is its root's, which is its host uid on the host.
    ok(await d.docker(['exec', 'a1', 'sh', '-c', 'echo x > /etc/made-inside']));
    assert.equal((await stat(`/proc/${ids.pid}/root/etc/made-inside`)).uid, ids.uid);
    // The runtime gives its stdin to the container's root: the host's /dev/null never changes hands.
    const devNull = await stat('/dev/null');
    assert.deepEqual([devNull.uid, devNull.gid], [0, 0], 'the host\'s /dev/null is still root\'s');
  });

  test('a file written to a named volume is owned by the container\'s host uid', async () => {
    ok(await d.docker(['volume', 'create', 'uvol']));
    ok(await d.docker(['run', '-d', '--name', 'v1', '-v', 'uvol:/data', 'busybox', 'sh', '-c', 'echo hi > /data/f && sleep 300']));
    const ids = await hostIds(d, 'v1');
    const mountpoint = ok(await d.docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'uvol'])).trim();
    for (let i = 0; i < 100 && !(await stat(join(mountpoint, 'f')).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
    const st = await stat(join(mountpoint, 'f'));
    assert.equal(st.uid, ids.uid);
    assert.equal(st.gid, ids.gid);
    assert.equal(ok(await d.docker(['exec', 'v1', 'stat', '-c', '%u', '/data/f'])), '0\n');
  });

  test('a bind of a host folder is usable: what the host allows others, the container may', async () => {
    const dir = await mkdtemp('/tmp/pt-userns-bind-');
    try {
      await chmod(dir, 0o755);
      await writeFile(join(dir, 'in'), 'from the host\n', { mode: 0o644 });
      assert.equal(ok(await d.docker(['run', '--rm', '-v', `${dir}:/h`, 'busybox', 'cat', '/h/in'])), 'from the host\n');
      // The host's root is nobody inside: its folder is not the container's to write.
      const w = await d.docker(['run', '--rm', '-v', `${dir}:/h`, 'busybox', 'sh', '-c', 'stat -c %u /h; touch /h/new']);
      assert.notEqual(w.code, 0);
      assert.match(w.stdout, /^65534\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('docker cp into the container gives files its root owns', async () => {
    ok(await d.docker(['run', '-d', '--name', 'cp1', 'busybox', 'sleep', '300']));
    const ids = await hostIds(d, 'cp1');
    const dir = await mkdtemp('/tmp/pt-userns-cp-');
    try {
      await writeFile(join(dir, 'copied'), 'data\n');
      ok(await d.docker(['cp', join(dir, 'copied'), 'cp1:/tmp/copied']));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(ok(await d.docker(['exec', 'cp1', 'stat', '-c', '%u:%g', '/tmp/copied'])), '0:0\n');
    assert.equal((await stat(`/proc/${ids.pid}/root/tmp/copied`)).uid, ids.uid);
  });

  test('two containers get ranges that do not overlap; removed, they give them back; a pierd restart keeps them', async () => {
    ok(await d.docker(['run', '-d', '--name', 'r1', 'busybox', 'sleep', '300']));
    ok(await d.docker(['run', '-d', '--name', 'r2', 'busybox', 'sleep', '300']));
    const [a, b] = [await hostIds(d, 'r1'), await hostIds(d, 'r2')];
    assert.ok(Math.abs(a.uid - b.uid) >= RANGE, `ranges at ${a.uid} and ${b.uid}`);
    await d.restart();
    ok(await d.docker(['run', '-d', '--name', 'r3', 'busybox', 'sleep', '300']));
    const c = await hostIds(d, 'r3');
    assert.ok(Math.abs(c.uid - a.uid) >= RANGE && Math.abs(c.uid - b.uid) >= RANGE, `r3 at ${c.uid} shares nothing with ${a.uid} and ${b.uid} after the restart`);
    ok(await d.docker(['rm', '-f', 'r1', 'r2']));
    ok(await d.docker(['run', '-d', '--name', 'r4', 'busybox', 'sleep', '300']));
    const e = await hostIds(d, 'r4');
    assert.ok([a.uid, b.uid].includes(e.uid), `r4 at ${e.uid} takes a range given back (${a.uid} or ${b.uid})`);
    ok(await d.docker(['rm', '-f', 'r3', 'r4']));
  });

  test('--userns=host opts out; Docker\'s rules for what cannot share a user namespace', async () => {
    ok(await d.docker(['run', '-d', '--name', 'h1', '--userns=host', 'busybox', 'sleep', '300']));
    assert.equal((await hostIds(d, 'h1')).uid, 0);
    const priv = await d.docker(['run', '--rm', '--privileged', 'busybox', 'true']);
    assert.equal(priv.code, 125);
    assert.match(priv.stderr, /privileged mode is incompatible with user namespaces\. {2}You must run the container in the host namespace when running privileged mode/);
    ok(await d.docker(['run', '--rm', '--privileged', '--userns=host', 'busybox', 'true']));
    assert.match((await d.docker(['run', '--rm', '--network=host', 'busybox', 'true'])).stderr, /cannot share the host's network namespace when user namespaces are enabled/);
    assert.match((await d.docker(['run', '--rm', '--pid=host', 'busybox', 'true'])).stderr, /cannot share the host PID namespace when user namespaces are enabled/);
    ok(await d.docker(['run', '--rm', '--network=host', '--pid=host', '--userns=host', 'busybox', 'true']));
  });

  test('info lists name=userns', async () => {
    assert.match(ok(await d.docker(['info', '-f', '{{json .SecurityOptions}}'])), /"name=userns"/);
  });
});

describe('user namespaces per container, the daemon not remapping', () => {
  let d: Daemon;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ d, cleanup } = await userDaemon({}));
  });
  after(() => cleanup?.());

  test('containers keep the host\'s IDs; --userns=host is accepted; pier run --userns=auto remaps one', async () => {
    assert.doesNotMatch(ok(await d.docker(['info', '-f', '{{json .SecurityOptions}}'])), /name=userns/);
    ok(await d.docker(['run', '-d', '--name', 'p1', 'busybox', 'sleep', '300']));
    assert.equal((await hostIds(d, 'p1')).uid, 0);
    ok(await d.docker(['run', '--rm', '--userns=host', '--privileged', 'busybox', 'true']));
    ok(await d.pier(['run', '-d', '--name', 'p2', '--userns=auto', 'busybox', 'sleep', '300']));
    const ids = await hostIds(d, 'p2');
    assert.ok(ids.uid >= 100000, `host uid ${ids.uid}`);
    assert.equal(ok(await d.docker(['inspect', '-f', '{{.HostConfig.UsernsMode}}', 'p2'])), 'auto\n');
    assert.equal(ok(await d.docker(['exec', 'p2', 'stat', '-c', '%u', '/bin/busybox'])), '0\n');
  });

  test('a mode that is none is refused with 400', async () => {
    const r = await fetchSocket(d.socket, 'POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { UsernsMode: 'bogus' } }));
    assert.equal(r.status, 400, r.body);
    assert.match((JSON.parse(r.body) as { message: string }).message, /^invalid userns mode "bogus"/);
  });
});

describe('userns-remap: default', () => {
  let d: Daemon;
  let user: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ d, user, cleanup } = await userDaemon({ 'userns-remap': 'default' }));
  });
  after(() => cleanup?.());

  test('pierd made the user and its ranges; containers run remapped into its first range; --userns=host opts out', async () => {
    const [line] = await subIdLines(user);
    assert.ok(line, `/etc/subuid has a range of ${user}`);
    const start = Number(line.split(':')[1]);
    ok(await d.docker(['run', '-d', '--name', 'm1', 'busybox', 'sleep', '300']));
    ok(await d.docker(['run', '-d', '--name', 'm2', 'busybox', 'sleep', '300']));
    assert.equal((await hostIds(d, 'm1')).uid, start);
    assert.equal((await hostIds(d, 'm2')).uid, start);
    assert.equal(ok(await d.docker(['exec', 'm1', 'id', '-u'])), '0\n');
    ok(await d.docker(['run', '-d', '--name', 'm3', '--userns=host', 'busybox', 'sleep', '300']));
    assert.equal((await hostIds(d, 'm3')).uid, 0);
    assert.match(ok(await d.docker(['info', '-f', '{{json .SecurityOptions}}'])), /"name=userns"/);
  });
});

/** The names under the daemon's folder of chown'd layer copies (one per mapping). */
async function copyMaps(d: Daemon): Promise<string[]> {
  return (await readdir(join(d.root, 'snapshots', 'idcopies')).catch(() => [] as string[])).sort();
}

/** The lower dirs of a running container's rootfs mount, as the host's mountinfo shows them. */
async function lowerDirsOf(d: Daemon, name: string): Promise<string> {
  const upper = join(d.root, 'snapshots', 'active', ok(await d.docker(['inspect', '-f', '{{.Id}}', name])).trim(), 'upper');
  const info = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.includes(`upperdir=${upper},`));
  assert.ok(info, `${name}'s rootfs is mounted`);
  return /lowerdir=([^,]*)/.exec(info)![1]!;
}

describe('chown\'d copies of the layers (userns-layers: copy), each container its own range', () => {
  let d: Daemon;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ d, cleanup } = await userDaemon({ 'default-userns-mode': 'auto', 'userns-layers': 'copy' }));
  });
  after(() => cleanup?.());

  test('the image is root\'s inside, the range\'s on the host; writes land as the host uid; rm takes the range\'s copies', async () => {
    assert.deepEqual(await copyMaps(d), []);
    ok(await d.docker(['run', '-d', '--name', 'c1', 'busybox', 'sleep', '300']));
    const ids = await hostIds(d, 'c1');
    assert.ok(ids.uid >= 100000, `host uid ${ids.uid}`);
    assert.equal(ok(await d.docker(['exec', 'c1', 'stat', '-c', '%u:%g', '/bin/busybox', '/'])), '0:0\n0:0\n');
    assert.equal(ok(await d.docker(['exec', 'c1', 'id', '-u'])), '0\n');
    assert.equal((await stat(`/proc/${ids.pid}/root/bin/busybox`)).uid, ids.uid);
    // The layers under the container are its range's copies, not the image's own.
    const key = `${ids.uid}-${ids.gid}-${RANGE}`;
    assert.deepEqual(await copyMaps(d), [key]);
    assert.match(await lowerDirsOf(d, 'c1'), new RegExp(`^${join(d.root, 'snapshots', 'idcopies', key)}/[0-9a-f]{64}$`));
    ok(await d.docker(['exec', 'c1', 'sh', '-c', 'echo x > /etc/made-inside']));
    const made = await stat(`/proc/${ids.pid}/root/etc/made-inside`);
    assert.deepEqual([made.uid, made.gid], [ids.uid, ids.gid]);

    // Another container has a range of its own, and so copies of its own.
    ok(await d.docker(['run', '-d', '--name', 'c2', 'busybox', 'sleep', '300']));
    const other = await hostIds(d, 'c2');
    const otherKey = `${other.uid}-${other.gid}-${RANGE}`;
    assert.deepEqual(await copyMaps(d), [key, otherKey].sort());
    assert.equal(ok(await d.docker(['exec', 'c2', 'stat', '-c', '%u', '/bin/busybox'])), '0\n');

    // A stopped container keeps its copies; started again, it runs on them.
    ok(await d.docker(['stop', '-t', '0', 'c1']));
    assert.deepEqual(await copyMaps(d), [key, otherKey].sort());
    ok(await d.docker(['start', 'c1']));
    assert.equal(ok(await d.docker(['exec', 'c1', 'cat', '/etc/made-inside'])), 'x\n');

    // Removed, each takes its range's copies with it.
    ok(await d.docker(['rm', '-f', 'c1']));
    assert.deepEqual(await copyMaps(d), [otherKey]);
    ok(await d.docker(['rm', '-f', 'c2']));
    assert.deepEqual(await copyMaps(d), []);
    // A run --rm leaves none either.
    assert.equal(ok(await d.docker(['run', '--rm', 'busybox', 'stat', '-c', '%u', '/bin/busybox'])), '0\n');
    assert.deepEqual(await copyMaps(d), []);
  });
});

describe('chown\'d copies of the layers under userns-remap: one range, one copy', () => {
  let d: Daemon;
  let user: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ d, user, cleanup } = await userDaemon({ 'userns-remap': 'default', 'userns-layers': 'copy' }));
  });
  after(() => cleanup?.());

  test('every container shares the range\'s copies, which go with the last of them', async () => {
    const start = Number((await subIdLines(user))[0]!.split(':')[1]);
    ok(await d.docker(['run', '-d', '--name', 'm1', 'busybox', 'sleep', '300']));
    ok(await d.docker(['run', '-d', '--name', 'm2', 'busybox', 'sleep', '300']));
    const key = `${start}-${(await hostIds(d, 'm1')).gid}-${RANGE}`;
    assert.deepEqual(await copyMaps(d), [key]);
    assert.equal(await lowerDirsOf(d, 'm1'), await lowerDirsOf(d, 'm2'));
    assert.equal(ok(await d.docker(['exec', 'm2', 'stat', '-c', '%u', '/bin/busybox'])), '0\n');
    ok(await d.docker(['rm', '-f', 'm1']));
    assert.deepEqual(await copyMaps(d), [key], 'm2 still runs on them');
    ok(await d.docker(['rm', '-f', 'm2']));
    assert.deepEqual(await copyMaps(d), []);
  });
});
