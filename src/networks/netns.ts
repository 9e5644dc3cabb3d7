import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import koffi from 'koffi';
import { errnoCode, internal } from '../errors.js';

/**
 * Persistent network namespaces without spawning a process: the daemon's main thread enters a
 * new namespace (unshare), bind-mounts it on a file (as `ip netns add` does, but under pier's
 * exec-root), and goes back to its own namespace at once. Node runs JavaScript on the main
 * thread only and these steps are synchronous, so nothing else ever runs in the borrowed namespace.
 */

const libc = koffi.load('libc.so.6');
const c = {
  unshare: libc.func('int unshare(int flags)'),
  setns: libc.func('int setns(int fd, int nstype)'),
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
};
const CLONE_NEWNET = 0x40000000;
const MS_BIND = 0x1000;
const MNT_DETACH = 0x2;

let hostNs: number | undefined;

function fail(call: string, target: string): never {
  const errno = koffi.errno();
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  throw internal(`${call} ${target}: ${code}`);
}

/** The daemon's own network namespace, opened once. */
function home(): number {
  hostNs ??= openSync('/proc/self/ns/net', 'r');
  return hostNs;
}

function goHome(): void {
  if ((c.setns(home(), CLONE_NEWNET) as number) !== 0) {
    // The daemon cannot run on in a container's namespace.
    process.stderr.write('pierd: could not return to its own network namespace\n');
    process.abort();
  }
}

/** Create a new network namespace (only loopback, down) kept alive by a bind mount at `path`. */
export function createNetns(path: string): void {
  home();
  writeFileSync(path, '', { mode: 0o444 });
  if ((c.unshare(CLONE_NEWNET) as number) !== 0) fail('unshare(CLONE_NEWNET) for', path);
  try {
    if ((c.mount('/proc/thread-self/ns/net', path, null, MS_BIND, null) as number) !== 0) fail('bind mount of a network namespace on', path);
  } finally {
    goHome();
  }
}

/** Remove a namespace made by createNetns (its interfaces go with it). Missing is not an error. */
export function removeNetns(path: string): void {
  if ((c.umount2(path, MNT_DETACH) as number) !== 0) {
    const errno = koffi.errno();
    // EINVAL: not a mount point (already unmounted); ENOENT: gone.
    if (errno !== 22 && errno !== 2) fail('umount', path);
  }
  try {
    rmSync(path, { force: true });
  } catch (err) {
    if (errnoCode(err) !== 'EBUSY') throw err;
  }
}

/**
 * Run `cmd` inside the namespace at `path` (the child is forked while the main thread is in
 * it, so no nsenter is needed); resolves with stdout, rejects (`internal`) with stderr.
 */
export function execIn(path: string, cmd: string, args: string[], input: string): Promise<string> {
  const fd = openSync(path, 'r');
  let child;
  try {
    home();
    if ((c.setns(fd, CLONE_NEWNET) as number) !== 0) fail('setns', path);
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } finally {
      goHome();
    }
  } finally {
    closeSync(fd);
  }
  const proc = child;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    proc.once('error', (e) => reject(internal(`${cmd}: ${e.message}`, e)));
    proc.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(internal(`${cmd} ${args.join(' ')} in ${path}: ${Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`}`));
    });
    proc.stdin.end(input);
  });
}
