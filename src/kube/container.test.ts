import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workloadOfContainer, type InspectedContainer, type InspectedImage } from './container.js';

const image: InspectedImage = {
  RepoDigests: ['busybox@sha256:' + '0'.repeat(64)],
  Config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'], WorkingDir: '', Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 5e9 } },
};

const container = (over: Partial<InspectedContainer['Config']> = {}, host: InspectedContainer['HostConfig'] = {}, mounts: InspectedContainer['Mounts'] = []): InspectedContainer => ({
  Name: '/My_Web',
  Config: { Image: 'busybox', Env: ['PATH=/usr/bin:/bin', 'MODE=prod'], Cmd: ['sh'], Labels: {}, ...over },
  HostConfig: host,
  Mounts: mounts,
});

test('a container: what it chose itself, not what its image gave it', () => {
  const w = workloadOfContainer(
    container(
      { Cmd: ['httpd', '-f'], ExposedPorts: { '80/tcp': {}, '9000/tcp': {} }, User: '1000:1000', Labels: { 'com.docker.compose.project': 'shop' } },
      {
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
        Memory: 64 * 1024 ** 2,
        NanoCpus: 5e8,
        RestartPolicy: { Name: 'always' },
        Tmpfs: { '/run': 'rw,size=1m' },
      },
      [
        { Type: 'volume', Name: 'data', Source: '/var/lib/pier/volumes/data/_data', Destination: '/data', RW: true },
        { Type: 'volume', Name: 'a'.repeat(64), Destination: '/anon', RW: true },
        { Type: 'bind', Source: '/srv', Destination: '/srv', RW: false },
      ],
    ),
    image,
    3,
  );
  assert.equal(w.name, 'My_Web');
  assert.equal(w.project, 'shop');
  assert.equal(w.replicas, 3);
  assert.deepEqual(w.env, { MODE: 'prod' });
  assert.deepEqual(w.cmd, ['httpd', '-f']);
  assert.equal(w.entrypoint, undefined);
  assert.deepEqual(w.ports, [
    { target: 80, protocol: 'tcp', published: true, hostPort: 8080 },
    { target: 9000, protocol: 'tcp', published: false },
  ]);
  assert.deepEqual(w.limits, { cpus: 0.5, memory: 64 * 1024 ** 2 });
  assert.deepEqual(w.health, { test: ['CMD-SHELL', 'true'], interval: 5e9, timeout: undefined, retries: undefined, startPeriod: undefined });
  assert.deepEqual(w.mounts, [
    { type: 'volume', target: '/anon', readOnly: false },
    { type: 'volume', source: 'data', target: '/data', readOnly: false },
    { type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: 1024 ** 2 },
    { type: 'bind', source: '/srv', target: '/srv', readOnly: true },
  ]);
  assert.equal(w.user, '1000:1000');
  assert.equal(w.restart, 'always');
  assert.deepEqual(w.notes, []);
});

test("the image's command and a disabled check are left out; an image never pulled is said", () => {
  const w = workloadOfContainer(container({ Healthcheck: { Test: ['NONE'] }, CpuQuota: undefined } as never, { CpuQuota: 150_000, CpuPeriod: 100_000 }), { ...image, RepoDigests: [] });
  assert.equal(w.cmd, undefined);
  assert.equal(w.health, undefined);
  assert.equal(w.limits.cpus, 1.5);
  assert.match(w.notes.join('\n'), /My_Web: image busybox was not pulled from a registry/);
});
