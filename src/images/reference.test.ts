import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../errors.js';
import {
  familiarMatch,
  familiarName,
  isFullImageId,
  isImageIdLike,
  normalize,
  parseReference,
  repoTagReference,
  shortId,
} from './reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

void test('normalize adds docker.io, library/ and latest as Docker does', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['user/app', 'docker.io/user/app:latest'],
    ['user/app/sub:1.0', 'docker.io/user/app/sub:1.0'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['docker.io/library/busybox:musl', 'docker.io/library/busybox:musl'],
    ['localhost/foo', 'localhost/foo:latest'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['registry.example.com/team/app:v1.2.3', 'registry.example.com/team/app:v1.2.3'],
    ['[::1]:5000/foo:bar', '[::1]:5000/foo:bar'],
    ['Foo/bar', 'Foo/bar:latest'], // an upper-case first component is a registry host
    [`a/b@${D}`, `docker.io/a/b@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`],
    ['a__b-c---d/e_f.g', 'docker.io/a__b-c---d/e_f.g:latest'],
    ['a.b/c', 'a.b/c:latest'], // a dot makes the first component a registry host
    ['x:' + 'T'.repeat(128), 'docker.io/library/x:' + 'T'.repeat(128)],
  ];
  for (const [input, want] of cases) assert.equal(normalize(input), want, input);
});

void test('parseReference keeps tag and digest apart and adds no default tag', () => {
  assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox' });
  assert.deepEqual(parseReference(`localhost:5000/a/b:t@${D}`), { domain: 'localhost:5000', path: 'a/b', tag: 't', digest: D });
});

function assertInvalid(input: string, message: string | RegExp): void {
  assert.throws(
    () => parseReference(input),
    (err: unknown) => {
      assert.ok(err instanceof EngineError, `${input}: not an EngineError`);
      assert.equal(err.kind, 'invalid', input);
      if (typeof message === 'string') assert.equal(err.message, message, input);
      else assert.match(err.message, message, input);
      return true;
    },
  );
}

void test('malformed references are invalid with Docker messages', () => {
  assertInvalid('Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase');
  assertInvalid('foo/Bar:1', 'invalid reference format: repository name (foo/Bar) must be lowercase');
  assertInvalid('localhost:5000/Foo', 'invalid reference format: repository name (Foo) must be lowercase');
  assertInvalid(`foo@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format');
  assertInvalid(`foo@sha256:${'a'.repeat(40)}`, 'invalid checksum digest length');
  assertInvalid('a:b:c', 'invalid reference format');
  assertInvalid('foo:', 'invalid reference format');
  assertInvalid('-foo', 'invalid reference format');
  assertInvalid('foo/', 'invalid reference format');
  assertInvalid('foo//bar', 'invalid reference format');
  assertInvalid('foo@sha256:abc', 'invalid reference format');
  assertInvalid('x:' + 'T'.repeat(129), 'invalid reference format');
  assertInvalid('a b', 'invalid reference format');
  assertInvalid('', 'invalid reference format');
  assertInvalid('ab'.repeat(32), /cannot specify 64-byte hexadecimal strings/);
  assertInvalid('a/' + 'b'.repeat(260), /must not be more than 255 characters/);
  assertInvalid(`foo@sha512:${'a'.repeat(64)}`, /unsupported digest algorithm/);
});

void test('familiarName shows references the way docker prints them', () => {
  const cases: Array<[string, string]> = [
    ['docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox', 'busybox'],
    ['docker.io/user/app:1', 'user/app:1'],
    ['docker.io/library/a/b:1', 'library/a/b:1'],
    ['localhost:5000/x:1', 'localhost:5000/x:1'],
    [`docker.io/library/busybox@${D}`, `busybox@${D}`],
    ['index.docker.io/library/busybox:1', 'busybox:1'],
  ];
  for (const [input, want] of cases) assert.equal(familiarName(input), want, input);
});

void test('repoTagReference: tag replaces, default latest, digest refused', () => {
  assert.equal(familiarName(repoTagReference('busybox', undefined)!), 'busybox:latest');
  assert.equal(familiarName(repoTagReference('busybox:1', '2')!), 'busybox:2');
  assert.equal(repoTagReference('', 'x'), undefined);
  assert.throws(() => repoTagReference(`busybox@${D}`, undefined), /cannot import digest reference/);
  assert.throws(() => repoTagReference('busybox', '-bad'), /invalid tag format/);
});

void test('image ID shapes', () => {
  assert.equal(isImageIdLike('3f57d9401f8d'), true);
  assert.equal(isImageIdLike('sha256:3f57'), true);
  assert.equal(isImageIdLike('ab'.repeat(32)), true);
  assert.equal(isImageIdLike('busybox'), false);
  assert.equal(isImageIdLike('ab'.repeat(33)), false);
  assert.equal(isImageIdLike('sha256:'), false);
  assert.equal(isFullImageId(D), true);
  assert.equal(isFullImageId('ab'.repeat(32)), true);
  assert.equal(isFullImageId('sha256:abc'), false);
  assert.equal(shortId(D), 'abababababab');
});

void test('reference filter matches familiar name and name:tag with shell patterns', () => {
  const ref = parseReference('localhost:5000/team/app:v1');
  assert.equal(familiarMatch('localhost:5000/team/app', ref), true);
  assert.equal(familiarMatch('localhost:5000/team/*:v*', ref), true);
  assert.equal(familiarMatch('*/app', ref), false); // `*` does not cross `/`
  const bb = parseReference('busybox:1.36');
  assert.equal(familiarMatch('busybox', bb), true);
  assert.equal(familiarMatch('busy*', bb), true);
  assert.equal(familiarMatch('busybox:1.3?', bb), true);
  assert.equal(familiarMatch('busybox:latest', bb), false);
  assert.equal(familiarMatch('alpine', bb), false);
});
