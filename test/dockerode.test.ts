import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Docker from 'dockerode';
import { extract, pack } from 'tar-stream';
import { importBusybox, startDaemon, type Daemon } from './harness.js';
import { startRegistry, type Registry } from './registry.js';

/** One JSON message of a progress stream (build, pull, push), as docker-modem parses it. */
interface Progress {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** dockerode (npm), unchanged, against pierd: what Node programs and testcontainers do with it. */
describe('dockerode against pierd', () => {
  let d: Daemon;
  let docker: Docker;
  let reg: Registry | undefined;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    docker = new Docker({ socketPath: d.socket });
  });
  after(async () => {
    try {
      await d?.stop();
    } finally {
      await reg?.stop();
    }
  });

  /** Every message of a progress stream, through docker-modem's followProgress, in order. */
  const follow = (stream: NodeJS.ReadableStream): Promise<Progress[]> =>
    new Promise((resolve, reject) => {
      const seen: Progress[] = [];
      docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve(seen)),
        (event: Progress) => seen.push(event),
      );
    });

  /** Run `cmd` in a new busybox-based container of `image` and give what it printed (and remove it). */
  const output = async (image: string, cmd: string[], extra: Docker.ContainerCreateOptions = {}): Promise<{ code: number; out: string }> => {
    const c = await docker.createContainer({ Image: image, Cmd: cmd, ...extra });
    try {
      await c.start();
      const waited = (await c.wait()) as { StatusCode: number };
      const logs = await c.logs({ stdout: true, stderr: true, follow: false });
      return { code: waited.StatusCode, out: demuxed(logs) };
    } finally {
      await c.remove({ force: true });
    }
  };

  /** Split a multiplexed stream into its stdout and stderr text. */
  const demux = async (stream: NodeJS.ReadableStream): Promise<{ out: string; err: string }> => {
    const out = new PassThrough();
    const err = new PassThrough();
    const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
    out.on('data', (c: Buffer) => chunks.out.push(c));
    err.on('data', (c: Buffer) => chunks.err.push(c));
    docker.modem.demuxStream(stream, out, err);
    await new Promise((resolve) => stream.on('end', resolve));
    return { out: Buffer.concat(chunks.out).toString(), err: Buffer.concat(chunks.err).toString() };
  };

  test('create, attach with stdin, start, wait, logs, remove', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'read line; echo "got $line"; echo warn >&2; exit 4'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const output = demux(stream);
    await c.start();
    stream.end('hello pier\n');
    const waited = (await c.wait()) as { StatusCode: number };
    assert.equal(waited.StatusCode, 4);
    const { out, err } = await output;
    // The attach options dockerode sends as a JSON body never reach the container's stdin.
    assert.equal(out, 'got hello pier\n');
    assert.equal(err, 'warn\n');
    const logs = await c.logs({ stdout: true, stderr: true, follow: false });
    assert.match(logs.toString('latin1'), /got hello pier/);
    const list = await docker.listContainers({ all: true });
    assert.ok(list.some((x) => x.Id === c.id && x.State === 'exited'));
    await c.remove();
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('exec with output and exit code, and its inspect', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'] });
    await c.start();
    const exec = await c.exec({ Cmd: ['sh', '-c', 'echo from exec; exit 2'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const { out } = await demux(stream);
    assert.equal(out, 'from exec\n');
    const info = await exec.inspect();
    assert.equal(info.ExitCode, 2);
    assert.equal(info.Running, false);
    // An exec created with a terminal runs on one even when its start asks for a framed stream
    // (docker-py's exec_start sends Tty false): the terminal's line endings, in stdout frames.
    const tty = await c.exec({ Cmd: ['sh', '-c', 'echo out; echo err >&2; tty -s && echo on-a-tty'], Tty: true, AttachStdout: true, AttachStderr: true });
    const framed = await demux(await tty.start({ hijack: true, stdin: false, Tty: false }));
    assert.deepEqual(framed, { out: 'out\r\nerr\r\non-a-tty\r\n', err: '' });
    await c.remove({ force: true });
  });

  test('events, networks and images', async () => {
    const events = await docker.getEvents({ filters: { type: ['network'] } });
    const seen = new Promise<string>((resolve) => {
      events.on('data', (chunk: Buffer) => {
        const e = JSON.parse(chunk.toString().split('\n')[0]!) as { Action: string; Actor: { Attributes: { name: string } } };
        if (e.Action === 'create' && e.Actor.Attributes.name === 'dnet') resolve(e.Action);
      });
    });
    const net = await docker.createNetwork({ Name: 'dnet' });
    assert.equal(await seen, 'create');
    (events as unknown as { destroy(): void }).destroy();
    const info = await net.inspect();
    assert.equal(info.Name, 'dnet');
    assert.deepEqual(info.Options, {});
    await net.remove();
    const images = await docker.listImages();
    assert.ok(images.some((i) => (i.RepoTags ?? []).includes('busybox:latest')));
  });

  test('putArchive a tar into a container, infoArchive and getArchive it back', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'] });
    try {
      await c.start();
      const p = pack();
      p.entry({ name: 'conf/', type: 'directory', mode: 0o750 });
      p.entry({ name: 'conf/app.txt', mode: 0o640 }, 'put by dockerode\n');
      p.entry({ name: 'conf/link', type: 'symlink', linkname: 'app.txt' });
      p.finalize();
      await c.putArchive(p.pipe(new PassThrough()), { path: '/tmp' });

      const exec = await c.exec({ Cmd: ['sh', '-c', 'cat /tmp/conf/link; stat -c "%a %U" /tmp/conf /tmp/conf/app.txt'], AttachStdout: true, AttachStderr: true });
      const { out } = await demux(await exec.start({ hijack: true, stdin: false }));
      assert.equal(out, 'put by dockerode\n750 root\n640 root\n');

      // HEAD: the path's stat, base64 JSON in X-Docker-Container-Path-Stat.
      const head = (await c.infoArchive({ path: '/tmp/conf/app.txt' })) as unknown as { statusCode: number; headers: Record<string, string> };
      assert.equal(head.statusCode, 200);
      const stat = JSON.parse(Buffer.from(head.headers['x-docker-container-path-stat']!, 'base64').toString()) as { name: string; size: number; mode: number };
      assert.deepEqual({ name: stat.name, size: stat.size, perm: stat.mode & 0o777 }, { name: 'app.txt', size: 17, perm: 0o640 });

      const files = await untar(await c.getArchive({ path: '/tmp/conf' }));
      assert.deepEqual([...files.keys()].sort(), ['conf/', 'conf/app.txt', 'conf/link']);
      assert.deepEqual(files.get('conf/app.txt'), { type: 'file', mode: 0o640, text: 'put by dockerode\n' });
      assert.deepEqual(files.get('conf/link'), { type: 'symlink', mode: 0o777, text: '', linkname: 'app.txt' });

      await assert.rejects(c.getArchive({ path: '/tmp/nothing-here' }), (e: { statusCode?: number }) => e.statusCode === 404);
      const again = pack();
      again.entry({ name: 'x' }, 'x');
      again.finalize();
      await assert.rejects(c.putArchive(again.pipe(new PassThrough()), { path: '/no/such/dir' }), (e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await c.remove({ force: true });
    }
  });

  test('buildImage from a tar stream, its progress followed, the image run; a failing RUN ends in an error message', async () => {
    const context = (dockerfile: string) => {
      const p = pack();
      p.entry({ name: 'Dockerfile' }, dockerfile);
      p.entry({ name: 'greeting.txt' }, 'built by dockerode\n');
      p.finalize();
      return p.pipe(new PassThrough());
    };
    const events = await follow(
      await docker.buildImage(context('FROM busybox\nCOPY greeting.txt /greeting.txt\nRUN echo "run step" && cat /greeting.txt > /out\nCMD ["cat", "/out"]\n'), { t: 'dode-built:1' }),
    );
    const text = events.map((e) => e.stream ?? '').join('');
    assert.match(text, /^Step 1\/4 : FROM busybox\n/);
    assert.match(text, /Step 3\/4 : RUN echo "run step" && cat \/greeting.txt > \/out\n/);
    assert.match(text, /\nrun step\n/);
    assert.match(text, /Successfully tagged dode-built:1\n$/);
    assert.equal(events.filter((e) => e.error !== undefined).length, 0);
    const id = events.find((e) => e.aux?.ID)?.aux?.ID;
    assert.match(id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal((await docker.getImage('dode-built:1').inspect()).Id, id);
    assert.deepEqual(await output('dode-built:1', []), { code: 0, out: 'built by dockerode\n' });

    const failed = await follow(await docker.buildImage(context('FROM busybox\nRUN echo failing; exit 3\n'), { t: 'dode-failed:1' }));
    const last = failed.at(-1)!;
    assert.match(last.error ?? '', /returned a non-zero code: 3/);
    assert.equal(last.errorDetail?.message, last.error);
    await assert.rejects(docker.getImage('dode-failed:1').inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('push to and pull from a loopback registry with their progress; the image runs', async () => {
    reg = await startRegistry();
    const name = `${reg.host}/dode/greeter:1`;
    // An image with a layer of its own above busybox's (committed), pushed, then removed here.
    const base = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo pulled by dockerode > /greeting'] });
    await base.start();
    await base.wait();
    await base.commit({ repo: `${reg.host}/dode/greeter`, tag: '1', changes: ['CMD ["cat", "/greeting"]'] });
    await base.remove();
    // dockerode sends the credentials as X-Registry-Auth (here none: the registry is anonymous).
    const pushed = await follow(await docker.getImage(name).push({ authconfig: { serveraddress: reg.host } }));
    assert.equal(pushed.filter((e) => e.error !== undefined).length, 0, JSON.stringify(pushed));
    assert.equal(pushed[0]?.status, `The push refers to repository [${reg.host}/dode/greeter]`);
    assert.equal(pushed.filter((e) => e.status === 'Pushed').length, 2, JSON.stringify(pushed));
    const aux = pushed.find((e) => e.aux?.Digest)?.aux;
    assert.equal(aux?.Tag, '1');
    assert.match(aux?.Digest ?? '', /^sha256:[0-9a-f]{64}$/);
    await docker.getImage(name).remove();
    await assert.rejects(docker.getImage(name).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);

    const events = await follow(await docker.pull(name));
    assert.equal(events.filter((e) => e.error !== undefined).length, 0, JSON.stringify(events));
    const statuses = events.map((e) => (e.id ? `${e.id}: ${e.status}` : e.status));
    assert.equal(statuses[0], '1: Pulling from dode/greeter');
    // busybox's layer is here already; the committed one is downloaded, with byte counts.
    assert.ok(statuses.some((s) => /^[0-9a-f]{12}: Already exists$/.test(s ?? '')), statuses.join('\n'));
    assert.ok(statuses.some((s) => /^[0-9a-f]{12}: Pull complete$/.test(s ?? '')), statuses.join('\n'));
    assert.ok(events.some((e) => e.status === 'Downloading' && (e.progressDetail?.total ?? 0) > 0), statuses.join('\n'));
    assert.ok(statuses.includes(`Digest: ${aux?.Digest ?? '?'}`), statuses.join('\n'));
    assert.equal(statuses.at(-1), `Status: Downloaded newer image for ${name}`);

    const image = await docker.getImage(name).inspect();
    assert.ok(image.RepoTags.includes(name));
    assert.ok(image.RepoDigests.some((r) => r.startsWith(`${reg!.host}/dode/greeter@sha256:`)));
    assert.deepEqual(await output(name, []), { code: 0, out: 'pulled by dockerode\n' });

    // Pulled again: nothing to do, and it says so.
    const again = (await follow(await docker.pull(name))).map((e) => e.status);
    assert.equal(again.at(-1), `Status: Image is up to date for ${name}`);
    // A tag the registry has not: an HTTP 404 before any progress, as Docker answers.
    await assert.rejects(docker.pull(`${reg.host}/dode/greeter:2`), (e: { statusCode?: number; message: string }) => {
      assert.equal(e.statusCode, 404);
      assert.match(e.message, new RegExp(`manifest for ${reg!.host}/dode/greeter:2 not found`));
      return true;
    });
  });

  test('volumes: create, list, inspect, used by containers, removed', async () => {
    const created = await docker.createVolume({ Name: 'dvol', Labels: { purpose: 'dockerode' } });
    // dockerode answers with its handle on the volume created.
    assert.equal(created.name, 'dvol');
    const listed = await docker.listVolumes({ filters: { label: ['purpose=dockerode'] } });
    assert.deepEqual(listed.Volumes.map((v) => v.Name), ['dvol']);
    const volume = docker.getVolume('dvol');
    const info = await volume.inspect();
    assert.equal(info.Driver, 'local');
    assert.equal(info.Scope, 'local');
    assert.deepEqual(info.Labels, { purpose: 'dockerode' });
    assert.match(info.Mountpoint, /\/dvol\/_data$/);

    assert.equal((await output('busybox', ['sh', '-c', 'echo kept > /data/f'], { HostConfig: { Binds: ['dvol:/data'] } })).code, 0);
    const reader = await docker.createContainer({ Image: 'busybox', Cmd: ['cat', '/data/f'], HostConfig: { Mounts: [{ Type: 'volume', Source: 'dvol', Target: '/data', ReadOnly: true }] } });
    try {
      await reader.start();
      await reader.wait();
      assert.equal(demuxed(await reader.logs({ stdout: true, stderr: true })), 'kept\n');
      const mounts = (await reader.inspect()).Mounts;
      assert.deepEqual(mounts.map((m) => ({ Type: m.Type, Name: m.Name, Destination: m.Destination, RW: m.RW })), [{ Type: 'volume', Name: 'dvol', Destination: '/data', RW: false }]);
      // In use by a container: not removed.
      await assert.rejects(volume.remove(), (e: { statusCode?: number }) => e.statusCode === 409);
    } finally {
      await reader.remove();
    }
    await volume.remove();
    await assert.rejects(volume.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
    assert.deepEqual((await docker.listVolumes({ filters: { label: ['purpose=dockerode'] } })).Volumes, []);
  });
});

/** The text of a multiplexed log buffer (stdout and stderr frames, in order). */
function demuxed(buf: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString();
}

/** The entries of a tar stream: name to type, permission bits, text and link target. */
async function untar(stream: NodeJS.ReadableStream): Promise<Map<string, { type: string; mode: number; text: string; linkname?: string }>> {
  const entries = new Map<string, { type: string; mode: number; text: string; linkname?: string }>();
  const ex = extract();
  ex.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    body.on('end', () => {
      entries.set(header.name, {
        type: header.type ?? 'file',
        mode: (header.mode ?? 0) & 0o777,
        text: Buffer.concat(chunks).toString(),
        ...(header.linkname ? { linkname: header.linkname } : {}),
      });
      next();
    });
  });
  await pipeline(stream, ex);
  return entries;
}
