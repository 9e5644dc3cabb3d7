import { spawn } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errnoCode, internal } from '../errors.js';
import { log } from '../log.js';
import * as libc from '../util/libc.js';

/**
 * Mounts for rootfs and volumes: overlayfs, bind mounts, unmount. Mounting calls mount(2)
 * directly (through koffi: no process spawned, about a millisecond), except for an overlay
 * whose option string does not fit the one page the kernel reads (4095 bytes): that one is
 * mounted by `mount(8)` run in `cwd`, so that its lower dirs can be given as short relative
 * paths. Errors are `internal` with the errno and the target in the message.
 */

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MNT_DETACH = 0x2;

/** The longest option string mount(2) accepts: one page, NUL included. */
export const MAX_MOUNT_DATA = 4095;

export interface OverlayDirs {
  /** Lower dirs, top-most first. At least one. */
  lowerDirs: readonly string[];
  /** Upper and work dir; both or neither (neither: a read-only overlay of the lowers). */
  upperDir?: string;
  workDir?: string;
}

export interface OverlayMountOptions {
  readonly?: boolean;
  /**
   * Resolve relative dirs against this folder: the mount is then made by `mount(8)` run in
   * it (mount(2) from Node would resolve them against the daemon's cwd).
   */
  cwd?: string;
}

/**
 * The overlayfs option string for `dirs`. pier always mounts with `index=off` (layers are
 * shared between many mounts), `redirect_dir=off` (a renamed lower dir is copied, so a diff
 * of the upper dir alone is complete) and `metacopy=off` (every changed file is whole in upper).
 */
export function overlayOptions(dirs: OverlayDirs): string {
  if (dirs.lowerDirs.length === 0) throw internal('overlay mount needs at least one lower dir');
  if ((dirs.upperDir === undefined) !== (dirs.workDir === undefined)) throw internal('overlay mount needs both upperdir and workdir, or neither');
  let opts = `lowerdir=${dirs.lowerDirs.map(escapeOverlayPath).join(':')}`;
  if (dirs.upperDir !== undefined && dirs.workDir !== undefined) {
    opts += `,upperdir=${escapeOverlayPath(dirs.upperDir)},workdir=${escapeOverlayPath(dirs.workDir)}`;
  }
  return `${opts},index=off,redirect_dir=off,metacopy=off`;
}

/** Mount an overlay of `dirs` at `target`. Fails (`internal`) when the options exceed a page and no cwd is given. */
export async function mountOverlay(target: string, dirs: OverlayDirs, opts: OverlayMountOptions = {}): Promise<void> {
  const data = overlayOptions(dirs);
  const flags = opts.readonly ? MS_RDONLY : 0;
  if (opts.cwd !== undefined) {
    await mountCommand(['-t', 'overlay', 'overlay', '-o', opts.readonly ? `ro,${data}` : data, resolve(target)], opts.cwd);
    return;
  }
  if (Buffer.byteLength(data) > MAX_MOUNT_DATA) {
    throw internal(`mount overlay on ${target}: ${dirs.lowerDirs.length} lower dirs make options longer than ${MAX_MOUNT_DATA} bytes`);
  }
  try {
    libc.mount('overlay', target, 'overlay', flags, data);
  } catch (err) {
    throw internal(`mount overlay on ${target}: ${messageOf(err)}`, err);
  }
}

/** Bind-mount `source` at `target` (recursively with `recursive`), read-only with `readonly`. */
export async function bindMount(source: string, target: string, opts: { readonly?: boolean; recursive?: boolean } = {}): Promise<void> {
  const flags = MS_BIND | (opts.recursive ? MS_REC : 0);
  try {
    libc.mount(source, target, null, flags, null);
  } catch (err) {
    throw internal(`bind mount ${source} on ${target}: ${messageOf(err)}`, err);
  }
  if (opts.readonly) {
    try {
      libc.mount('none', target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | (opts.recursive ? MS_REC : 0), null);
    } catch (err) {
      await unmount(target);
      throw internal(`remount ${target} read-only: ${messageOf(err)}`, err);
    }
  }
  return Promise.resolve();
}

/**
 * Unmount `target`. A target that is not mounted (or does not exist) is not an error. When the
 * mount is busy, it is detached instead (MNT_DETACH: gone from the tree now, released when its
 * last user goes); `detach` asks for that at once.
 */
export async function unmount(target: string, opts: { detach?: boolean } = {}): Promise<void> {
  try {
    libc.umount2(target, opts.detach ? MNT_DETACH : 0);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EINVAL' || code === 'ENOENT') return;
    if (code === 'EBUSY' && !opts.detach) {
      log.warn({ target }, 'mount busy: detaching it');
      await unmount(target, { detach: true });
      return;
    }
    throw internal(`unmount ${target}: ${messageOf(err)}`, err);
  }
  return Promise.resolve();
}

/** Whether `path` is a mount point in this process's mount namespace. */
export async function isMountPoint(path: string): Promise<boolean> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint !== undefined && unescapeMountInfo(mountPoint) === real) return true;
  }
  return false;
}

function escapeOverlayPath(p: string): string {
  return p.replace(/[\\,:]/g, (ch) => `\\${ch}`);
}

function unescapeMountInfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function mountCommand(args: string[], cwd: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('mount', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      reject(internal(`mount ${args.at(-1) ?? ''}: ${err.message}`, err));
    });
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(internal(`mount ${args.at(-1) ?? ''}: mount exited ${code ?? 'on a signal'}: ${stderr.trim()}`));
    });
  });
}
