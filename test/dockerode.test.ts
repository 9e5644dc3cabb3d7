import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

/** dockerode (npm), unchanged, against pierd: what Node programs and testcontainers do with it. */
describe('dockerode against pierd', () => {
  let d: Daemon;
  let docker: Docker;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    docker = new Docker({ socketPath: d.socket });
  });
  after(async () => {
    await d?.stop();
  });

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
});
