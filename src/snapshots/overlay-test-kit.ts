import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { EngineError } from '../errors.js';
import { unmount } from './mount.js';
import { OverlaySnapshotter } from './overlay.js';
import type { TarSpec } from './test-helpers.js';

/** What the overlay snapshotter's tests share: a snapshotter on a fresh root, error checks, two layers. For tests only. */

export interface Env {
  root: string;
  snap: OverlaySnapshotter;
  /** A fresh mount point, unmounted when the test ends. */
  target: () => Promise<string>;
}

export async function env(t: TestContext): Promise<Env> {
  const root = await mkdtemp('/tmp/pov-');
  const targets: string[] = [];
  t.after(async () => {
    for (const m of targets.reverse()) await unmount(m, { detach: true });
    await rm(root, { recursive: true, force: true });
  });
  let n = 0;
  return {
    root,
    snap: new OverlaySnapshotter(root),
    target: async () => {
      const p = `${root}/mnt${n++}`;
      await mkdir(p);
      targets.push(p);
      return p;
    },
  };
}

export function kind(k: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.kind, k, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

export async function bytes(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const BASE: TarSpec[] = [
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/sh', data: 'shell', mode: 0o755 },
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/passwd', data: 'root:x:0:0\n', mode: 0o644 },
  { name: 'etc/motd', data: 'hello\n', mode: 0o644 },
  { name: 'var/', type: 'directory', mode: 0o755 },
  { name: 'var/cache/', type: 'directory', mode: 0o755 },
  { name: 'var/cache/a', data: 'a' },
  { name: 'var/cache/b', data: 'b' },
];
export const SECOND: TarSpec[] = [
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/.wh.motd', data: '' },
  { name: 'etc/hosts', data: '127.0.0.1 localhost\n' },
  { name: 'usr/', type: 'directory', mode: 0o755 },
  { name: 'usr/lib/', type: 'directory', mode: 0o755 },
  { name: 'usr/lib/libc.so', data: 'libc', mode: 0o755 },
];
