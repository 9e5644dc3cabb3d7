import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeConfig, validateConfig, validateHostConfig } from './config.js';
import type { CreateBody } from './types.js';

const id = 'a'.repeat(64);

test('create config inherits from the image as Docker does', () => {
  const image = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/w', User: 'nobody', Labels: { x: '1' } };
  const c = mergeConfig({ Image: 'busybox', Env: ['A=2', 'B=3'], Labels: { y: '2' } }, image, id);
  assert.deepEqual(c.Env, ['PATH=/bin', 'A=2', 'B=3']);
  assert.deepEqual(c.Cmd, ['sh']);
  assert.equal(c.WorkingDir, '/w');
  assert.equal(c.User, 'nobody');
  assert.equal(c.Hostname, 'aaaaaaaaaaaa');
  assert.equal(mergeConfig({ Image: 'i', HostConfig: { NetworkMode: 'host' } as CreateBody['HostConfig'] }, image, id, 'vm').Hostname, 'vm', 'the host\'s name on its network');
  assert.equal(mergeConfig({ Image: 'i', Hostname: 'h', HostConfig: { NetworkMode: 'host' } as CreateBody['HostConfig'] }, image, id, 'vm').Hostname, 'h');
  assert.deepEqual(c.Labels, { x: '1', y: '2' });
});

test('an entrypoint given on create drops the image cmd; a cmd given replaces it', () => {
  const image = { Cmd: ['sh'], Entrypoint: ['/init'] };
  assert.deepEqual(mergeConfig({ Image: 'i', Entrypoint: ['echo'] }, image, id).Cmd, undefined);
  assert.deepEqual(mergeConfig({ Image: 'i', Entrypoint: ['echo'] }, image, id).Entrypoint, ['echo']);
  const c = mergeConfig({ Image: 'i', Cmd: ['ls', '-l'] }, image, id);
  assert.deepEqual(c.Entrypoint, ['/init']);
  assert.deepEqual(c.Cmd, ['ls', '-l']);
  assert.deepEqual(mergeConfig({ Image: 'i', Entrypoint: [''] }, image, id).Entrypoint, undefined);
});

test('bad host configs are refused', () => {
  assert.throws(() => validateHostConfig({ AutoRemove: true, RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } }), /--restart and --rm/);
  assert.doesNotThrow(() => validateHostConfig({ Memory: 64 * 1024 * 1024, AutoRemove: true }));
});

test('a bad stop signal and bad health check times are refused at create, as Docker does', () => {
  const base = mergeConfig({ Image: 'i', Cmd: ['true'] }, {}, id);
  const hc = (h: Record<string, unknown>) => h as NonNullable<typeof base.Healthcheck>;
  assert.throws(() => validateConfig({ ...base, StopSignal: 'SIGNOPE' }), /Invalid signal: SIGNOPE/);
  assert.doesNotThrow(() => validateConfig({ ...base, StopSignal: 'USR1' }));
  assert.throws(() => validateConfig({ ...base, Healthcheck: hc({ Test: ['CMD', 'true'], Interval: 500 }) }), /Interval in Healthcheck cannot be less than 1ms/);
  assert.throws(() => validateConfig({ ...base, Healthcheck: hc({ Test: ['CMD', 'true'], Retries: -1 }) }), /Retries in Healthcheck cannot be negative/);
  assert.doesNotThrow(() => validateConfig({ ...base, Healthcheck: hc({ Test: ['CMD', 'true'], Interval: 0, Timeout: 2_000_000_000 }) }));
});
