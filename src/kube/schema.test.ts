import assert from 'node:assert/strict';
import { test } from 'node:test';
import yaml from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Pod, Service } from 'kubernetes-models/v1';

/**
 * The check of generated YAML the unit and integration tests share: each document parsed and
 * validated against Kubernetes' OpenAPI schemas (kubernetes-models' validators, what `kubectl
 * apply --dry-run=client` would check offline if kubectl could run without a server), and its
 * name checked to be an RFC 1035 label, which the schemas leave to the API server.
 */

const MODELS = { Deployment, Pod, Service, PersistentVolumeClaim, ConfigMap } as const;

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };

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

/** The documents of a YAML stream, each checked; by kind, then name. */
export function parseAndCheck(text: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const doc of text.split(/^---$/m).slice(1)) {
    const obj = yaml.load(doc) as Obj;
    checkObject(obj);
    const key = `${obj.kind}/${obj.metadata.name}`;
    assert.ok(!out.has(key), `${key} twice`);
    out.set(key, obj);
  }
  return out;
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
