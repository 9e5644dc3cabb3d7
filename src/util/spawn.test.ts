import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { spawnLight } from './spawn.js';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

function text(stream: Readable | Writable | null | undefined): Promise<string> {
  const r = stream as Readable;
  let out = '';
  r.setEncoding('utf8');
  r.on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    r.once('end', () => resolve(out));
    r.once('error', reject);
  });
}

test('a child runs with the given arguments, environment and folder; its output and exit code come back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pier-spawn-'));
  try {
    const c = spawnLight('sh', ['-c', 'echo "$1 $GREETING $(pwd)"; echo err >&2; exit 3', 'sh', 'hello'], { env: { ...ENV, GREETING: 'world' }, cwd: dir, stdio: ['ignore', 'read', 'read'] });
    assert.ok(c.pid > 0);
    const [out, err, code] = await Promise.all([text(c.stdio[1]), text(c.stdio[2]), c.exit]);
    assert.equal(out, `hello world ${dir}\n`);
    assert.equal(err, 'err\n');
    assert.equal(code, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a pipe the daemon writes reaches the child, which gets no descriptor of the daemon that Node would not pass', async () => {
  const c = spawnLight('sh', ['-c', 'cat <&3; ls /proc/self/fd', 'sh'], { env: ENV, stdio: ['ignore', 'read', 'ignore', 'write'] });
  (c.stdio[3] as Writable).end('through fd 3\n');
  const [out, code] = await Promise.all([text(c.stdio[1]), c.exit]);
  assert.equal(code, 0);
  const [first, ...fds] = out.trim().split('\n');
  assert.equal(first, 'through fd 3');
  // What Node's own spawn passes (descriptors this process inherited without close-on-exec
  // among them), with fd 3 added; ls's own descriptor is the lowest free one: 3 there, 4 here.
  const byNode = spawnSync('sh', ['-c', 'ls /proc/self/fd'], { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  const sorted = (list: number[]): number[] => [...list].sort((a, b) => a - b);
  assert.deepEqual(sorted(fds.map(Number)), sorted([...byNode, 4]));
});

test('a signal that ends the child is told as 128 + its number, and the child is reaped', async () => {
  const c = spawnLight('sh', ['-c', 'kill -TERM $$'], { env: ENV, stdio: ['ignore', 'ignore', 'ignore'] });
  assert.equal(await c.exit, 128 + 15);
  // Reaped: no zombie is left behind as a child of this process.
  const zombies = readdirSync('/proc').filter((p) => p === String(c.pid));
  assert.deepEqual(zombies, []);
});

test('a program that does not exist is an ENOENT error, thrown at once', () => {
  assert.throws(() => spawnLight('/nonexistent/pier-test', [], { env: ENV, stdio: ['ignore', 'read', 'read'] }), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});

test("the child starts with the default action of signals the daemon ignores (Node ignores SIGPIPE)", async () => {
  // With SIGPIPE ignored, `yes | head -1` would leave yes writing into a closed pipe with EPIPE; by default it dies of SIGPIPE.
  const c = spawnLight('sh', ['-c', 'yes | head -n 1 >/dev/null; grep SigIgn /proc/self/status'], { env: ENV, stdio: ['ignore', 'read', 'ignore'] });
  const [out, code] = await Promise.all([text(c.stdio[1]), c.exit]);
  assert.equal(code, 0);
  // The shell itself may ignore nothing it was not told to: SIGPIPE (bit 13) is not ignored.
  const mask = BigInt(`0x${out.trim().split(/\s+/)[1]}`);
  assert.equal(mask & (1n << 12n), 0n);
});
