import { mkdir } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { RootDir } from '../archive/root-dir.js';
import { isMountPoint } from '../snapshots/mount.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { isRunning } from './core.js';
import type { ContainerRecord } from './types.js';

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
 * rest where the container has them; a stopped one's rootfs, mounted for the view.
 */
export async function containerView(rec: ContainerRecord, snapshots: Snapshotter): Promise<ContainerView> {
  if (isRunning(rec.State.Status) && rec.State.Pid > 0) {
    try {
      const root = RootDir.open(`/proc/${rec.State.Pid}/root`);
      return { root, close: () => Promise.resolve(root.close()) };
    } catch (err) {
      // The process ended an instant ago (its exit is being recorded): its rootfs is still there.
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ESRCH') throw err;
    }
  }
  return rootfsView(rec, snapshots);
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
