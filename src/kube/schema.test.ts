import assert from 'node:assert/strict';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Pod, Service, type IContainer, type IPodSpec } from 'kubernetes-models/v1';
import type { KubeObject } from './objects.js';

/**
 * The check of generated YAML the unit and integration tests share: each document parsed and
 * validated against Kubernetes' OpenAPI schemas (kubernetes-models' validators, what `kubectl
 * apply --dry-run=client` would check offline if kubectl could run without a server), and its
 * name checked to be an RFC 1035 label, which the schemas leave to the API server.
 */

const MODELS = { Deployment, Pod, Service, PersistentVolumeClaim, ConfigMap } as const;

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };
type Kinds = { [K in KubeObject['kind']]: Extract<KubeObject, { kind: K }> };

/** Throws, naming the object and the schema's complaint, unless `obj` is a valid object of a kind pier writes. */
export function checkObject(obj: unknown): void {
  const o = obj as Obj;
  const Model = (MODELS as Record<string, new (data: unknown) => { validate(): void }>)[o.kind];
  if (!Model) throw new Error(`unexpected kind ${JSON.stringify(o.kind)}`);
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${o.kind} ${o.metadata?.name}: ${(err as Error).message}`);
  }
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.metadata.name)) throw new Error(`${o.kind} ${o.metadata.name}: not an RFC 1035 label`);
}

/** The documents of a YAML stream, each checked, keyed `Kind/name` in their order. */
export function parseAndCheck(text: string): Map<string, KubeObject> {
  const out = new Map<string, KubeObject>();
  for (const doc of text.split(/^---$/m).slice(1)) {
    const obj = yaml.load(doc) as Obj;
    checkObject(obj);
    const key = `${obj.kind}/${obj.metadata.name}`;
    assert.ok(!out.has(key), `${key} twice`);
    out.set(key, obj as unknown as KubeObject);
  }
  return out;
}

/** The object `kind`/`name` among `objects`; fails the test when it is missing. */
export function pick<K extends keyof Kinds>(objects: Iterable<KubeObject> | Map<string, KubeObject>, kind: K, name: string): Kinds[K] {
  const list = objects instanceof Map ? [...objects.values()] : [...objects];
  const o = list.find((x) => x.kind === kind && x.metadata?.name === name);
  assert.ok(o, `${kind}/${name} among ${list.map((x) => `${x.kind}/${x.metadata?.name}`).join(' ')}`);
  return o as Kinds[K];
}

/** A Deployment's or a Pod's pod spec. */
export function podSpecOf(o: Kinds['Deployment'] | Kinds['Pod']): IPodSpec {
  const spec = o.kind === 'Deployment' ? o.spec?.template.spec : o.spec;
  assert.ok(spec, `${o.kind} ${o.metadata?.name} has a pod spec`);
  return spec;
}

/** Its (only) container. */
export function containerOf(o: Kinds['Deployment'] | Kinds['Pod']): IContainer {
  const c = podSpecOf(o).containers[0];
  assert.ok(c);
  return c;
}

void test('the check catches a broken object', () => {
  const ok = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'web', image: 'busybox' }] } } } };
  checkObject(ok);
  assert.throws(() => checkObject({ ...ok, spec: { ...ok.spec, replicas: '2' } }), /Deployment web: .*replicas must be integer/);
  assert.throws(() => checkObject({ ...ok, spec: { ...ok.spec, template: { spec: { containers: [{ image: 'busybox' }] } } } }), /must have required property .?name/);
  assert.throws(() => checkObject({ ...ok, spec: { ...ok.spec, template: { spec: { containers: [{ name: 'web', image: 'busybox', resources: { limits: { cpu: 'lots' } } }] } } } }), /cpu/);
  assert.throws(() => checkObject({ ...ok, metadata: { name: 'my_web' } }), /not an RFC 1035 label/);
  assert.throws(() => checkObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: '80' }] } }), /port must be integer/);
});
