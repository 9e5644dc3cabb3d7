import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dnsLabel, LabelSet } from './names.js';
import { cpuQuantity, generate, literal, memoryQuantity, probeOf } from './objects.js';
import { checkObject, containerOf, parseAndCheck, pick, podSpecOf } from './schema.test.js';
import type { Workload } from './workload.js';
import { renderObjects } from './yaml.js';

const base = (over: Partial<Workload>): Workload => ({ name: 'web', replicas: 1, image: 'busybox', env: {}, envFiles: [], ports: [], limits: {}, reservations: {}, mounts: [], capAdd: [], capDrop: [], extraHosts: [], notes: [], ...over });

describe('Kubernetes objects from workloads', () => {
  test('names are RFC 1035 labels, distinct', () => {
    assert.equal(dnsLabel('My_App.web'), 'my-app-web');
    assert.equal(dnsLabel('1web'), 'x-1web');
    assert.equal(dnsLabel('__'), 'x');
    assert.equal(dnsLabel('a'.repeat(70)).length, 63);
    const set = new LabelSet();
    assert.deepEqual([set.take('my_web'), set.take('my-web'), set.take('MY.WEB')], ['my-web', 'my-web-2', 'my-web-3']);
  });

  test('quantities, literals, probes', () => {
    assert.deepEqual([cpuQuantity(0.5), cpuQuantity(2), cpuQuantity(1.25), cpuQuantity(0.0001)], ['500m', '2', '1250m', '1m']);
    assert.deepEqual([memoryQuantity(256 * 1024 ** 2), memoryQuantity(2 * 1024 ** 3), memoryQuantity(1536), memoryQuantity(1000)], ['256Mi', '2Gi', '1536', '1000']);
    assert.equal(literal('$(HOME) $$ $x'), '$$(HOME) $$$ $x');
    assert.deepEqual(probeOf({ test: ['CMD', 'true'] }), { exec: { command: ['true'] }, periodSeconds: 30, timeoutSeconds: 30, failureThreshold: 3 });
    assert.deepEqual(probeOf({ test: ['CMD-SHELL', 'curl -f x || exit 1'], interval: 300e6, timeout: 2e9, retries: 5, startPeriod: 10e9 }), {
      exec: { command: ['/bin/sh', '-c', 'curl -f x || exit 1'] },
      periodSeconds: 1,
      timeoutSeconds: 2,
      failureThreshold: 5,
      initialDelaySeconds: 10,
    });
  });

  test('a service with replicas, ports, limits, volumes and env files', () => {
    const w = base({
      name: 'web_app',
      project: 'shop',
      replicas: 3,
      cmd: ['httpd', '-f', '$(X)'],
      entrypoint: ['/bin/entry'],
      env: { A: '1', SHARED: 'from-env', FILE_ONLY: 'f' },
      envFiles: [{ path: '/p/web.env', values: { FILE_ONLY: 'f', SHARED: 'from-file' } }],
      ports: [
        { target: 80, protocol: 'tcp', published: true, hostPort: 8080 },
        { target: 80, protocol: 'tcp', published: true, hostPort: 8080, hostIp: '0.0.0.0' },
        { target: 53, protocol: 'udp', published: true },
        { target: 9000, protocol: 'tcp', published: false },
      ],
      health: { test: ['CMD', 'wget', '-q', 'http://127.0.0.1/'], interval: 5e9 },
      limits: { cpus: 1.5, memory: 512 * 1024 ** 2 },
      reservations: { memory: 128 * 1024 ** 2 },
      user: '1000',
      mounts: [
        { type: 'volume', source: 'shop_data', target: '/data', readOnly: false },
        { type: 'bind', source: '/srv/www', target: '/www', readOnly: true },
        { type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: 64 * 1024 ** 2 },
      ],
      capAdd: ['CAP_NET_ADMIN'],
      extraHosts: ['db:10.0.0.5', 'gw:host-gateway'],
      stopGracePeriod: 20,
      update: { order: 'start-first', parallelism: 2 },
    });
    const { objects, notes } = generate([w]);
    for (const o of objects) checkObject(o);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name}`), ['ConfigMap/web-env', 'PersistentVolumeClaim/shop-data', 'Service/web-app', 'Service/web-app-published', 'Deployment/web-app']);
    const labels = { 'app.kubernetes.io/name': 'web-app', 'app.kubernetes.io/part-of': 'shop' };
    const d = pick(objects, 'Deployment', 'web-app');
    assert.equal(d.spec?.replicas, 3);
    assert.deepEqual(d.spec?.selector.matchLabels, labels);
    assert.deepEqual(d.spec?.template.metadata?.labels, labels);
    assert.deepEqual(d.spec?.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } });
    const c = containerOf(d);
    assert.deepEqual(c.command, ['/bin/entry']);
    assert.deepEqual(c.args, ['httpd', '-f', '$$(X)']);
    // SHARED differs from the file's value, so it stays in env (which wins over envFrom)
    assert.deepEqual(c.env, [{ name: 'A', value: '1' }, { name: 'SHARED', value: 'from-env' }]);
    assert.deepEqual(c.envFrom, [{ configMapRef: { name: 'web-env' } }]);
    assert.deepEqual(pick(objects, 'ConfigMap', 'web-env').data, { FILE_ONLY: 'f', SHARED: 'from-file' });
    assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 53, protocol: 'UDP' }, { containerPort: 9000, protocol: 'TCP' }]);
    assert.deepEqual(c.resources, { limits: { cpu: '1500m', memory: '512Mi' }, requests: { memory: '128Mi' } });
    assert.deepEqual(c.livenessProbe?.exec?.command, ['wget', '-q', 'http://127.0.0.1/']);
    assert.equal(c.livenessProbe?.periodSeconds, 5);
    assert.deepEqual(c.readinessProbe, c.livenessProbe);
    assert.deepEqual(c.securityContext, { runAsUser: 1000, capabilities: { add: ['NET_ADMIN'] } });
    const spec = podSpecOf(d);
    assert.deepEqual(spec.volumes, [
      { name: 'shop-data', persistentVolumeClaim: { claimName: 'shop-data' } },
      { name: 'srv-www-host', hostPath: { path: '/srv/www' } },
      { name: 'run-tmpfs', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    ]);
    assert.deepEqual(c.volumeMounts, [
      { name: 'shop-data', mountPath: '/data' },
      { name: 'srv-www-host', mountPath: '/www', readOnly: true },
      { name: 'run-tmpfs', mountPath: '/run' },
    ]);
    assert.deepEqual(spec.hostAliases, [{ ip: '10.0.0.5', hostnames: ['db'] }]);
    assert.equal(spec.terminationGracePeriodSeconds, 20);
    const cluster = pick(objects, 'Service', 'web-app');
    assert.equal(cluster.spec?.type, 'ClusterIP');
    assert.deepEqual(cluster.spec?.selector, labels);
    assert.deepEqual(cluster.spec?.ports?.map((p) => `${p.name ?? ''}:${p.port}`), ['tcp-80:80', 'udp-53:53', 'tcp-9000:9000']);
    const published = pick(objects, 'Service', 'web-app-published');
    assert.equal(published.spec?.type, 'LoadBalancer');
    assert.deepEqual(published.spec?.ports, [
      { name: 'tcp-8080', port: 8080, targetPort: 80, protocol: 'TCP' },
      { name: 'udp-53', port: 53, targetPort: 53, protocol: 'UDP' },
    ]);
    assert.deepEqual(pick(objects, 'PersistentVolumeClaim', 'shop-data').spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    for (const re of [/web_app: named web-app/, /bind mount \/srv\/www -> \/www becomes a hostPath volume/, /host-gateway/, /3 replicas share a ReadWriteOnce claim/]) {
      assert.ok(notes.some((n) => re.test(n)), `${re} in ${notes.join('\n')}`);
    }
  });

  test('claims and ConfigMaps are shared between workloads; a Pod has its restart policy', () => {
    const envFile = { path: '/p/common.env', values: { X: '1' } };
    const a = base({ name: 'a', mounts: [{ type: 'volume', source: 'data', target: '/d', readOnly: false }], envFiles: [envFile], restart: 'on-failure' });
    const b = base({ name: 'b', mounts: [{ type: 'volume', source: 'data', target: '/e', readOnly: true }], envFiles: [envFile] });
    const { objects, notes } = generate([a, b], { type: 'pod' });
    for (const o of objects) checkObject(o);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name}`), ['ConfigMap/common-env', 'PersistentVolumeClaim/data', 'Pod/a', 'Pod/b']);
    assert.equal(pick(objects, 'Pod', 'a').spec?.restartPolicy, 'OnFailure');
    assert.equal(pick(objects, 'Pod', 'b').spec?.restartPolicy, 'Never');
    assert.deepEqual(pick(objects, 'Pod', 'b').spec?.volumes, [{ name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } }]);
    assert.deepEqual(notes, []);
  });

  test('a named user, a loopback port and an external volume are said, not guessed', () => {
    const { objects, notes } = generate([
      base({ user: 'nobody:nogroup', ports: [{ target: 80, protocol: 'tcp', published: true, hostPort: 8080, hostIp: '127.0.0.1' }], mounts: [{ type: 'volume', source: 'shared', target: '/s', readOnly: false, external: true }] }),
    ]);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata?.name}`), ['Service/web', 'Deployment/web']);
    assert.equal(containerOf(pick(objects, 'Deployment', 'web')).securityContext, undefined);
    assert.equal(notes.length, 4, notes.join('\n'));
    assert.match(notes.join('\n'), /user "nobody" is a name.*\n.*group "nogroup"/);
    assert.match(notes.join('\n'), /loopback address only/);
    assert.match(notes.join('\n'), /volume shared is external; .*claim named shared/);
  });

  test('YAML that YAML 1.1 readers (kubectl) read back as the same strings', () => {
    const w = base({ env: { A: 'yes', B: 'on', C: '1_000', D: '0b101', E: '12:30', F: '007', G: 'plain', H: 'a: b', I: '' } });
    const text = renderObjects(generate([w]).objects, ['made by a test']);
    assert.match(text, /^# made by a test\n---\napiVersion: v1\nkind: Service|^# made by a test\n---\napiVersion: apps\/v1\nkind: Deployment/);
    for (const v of ['yes', 'on', '1_000', '0b101', '12:30', '007', 'a: b', '']) assert.ok(text.includes(`value: '${v}'`), `${v} quoted in\n${text}`);
    assert.ok(text.includes('value: plain'));
    const objects = parseAndCheck(text);
    const env = containerOf(pick(objects, 'Deployment', 'web')).env ?? [];
    assert.deepEqual(Object.fromEntries(env.map((e) => [e.name, e.value])), w.env);
  });
});
