import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importBusybox, run, startDaemon, type Daemon } from './harness.js';

/**
 * docker-py's high-level API (Debian's python3-docker, unchanged) against a private pierd:
 * what a Python program does with `docker.from_env()`. The script prints one JSON object of
 * what it saw; the test asserts on it. (docker-py's own integration suite, which covers the
 * low-level API, runs through bench/run-docker-py.sh.)
 */
const SCRIPT = String.raw`
import io, json, sys, tarfile, docker
client = docker.from_env()
seen = {}

# containers.run, in the foreground (output as bytes) and detached
seen['run'] = client.containers.run('busybox', ['sh', '-c', 'echo out-$((6*7))'], remove=True).decode()
c = client.containers.run('busybox', ['sleep', '300'], detach=True, name='pyc', labels={'from': 'py'})
c.reload()
seen['status'] = c.status
seen['labels'] = c.labels

# exec_run: exit code and output, with a working directory and environment
code, out = c.exec_run(['sh', '-c', 'echo $WHO in $(pwd); exit 3'], workdir='/tmp', environment={'WHO': 'py'})
seen['exec'] = [code, out.decode()]

# put_archive / get_archive
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w') as t:
    data = b'hello archive\n'
    info = tarfile.TarInfo('note.txt'); info.size = len(data); info.mode = 0o640
    t.addfile(info, io.BytesIO(data))
seen['put'] = c.put_archive('/tmp', buf.getvalue())
stream, stat = c.get_archive('/tmp/note.txt')
got = io.BytesIO(b''.join(stream))
with tarfile.open(fileobj=got) as t:
    member = t.getmember('note.txt')
    seen['get'] = [t.extractfile(member).read().decode(), oct(member.mode), stat['size']]

# images.build from a directory: the image and its build log
image, logs = client.images.build(path=sys.argv[1], tag='pybuilt:1', rm=True)
seen['build'] = [image.tags, any('Successfully built' in (l.get('stream') or '') for l in logs)]
seen['built_run'] = client.containers.run('pybuilt:1', remove=True).decode()

# volumes: create, list, use, remove
v = client.volumes.create('pyvol', labels={'k': 'v'})
seen['volume'] = [v.name, v.attrs['Driver'], [x.name for x in client.volumes.list(filters={'label': 'k=v'})]]
client.containers.run('busybox', ['sh', '-c', 'echo kept > /v/f'], volumes={'pyvol': {'bind': '/v', 'mode': 'rw'}}, remove=True)
seen['volume_read'] = client.containers.run('busybox', ['cat', '/v/f'], volumes=['pyvol:/v:ro'], remove=True).decode()

# networks: create, connect a running container, reach it by name, disconnect, remove
n = client.networks.create('pynet', driver='bridge')
n.connect(c, aliases=['server'])
srv = client.containers.run('busybox', ['sh', '-c', 'ping -c 1 -W 2 server >/dev/null && ping -c 1 -W 2 pyc >/dev/null && echo reached'], network='pynet', remove=True)
seen['network'] = srv.decode()
n.reload()
seen['network_containers'] = [x.name for x in n.containers]
n.disconnect(c)
n.remove()
seen['networks_after'] = [x.name for x in client.networks.list(names=['pynet'])]

# errors come back as docker-py's exceptions
try:
    client.containers.get('no-such-container')
except docker.errors.NotFound as e:
    seen['notfound'] = e.status_code
try:
    client.volumes.get('pyvol').remove()
    seen['volume_removed'] = True
except docker.errors.APIError as e:
    seen['volume_removed'] = str(e)

c.remove(force=True)
client.images.remove('pybuilt:1')
seen['left'] = [x.name for x in client.containers.list(all=True)]
print(json.dumps(seen))
`;

describe('docker-py high-level API against pierd', () => {
  let d: Daemon;
  let dir = '';
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    dir = await mkdtemp('/tmp/pier-py-');
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo built-by-py > /msg\nCMD ["cat", "/msg"]\n');
  });
  after(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('containers.run, exec_run, put/get_archive, images.build, volumes and networks', async () => {
    const r = await run('/usr/bin/python3', ['-c', SCRIPT, dir], d.env, { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(seen.run, 'out-42\n');
    assert.equal(seen.status, 'running');
    assert.deepEqual(seen.labels, { from: 'py' });
    assert.deepEqual(seen.exec, [3, 'py in /tmp\n']);
    assert.equal(seen.put, true);
    assert.deepEqual(seen.get, ['hello archive\n', '0o640', 14]);
    assert.deepEqual(seen.build, [['pybuilt:1'], true]);
    assert.equal(seen.built_run, 'built-by-py\n');
    assert.deepEqual(seen.volume, ['pyvol', 'local', ['pyvol']]);
    assert.equal(seen.volume_read, 'kept\n');
    assert.equal(seen.network, 'reached\n');
    assert.deepEqual(seen.network_containers, ['pyc']);
    assert.deepEqual(seen.networks_after, []);
    assert.equal(seen.notfound, 404);
    assert.equal(seen.volume_removed, true);
    assert.deepEqual(seen.left, []);
  });
});
