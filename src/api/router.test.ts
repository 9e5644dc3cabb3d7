import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router } from './router.js';
import { splitVersion } from './server.js';

const noop = async (): Promise<void> => {};

test('names with slashes match {name*} segments', () => {
  const r = new Router();
  r.get('/images/{name*}/json', noop);
  r.post('/images/{name*}/tag', noop);
  r.get('/images/json', noop);
  const m = r.match('GET', '/images/docker.io/library/alpine:3/json');
  assert.ok(m && m !== 'methodNotAllowed');
  assert.deepEqual(m.params, { name: 'docker.io/library/alpine:3' });
  const list = r.match('GET', '/images/json');
  assert.ok(list && list !== 'methodNotAllowed');
  assert.deepEqual(list.params, {});
  assert.equal(r.match('DELETE', '/images/json'), 'methodNotAllowed');
  assert.equal(r.match('GET', '/nothing'), undefined);
});

test('GET routes answer HEAD; encoded names are decoded', () => {
  const r = new Router();
  r.get('/containers/{id}/json', noop);
  const m = r.match('HEAD', '/containers/a%20b/json');
  assert.ok(m && m !== 'methodNotAllowed');
  assert.equal(m.params.id, 'a b');
});

test('version prefixes: served as asked, newer clamped to the maximum, too old refused', () => {
  assert.deepEqual(splitVersion('/v1.41/containers/json'), { version: '1.41', path: '/containers/json' });
  assert.deepEqual(splitVersion('/containers/json'), { version: '1.51', path: '/containers/json' });
  assert.equal(splitVersion('/v1.60/info').version, '1.51');
  assert.throws(() => splitVersion('/v1.12/info'), /too old/);
});
