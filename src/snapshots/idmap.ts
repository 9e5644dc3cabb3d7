import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, writeFileSync } from 'node:fs';
import { lchown, mkdir, readdir, readFile, rmdir } from 'node:fs/promises';
import { errnoCode, internal, unavailable } from '../errors.js';
import { log } from '../log.js';
import type { IdMap } from '../util/idmap.js';
import { calls, sysError } from '../util/libc.js';
import { mountOverlay, unmount, type OverlayDirs } from './mount.js';

/**
 * Idmapped layers: an overlay whose lower dirs are seen through a user namespace's ID
 * mapping (mount_setattr(MOUNT_ATTR_IDMAP), Linux 5.12; overlayfs takes idmapped layers
 * since 5.19), so that a layer's files owned by 0 on disk appear owned by the container's
 * root (`map.uid`) on the host, and by 0 inside the container, without a copy or a chown.
 *
 * For each mount, every lower dir is cloned (open_tree), idmapped, attached for a moment
 * under `scratch` (overlayfs takes its layers by path, and only from mounts of its own mount
 * namespace), the overlay is mounted, and the clones are detached again: overlayfs holds
 * private copies of its layers, so nothing is left to clean up but the overlay itself. The
 * user namespace that carries a mapping is made once per mapping and kept open (a file
 * descriptor; a namespace without processes costs the kernel a few hundred bytes).
 *
 * The upper dir stays as it is: what the container writes lands on disk with its host IDs.
 */

const c = calls;

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const MOUNT_ATTR_IDMAP = 0x100000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_SIZE_VER0 = 32;

export class IdmappedLayers {
  /** User namespaces carrying a mapping, by `uid:gid:size`. */
  private readonly namespaces = new Map<string, Promise<number>>();

  /** `scratch`: a folder of pier's own where layers are attached for the moment of a mount. */
  constructor(private readonly scratch: string) {}

  /** Detach what a crash left attached under the scratch folder and remove its empty folders (never anything under a mount). */
  async recover(): Promise<void> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    const prefix = `${this.scratch}/`;
    for (const line of info.split('\n')) {
      const point = line.split(' ')[4];
      if (point?.startsWith(prefix)) await unmount(point, { detach: true });
    }
    for (const name of await readdir(this.scratch).catch(() => [] as string[])) {
      const dir = `${this.scratch}/${name}`;
      for (const layer of await readdir(dir).catch(() => [] as string[])) await rmdir(`${dir}/${layer}`).catch(() => undefined);
      await rmdir(dir).catch((err: unknown) => log.warn({ err, dir }, 'idmapped layers: a scratch folder stays'));
    }
  }

  /**
   * Mount the overlay of `dirs` at `target` with its lower dirs seen through `map`. Fails with
   * `unavailable` where the kernel or a layer's filesystem cannot idmap a mount.
   */
  async mountOverlay(target: string, dirs: OverlayDirs, map: IdMap): Promise<void> {
    const nsFd = await this.userns(map);
    const dir = `${this.scratch}/${randomBytes(6).toString('hex')}`;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const attached: string[] = [];
    try {
      for (const [i, lower] of dirs.lowerDirs.entries()) {
        const at = `${dir}/${i}`;
        await mkdir(at);
        attachIdmapped(lower, at, nsFd);
        attached.push(at);
      }
      await mountOverlay(target, { ...dirs, lowerDirs: attached });
    } finally {
      for (const at of attached) await unmount(at, { detach: true });
      for (const name of await readdir(dir)) await rmdir(`${dir}/${name}`);
      await rmdir(dir);
    }
  }

  /**
   * Whether overlayfs takes idmapped lower dirs here: an overlay of a one-file layer made in
   * `work` (an empty folder of pier's on the layers' filesystem; the caller removes it) is
   * mounted through `map`, and its file must show the mapped owner. Resolves to null when it
   * does, else to the reason; never rejects.
   */
  async probe(work: string, map: IdMap): Promise<string | null> {
    const merged = `${work}/merged`;
    try {
      await Promise.all(['lower', 'upper', 'work', 'merged'].map((d) => mkdir(`${work}/${d}`)));
      writeFileSync(`${work}/lower/f`, '');
      await this.mountOverlay(merged, { lowerDirs: [`${work}/lower`], upperDir: `${work}/upper`, workDir: `${work}/work` }, map);
      try {
        const st = lstatSync(`${merged}/f`);
        return st.uid === map.uid && st.gid === map.gid ? null : `a file owned by 0 shows ${st.uid}:${st.gid}, not ${map.uid}:${map.gid}`;
      } finally {
        await unmount(merged, { detach: true });
      }
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** The user namespace whose mapping is `map`, made on first use. */
  private userns(map: IdMap): Promise<number> {
    const key = `${map.uid}:${map.gid}:${map.size}`;
    let fd = this.namespaces.get(key);
    if (fd === undefined) {
      fd = makeUserns(map);
      this.namespaces.set(key, fd);
      fd.catch(() => this.namespaces.delete(key));
    }
    return fd;
  }
}

/**
 * Give the root folder `dir` of a writable layer the owner its image's root has inside the
 * container (`0` on disk becomes `map.uid`): done once, when a layer made for the host is
 * first mounted for a container with a user namespace. An owner inside the range stays.
 */
export async function shiftRootOwner(dir: string, map: IdMap): Promise<void> {
  const st = lstatSync(dir);
  const inRange = (id: number, base: number) => id >= base && id < base + map.size;
  if (inRange(st.uid, map.uid) && inRange(st.gid, map.gid)) return;
  const shift = (id: number, base: number) => (id < map.size ? base + id : base);
  await lchown(dir, shift(st.uid, map.uid), shift(st.gid, map.gid));
}

/** Clone the tree at `source`, idmap it through the namespace `nsFd` and attach it at `at`. */
function attachIdmapped(source: string, at: string, nsFd: number): void {
  const fd = c.open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) throw unsupported(sysError('open_tree', source));
  try {
    const attr = { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: nsFd };
    if (c.mount_setattr(fd, '', AT_EMPTY_PATH, attr, MOUNT_ATTR_SIZE_VER0) !== 0) throw unsupported(sysError('mount_setattr(MOUNT_ATTR_IDMAP)', source));
    if (c.move_mount(fd, '', AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) !== 0) throw internal(`idmapped layer ${source}: ${sysError('move_mount', at).message}`);
  } finally {
    closeSync(fd);
  }
}

function unsupported(err: NodeJS.ErrnoException): Error {
  const code = err.code ?? '';
  if (['EINVAL', 'ENOSYS', 'EPERM', 'EOPNOTSUPP', 'ENOTSUP'].includes(code)) {
    return unavailable(`idmapped layers are not supported here (${err.message}): user namespaces need Linux 5.19 or later on a filesystem that idmaps mounts (ext4, xfs, btrfs)`, err);
  }
  return internal(`idmapped layer: ${err.message}`, err);
}

/**
 * A user namespace with `map` as its uid and gid mappings, kept by an open descriptor: a
 * short-lived `unshare --user` whose mappings pierd writes (as root in the parent namespace),
 * then opens, and lets go.
 */
function makeUserns(map: IdMap): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--user', '--', 'sh', '-c', 'echo ready && exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let settled = false;
    const done = (err: Error | undefined, fd?: number): void => {
      if (settled) return;
      settled = true;
      child.stdin.end();
      if (err) reject(err);
      else resolve(fd!);
    };
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => done(internal(`unshare --user: ${err.message}`, err)));
    child.once('close', (code) => done(internal(`unshare --user exited ${code ?? 'on a signal'}: ${stderr.trim()}`)));
    child.stdout.once('data', () => {
      try {
        const pid = child.pid!;
        writeFileSync(`/proc/${pid}/uid_map`, `0 ${map.uid} ${map.size}\n`);
        writeFileSync(`/proc/${pid}/gid_map`, `0 ${map.gid} ${map.size}\n`);
        done(undefined, openSync(`/proc/${pid}/ns/user`, 'r'));
      } catch (err) {
        done(internal(`user namespace for ${map.uid}:${map.gid}:${map.size}: ${errnoCode(err) ?? ''} ${(err as Error).message}`, err));
      }
    });
  });
}
