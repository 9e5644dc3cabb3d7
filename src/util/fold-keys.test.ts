import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { foldKeys } from './fold-keys.js';

const Schema = z.object({
  DetachKeys: z.string().optional(),
  HostConfig: z
    .object({ Binds: z.array(z.string()).nullish(), LogConfig: z.object({ Type: z.string() }).nullish() })
    .nullish(),
  Labels: z.record(z.string(), z.string()).optional(),
  Mounts: z.array(z.object({ Target: z.string() })).optional(),
});

test('names match the schema but for case, through nested objects, arrays and maps', () => {
  const body = {
    detachKeys: 'ctrl-p',
    hostconfig: { binds: ['/a:/b'], logConfig: { type: 'json-file' } },
    Labels: { lower: 'kept', UPPER: 'kept' },
    mounts: [{ target: '/x' }],
    Unknown: 1,
  };
  assert.deepEqual(foldKeys(body, Schema), {
    DetachKeys: 'ctrl-p',
    HostConfig: { Binds: ['/a:/b'], LogConfig: { Type: 'json-file' } },
    Labels: { lower: 'kept', UPPER: 'kept' },
    Mounts: [{ Target: '/x' }],
    Unknown: 1,
  });
  assert.deepEqual(Schema.parse(foldKeys(body, Schema)).DetachKeys, 'ctrl-p');
});

test('an exact name wins over a name that differs only in case; values that are not objects pass', () => {
  assert.deepEqual(foldKeys({ detachkeys: 'a', DetachKeys: 'b' }, Schema), { DetachKeys: 'b' });
  assert.equal(foldKeys('text', Schema), 'text');
  assert.deepEqual(foldKeys({ HostConfig: null }, Schema), { HostConfig: null });
});
