import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate } from '../kube/objects.js';
import { checkObject, containerOf, pick, podSpecOf } from '../kube/schema.test.js';
import { projectWorkloads } from './kube.js';
import { loadProject } from './load.js';
import { configHash } from './render.js';

describe('compose services as workloads', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pier-kube-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('what the model says reaches the objects', async () => {
    await writeFile(join(dir, 'db.env'), 'DB_USER=app\nDB_PASS=s3cret\n');
    await writeFile(
      join(dir, 'compose.yaml'),
      [
        'name: shop',
        'services:',
        '  web:',
        '    build: .',
        '    scale: 2',
        '    ports: ["8080:80"]',
        '    expose: ["9000-9001/udp"]',
        '    healthcheck: {test: ["CMD", "true"], interval: 10s, timeout: 3s, retries: 4, start_period: 30s}',
        '    deploy: {resources: {limits: {cpus: "0.5", memory: 128m, pids: 10}, reservations: {cpus: "0.1", memory: 32m}}}',
        '    tmpfs: ["/run:size=1m"]',
        '  db:',
        '    image: postgres:16',
        '    env_file: db.env',
        '    environment: {DB_USER: admin}',
        '    entrypoint: [docker-entrypoint.sh]',
        '    user: "999:999"',
        '    volumes: ["pgdata:/var/lib/postgresql/data"]',
        'volumes:',
        '  pgdata: {}',
      ].join('\n'),
    );
    const p = await loadProject({ cwd: dir, env: {} });
    assert.deepEqual(p.services.db!.env_file, [{ path: join(dir, 'db.env'), values: { DB_USER: 'app', DB_PASS: 's3cret' } }]);
    assert.equal(p.services.web!.deploy.reservations.cpus, 0.1);
    const workloads = projectWorkloads(p);
    assert.deepEqual(workloads.map((w) => w.name), ['db', 'web']);
    const web = workloads[1]!;
    assert.equal(web.image, 'shop-web');
    assert.equal(web.replicas, 2);
    assert.deepEqual(web.ports, [
      { target: 80, protocol: 'tcp', published: true, hostPort: 8080 },
      { target: 9000, protocol: 'udp', published: false },
      { target: 9001, protocol: 'udp', published: false },
    ]);
    assert.deepEqual(web.health, { test: ['CMD', 'true'], interval: 10e9, timeout: 3e9, retries: 4, startPeriod: 30e9 });
    assert.deepEqual(web.mounts, [{ type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: 1024 ** 2 }]);
    assert.match(web.notes.join('\n'), /built by compose .*shop-web/);
    assert.match(web.notes.join('\n'), /pids/);
    const { objects } = generate(workloads);
    for (const o of objects) checkObject(o);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name}`), ['ConfigMap/db-env', 'PersistentVolumeClaim/shop-pgdata', 'Service/web', 'Service/web-published', 'Deployment/db', 'Deployment/web']);
    const db = pick(objects, 'Deployment', 'db');
    const c = containerOf(db);
    assert.deepEqual(c.command, ['docker-entrypoint.sh']);
    assert.equal(c.args, undefined);
    assert.deepEqual(c.env, [{ name: 'DB_USER', value: 'admin' }]);
    assert.deepEqual(c.securityContext, { runAsUser: 999, runAsGroup: 999 });
    assert.deepEqual(podSpecOf(db).volumes, [{ name: 'shop-pgdata', persistentVolumeClaim: { claimName: 'shop-pgdata' } }]);
    assert.deepEqual(containerOf(pick(objects, 'Deployment', 'web')).resources, { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m', memory: '32Mi' } });
  });

  test('the config hash ignores the env files and the CPU reservation (no container changes with them)', async () => {
    await writeFile(join(dir, 'compose.yaml'), 'services:\n  a:\n    image: busybox\n    environment: {X: "1"}\n');
    const plain = configHash((await loadProject({ cwd: dir, env: {} })).services.a!);
    await writeFile(join(dir, 'x.env'), 'X=1\n');
    await writeFile(join(dir, 'compose.yaml'), 'services:\n  a:\n    image: busybox\n    env_file: x.env\n    deploy: {resources: {reservations: {cpus: "2"}}}\n');
    assert.equal(configHash((await loadProject({ cwd: dir, env: {} })).services.a!), plain);
  });
});
