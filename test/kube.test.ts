import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { containerOf, parseAndCheck, pick, podSpecOf } from '../src/kube/schema.test.js';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * `pier compose kube` and `pier kube generate` against a private pierd: the YAML of a
 * three-service application and of a running container, every object validated against
 * Kubernetes' OpenAPI schemas (kubernetes-models; kubectl needs a server even for
 * `--dry-run=client`), with what a user would look for in it; bad input refused.
 */

const APP = `
name: shop
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    ports: ["8080:80"]
    deploy:
      replicas: 2
      resources:
        limits: {cpus: "0.5", memory: 128m}
        reservations: {memory: 32m}
    healthcheck:
      test: wget -q -O /dev/null http://127.0.0.1/ || exit 1
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 5s
    depends_on: [data]
  worker:
    image: busybox
    command: ["sh", "-c", "while true; do sleep 5; done"]
  data:
    image: busybox
    command: sleep 3600
    env_file: data.env
    expose: ["5432"]
    volumes: ["db:/var/lib/data"]
volumes:
  db:
`;

describe('pier compose kube, pier kube generate', () => {
  let d: Daemon;
  let dir: string;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    dir = await mkdtemp('/tmp/pier-kube-');
    await writeFile(join(dir, 'compose.yaml'), APP);
    await writeFile(join(dir, 'data.env'), 'DB_USER=shop\nDB_NAME=orders\n');
  });
  after(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('compose kube: Deployments, Services, a claim and a ConfigMap that validate', async () => {
    const r = await d.pier(['compose', '-f', join(dir, 'compose.yaml'), 'kube']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^# Kubernetes objects of compose project shop /);
    const objects = parseAndCheck(r.stdout);
    assert.deepEqual([...objects.keys()], ['ConfigMap/data-env', 'PersistentVolumeClaim/shop-db', 'Service/data', 'Service/web', 'Service/web-published', 'Deployment/data', 'Deployment/web', 'Deployment/worker']);
    for (const [key, o] of objects) assert.equal(o.metadata?.labels?.['app.kubernetes.io/part-of'], 'shop', key);

    const web = pick(objects, 'Deployment', 'web');
    assert.equal(web.spec?.replicas, 2);
    assert.equal(web.spec?.template.metadata?.labels?.['app.kubernetes.io/name'], 'web');
    const c = containerOf(web);
    assert.equal(c.image, 'busybox');
    assert.deepEqual(c.args, ['httpd', '-f', '-p', '80', '-h', '/www']);
    assert.deepEqual(c.livenessProbe, { exec: { command: ['/bin/sh', '-c', 'wget -q -O /dev/null http://127.0.0.1/ || exit 1'] }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3, initialDelaySeconds: 5 });
    assert.deepEqual(c.readinessProbe, c.livenessProbe);
    assert.deepEqual(c.resources, { limits: { cpu: '500m', memory: '128Mi' }, requests: { memory: '32Mi' } });
    assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP' }]);
    const published = pick(objects, 'Service', 'web-published');
    assert.equal(published.spec?.type, 'LoadBalancer');
    assert.deepEqual(published.spec?.ports, [{ name: 'tcp-8080', port: 8080, targetPort: 80, protocol: 'TCP' }]);
    assert.deepEqual(published.spec?.selector, web.spec?.selector.matchLabels);
    assert.deepEqual(pick(objects, 'Service', 'web').spec?.ports, [{ name: 'tcp-80', port: 80, targetPort: 80, protocol: 'TCP' }]);

    const worker = pick(objects, 'Deployment', 'worker');
    assert.equal(worker.spec?.replicas, 1);
    assert.deepEqual(containerOf(worker).args, ['sh', '-c', 'while true; do sleep 5; done']);
    assert.equal(objects.has('Service/worker'), false);

    const data = pick(objects, 'Deployment', 'data');
    assert.deepEqual(podSpecOf(data).volumes, [{ name: 'shop-db', persistentVolumeClaim: { claimName: 'shop-db' } }]);
    assert.deepEqual(containerOf(data).volumeMounts, [{ name: 'shop-db', mountPath: '/var/lib/data' }]);
    assert.deepEqual(containerOf(data).envFrom, [{ configMapRef: { name: 'data-env' } }]);
    assert.deepEqual(pick(objects, 'ConfigMap', 'data-env').data, { DB_USER: 'shop', DB_NAME: 'orders' });
    assert.equal(pick(objects, 'Service', 'data').spec?.type, 'ClusterIP');
    assert.deepEqual(pick(objects, 'PersistentVolumeClaim', 'shop-db').spec?.resources, { requests: { storage: '1Gi' } });

    // a service named: that one alone
    const one = await d.pier(['compose', '-f', join(dir, 'compose.yaml'), 'kube', 'worker']);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual([...parseAndCheck(one.stdout).keys()], ['Deployment/worker']);
  });

  test('kube generate: a running container as a Deployment (or a Pod) that validates', async () => {
    const run = await d.docker(['run', '-d', '--name', 'api', '-p', '8081:80', '-e', 'MODE=prod', '-m', '64m', '--cpus', '0.25', '--health-cmd', 'true', '--health-interval', '2s', '--health-retries', '5', '-v', 'apidata:/data', '-v', `${dir}:/conf:ro`, '--tmpfs', '/run:size=1m', 'busybox', 'httpd', '-f', '-p', '80']);
    assert.equal(run.code, 0, run.stderr);
    const r = await d.pier(['kube', 'generate', 'api']);
    assert.equal(r.code, 0, r.stderr);
    // the bind mount and the image never pulled from a registry are said on stderr
    assert.match(r.stderr, new RegExp(`^WARNING: api: bind mount ${dir} -> /conf becomes a hostPath volume`, 'm'));
    assert.match(r.stderr, /^WARNING: api: image busybox was not pulled from a registry/m);
    const objects = parseAndCheck(r.stdout);
    assert.deepEqual([...objects.keys()], ['PersistentVolumeClaim/apidata', 'Service/api', 'Service/api-published', 'Deployment/api']);
    const dep = pick(objects, 'Deployment', 'api');
    assert.equal(dep.spec?.replicas, 1);
    const c = containerOf(dep);
    assert.equal(c.image, 'busybox');
    assert.deepEqual(c.args, ['httpd', '-f', '-p', '80']);
    assert.equal(c.command, undefined);
    assert.deepEqual(c.env, [{ name: 'MODE', value: 'prod' }]);
    assert.deepEqual(c.resources, { limits: { cpu: '250m', memory: '64Mi' } });
    assert.deepEqual(c.livenessProbe, { exec: { command: ['/bin/sh', '-c', 'true'] }, periodSeconds: 2, timeoutSeconds: 30, failureThreshold: 5 });
    // by mount path: the order of an inspect answer's mounts means nothing
    assert.deepEqual(c.volumeMounts, [
      { name: c.volumeMounts?.[0]?.name, mountPath: '/conf', readOnly: true },
      { name: 'apidata', mountPath: '/data' },
      { name: 'run-tmpfs', mountPath: '/run' },
    ]);
    const volumes = podSpecOf(dep).volumes ?? [];
    assert.deepEqual(volumes.find((v) => v.name === 'apidata'), { name: 'apidata', persistentVolumeClaim: { claimName: 'apidata' } });
    assert.deepEqual(volumes.find((v) => v.hostPath)?.hostPath, { path: dir });
    assert.deepEqual(volumes.find((v) => v.name === 'run-tmpfs'), { name: 'run-tmpfs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    assert.deepEqual(pick(objects, 'Service', 'api-published').spec?.ports, [{ name: 'tcp-8081', port: 8081, targetPort: 80, protocol: 'TCP' }]);

    const pod = await d.pier(['kube', 'generate', '--type', 'pod', 'api']);
    assert.equal(pod.code, 0, pod.stderr);
    const p = pick(parseAndCheck(pod.stdout), 'Pod', 'api');
    assert.equal(p.spec?.restartPolicy, 'Never');
    assert.deepEqual(containerOf(p).args, ['httpd', '-f', '-p', '80']);

    const three = await d.pier(['kube', 'generate', '--replicas', '3', 'api']);
    assert.equal(three.code, 0, three.stderr);
    assert.equal(pick(parseAndCheck(three.stdout), 'Deployment', 'api').spec?.replicas, 3);
  });

  test('bad input: a broken compose file, an unknown container, a bad --type', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'services:\n  web:\n    image: busybox\n    imagee: busybox\n');
    let r = await d.pier(['compose', '-f', bad, 'kube']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:4: services\.web\.imagee: additional property "imagee" is not allowed/);
    assert.equal(r.stdout, '');
    r = await d.pier(['compose', '-f', join(dir, 'compose.yaml'), 'kube', 'nosuch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such service: nosuch/);
    r = await d.pier(['kube', 'generate', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: No such container: nope\n');
    assert.equal(r.stdout, '');
    r = await d.pier(['kube', 'generate', '--type', 'job', 'api']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid --type "job": deployment or pod/);
  });
});
