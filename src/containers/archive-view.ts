import { closeSync, constants as fsc, readlinkSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { errnoCode, withContext } from '../errors.js';
import { at, closeLocation, fdPath, lstatAt, openAt, openDirAt, RootDir } from '../archive/root-dir.js';
import { log } from '../log.js';
import type { Mount } from '../runtime/runtime.js';
import * as libc from '../snapshots/libc.js';
import { bindMount, isMountPoint, MS_BIND, MS_RDONLY, MS_REMOUNT, unmount } from '../snapshots/mount.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { isRunning } from './core.js';
import type { ContainerRecord } from './types.js';

/** The container's mounts, as its start would give them to the runtime. */
export type MountsOf = (rec: ContainerRecord) => Promise<Mount[]>;

/**
 * A container's files, opened for `docker cp` and `docker export`: a RootDir and what closes
 * it. The caller holds the container's lock from open to close, so the container neither
 * starts nor stops its mounts meanwhile.
 */
export interface ContainerView {
  root: RootDir;
  /** Close the root; a rootfs mounted for the view is unmounted. */
  close(): Promise<void>;
}

/**
 * The files as the container sees them (`docker cp`): a running container's through its
 * own mount namespace (`/proc/<pid>/root`), with its volumes, bind mounts, /etc/hosts and the
 * rest where the container has them; a stopped one's rootfs, mounted for the view, with its
 * bind mounts and volumes (`mountsOf`) bound where the container has them, as Docker's view
 * does, so that a copy into a stopped container's volume lands in the volume. (Its tmpfs
 * mounts are not made: what is copied there lands in the rootfs, under the tmpfs.)
 */
export async function containerView(rec: ContainerRecord, snapshots: Snapshotter, mountsOf: MountsOf): Promise<ContainerView> {
  if (isRunning(rec.State.Status) && rec.State.Pid > 0) {
    try {
      const root = RootDir.open(`/proc/${rec.State.Pid}/root`);
      return { root, close: () => Promise.resolve(root.close()) };
    } catch (err) {
      // The process ended an instant ago (its exit is being recorded): its rootfs is still there.
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ESRCH') throw err;
    }
  }
  const view = await rootfsView(rec, snapshots);
  let bound: string[] = [];
  try {
    bound = await bindInto(view.root, rec.RootfsPath, (await mountsOf(rec)).filter((m) => m.type === 'bind'));
  } catch (err) {
    await view.close();
    throw err;
  }
  return {
    root: view.root,
    close: async () => {
      for (const target of bound.reverse()) await unmount(target, { detach: true });
      await view.close();
    },
  };
}

/**
 * Bind each mount's source at its destination inside `root` (mounted at `rootPath`), parents
 * first. A destination is resolved inside the root and made when missing (a folder, or an
 * empty file for a file source), as the runtime does at start; the bind is made on the open
 * destination (`/proc/self/fd/<fd>`), never on a path a symlink could redirect. Returns the
 * host paths bound, for unmounting; on failure, what was bound is unmounted.
 */
async function bindInto(root: RootDir, rootPath: string, mounts: Mount[]): Promise<string[]> {
  const depth = (p: string): number => p.split('/').filter(Boolean).length;
  const bound: string[] = [];
  try {
    for (const m of [...mounts].sort((a, b) => depth(a.destination) - depth(b.destination))) {
      const dir = statSync(m.source).isDirectory();
      const loc = root.locate(m.destination, { follow: true, create: {} });
      try {
        if (loc.name !== null && !lstatOrMissing(loc)) {
          if (dir) await mkdir(at(loc.dirFd, loc.name), { mode: 0o755 });
          else closeSync(openAt(loc.dirFd, loc.name, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644));
        }
        const fd = dir ? openDirAt(loc) : openAt(loc.dirFd, loc.name ?? '.', fsc.O_RDONLY | fsc.O_NONBLOCK);
        try {
          const real = readlinkSync(fdPath(fd));
          if (!real.startsWith(`${rootPath}/`)) throw new Error(`mount ${m.destination} resolved outside the rootfs (${real})`);
          // The bind is made on the open destination; the kernel refuses a remount through
          // /proc/self/fd, so a read-only one goes to the path the bind has (nothing runs
          // in the container to change it).
          await bindMount(m.source, fdPath(fd), { recursive: !(m.options ?? []).includes('bind') });
          bound.push(real);
          if ((m.options ?? []).includes('ro')) libc.mount('none', real, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null);
        } finally {
          closeSync(fd);
        }
      } finally {
        closeLocation(loc);
      }
    }
  } catch (err) {
    for (const target of bound.reverse()) await unmount(target, { detach: true }).catch((e: unknown) => log.warn({ err: e, target }, 'unmounting a copy\'s bind'));
    throw withContext('mounting the container\'s volumes for the copy', err);
  }
  return bound;
}

function lstatOrMissing(loc: Parameters<typeof lstatAt>[0]): boolean {
  try {
    lstatAt(loc);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The container's own filesystem, its image's layers and its writable layer, without what is
 * mounted in it (`docker export`): its rootfs mount, mounted for the view when the container
 * does not run.
 */
export async function rootfsView(rec: ContainerRecord, snapshots: Snapshotter): Promise<ContainerView> {
  if (await isMountPoint(rec.RootfsPath)) {
    const root = RootDir.open(rec.RootfsPath);
    return { root, close: () => Promise.resolve(root.close()) };
  }
  await mkdir(rec.RootfsPath, { recursive: true });
  await snapshots.mount(rec.SnapshotKey, rec.RootfsPath);
  let root: RootDir;
  try {
    root = RootDir.open(rec.RootfsPath);
  } catch (err) {
    await snapshots.unmount(rec.RootfsPath);
    throw err;
  }
  return {
    root,
    close: async () => {
      root.close();
      await snapshots.unmount(rec.RootfsPath);
    },
  };
}
