import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCommand } from './command.js';
import { CommandError } from './runtime.js';

/** A root filesystem with busybox-style links, a file that is not executable, and a link out of it. */
function rootfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pier-cmd-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'bin', 'busybox'), '#!\n');
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  symlinkSync('/bin/busybox', join(dir, 'bin', 'sh'));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
  // On the host /usr/bin/env exists and is executable; inside this root it does not.
  symlinkSync('../../../../../../usr/bin/env', join(dir, 'bin', 'escape'));
  return dir;
}

const reason = (fn: () => void): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof CommandError, String(err));
    return `${err.exitCode} ${err.message}`;
  }
};

test('a command is looked up in the container\'s PATH and root, as runc does', () => {
  const dir = rootfs();
  try {
    const env = ['PATH=/usr/bin:/bin'];
    assert.equal(reason(() => checkCommand(dir, 'sh', env, '/')), 'ok');
    assert.equal(reason(() => checkCommand(dir, '/bin/sh', env, '/')), 'ok');
    assert.equal(reason(() => checkCommand(dir, './busybox', env, '/bin')), 'ok');
    assert.equal(reason(() => checkCommand(dir, 'nosuch', env, '/')), '127 exec: "nosuch": executable file not found in $PATH');
    assert.equal(reason(() => checkCommand(dir, '/nosuch', env, '/')), '127 exec: "/nosuch": stat /nosuch: no such file or directory');
    assert.equal(reason(() => checkCommand(dir, '/etc/passwd', env, '/')), '126 exec: "/etc/passwd": permission denied');
    assert.equal(reason(() => checkCommand(dir, '/etc', env, '/')), '126 exec: "/etc": permission denied');
    // A link that climbs out of the root stays in it: the host's /usr/bin/env is not found.
    assert.equal(reason(() => checkCommand(dir, '/bin/escape', env, '/')), '127 exec: "/bin/escape": stat /bin/escape: no such file or directory');
    // A command on a mount the root filesystem does not show is left for the runtime.
    assert.equal(reason(() => checkCommand(dir, '/probe', env, '/', ['/probe'])), 'ok');
    assert.equal(reason(() => checkCommand(dir, 'tool', ['PATH=/opt/bin'], '/', ['/opt'])), 'ok');
    // No PATH in the environment: Docker's default PATH.
    assert.equal(reason(() => checkCommand(dir, 'sh', [], '/')), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
