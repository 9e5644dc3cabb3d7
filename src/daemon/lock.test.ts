import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lockRoot } from './lock.js';

test('a root held by a live pierd is refused; a stale lock is taken over', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'pk-'));
  // A process whose command line names pierd plays the other daemon.
  const other = spawn('bash', ['-c', 'exec -a pierd sleep 30'], { stdio: 'ignore' });
  t.after(async () => {
    other.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 100));
  await writeFile(join(root, 'pierd.pid'), `${other.pid}\n`);
  await assert.rejects(lockRoot(root), /another pierd \(pid \d+\) already uses/);
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  await lockRoot(root);
  assert.equal((await readFile(join(root, 'pierd.pid'), 'utf8')).trim(), String(process.pid));
});
