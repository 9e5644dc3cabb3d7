import { isKind } from '../errors.js';
import { log } from '../log.js';
import type { NetworkService } from '../networks/networks.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';
import { mark } from '../util/trace.js';

/** What a container's removal gives back beyond its own layer and record. */
export interface RemovalHooks {
  /** The container's volumes are no longer used by it; `anonymous`: remove its anonymous ones too. */
  releaseVolumes?(rec: ContainerRecord, anonymous: boolean): Promise<void>;
  /** A run of the container ended (its processes are gone): the volumes mounted for it are unmounted for it. */
  unmountVolumes?(rec: ContainerRecord): Promise<void>;
  /** After a container is removed (the images part frees layers of images deleted while in use). */
  afterRemove?(): void;
}

/**
 * Giving back what a container holds, in two steps that each happen once:
 *
 * - `releaseRun`: after its process ended, what the run held (the runtime's container, the
 *   rootfs mount, the network endpoint) goes, side by side. A second call for the same run
 *   (the exit handler, then an auto-removal) waits for the first instead of repeating it.
 * - `remove`: the record says `removing` on disk before anything is torn down, each step
 *   accepts that its object is gone already (a crash may have interrupted an earlier try),
 *   and the record goes last; pierd's start finishes a removal found half-done.
 */
export class Teardown {
  /** Runs whose release has begun, by container ID (true once every step succeeded); cleared when the container runs again. */
  private readonly releases = new Map<string, Promise<boolean>>();

  constructor(
    private readonly core: ContainerCore,
    private readonly runtime: ContainerRuntime,
    private readonly snapshots: Snapshotter,
    private readonly networks: NetworkService,
    private readonly hooks: RemovalHooks,
  ) {}

  /** The container runs again: its next exit has a release of its own. */
  newRun(rec: ContainerRecord): void {
    this.releases.delete(rec.Id);
  }

  /** Release what the last run held; never rejects (a failed step is logged, and the removal tries it again). */
  async releaseRun(rec: ContainerRecord): Promise<void> {
    let release = this.releases.get(rec.Id);
    if (!release) {
      release = this.release(rec).then(
        () => true,
        (err: unknown) => {
          log.warn({ err, id: rec.Id }, 'releasing what an exited container held');
          return false;
        },
      );
      this.releases.set(rec.Id, release);
    }
    await release;
  }

  /** The runtime's container (then its volumes' mounts), the rootfs mount and the network endpoint go, side by side; each step is idempotent. */
  private async release(rec: ContainerRecord): Promise<void> {
    const results = await Promise.allSettled([
      this.runtime.delete(rec.Id, { force: true }).then(() => this.hooks.unmountVolumes?.(rec)),
      this.snapshots.unmount(rec.RootfsPath),
      this.networks.disconnect(this.core.endpointRequest(rec)),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The volumes mounted for a run that did not start; never rejects (the failure is logged). */
  async unmountVolumes(rec: ContainerRecord): Promise<void> {
    await this.hooks.unmountVolumes?.(rec).catch((err: unknown) => log.warn({ err, id: rec.Id }, 'unmounting the volumes of a failed start'));
  }

  /**
   * Remove a container whose process does not run; the caller holds its lock. Rejects, with
   * the record left `removing`, when a step fails for another reason than its object being
   * gone: a later removal (or pierd's next start) tries again.
   */
  async remove(rec: ContainerRecord, opts: { volumes: boolean }): Promise<void> {
    if (rec.State.Status !== 'removing') {
      rec.State.Status = 'removing';
      rec.State.RemoveVolumes = opts.volumes;
      await this.core.store.save(rec);
    }
    // What the run held first, unless its release already succeeded (a crash may have left the
    // runtime's container or the mount): the writable layer can go only once it is unmounted.
    if (!(await this.releases.get(rec.Id))) await this.release(rec);
    mark(rec.Id, 'remove: marked, released');
    await this.snapshots.removeActive(rec.SnapshotKey).catch(gone);
    mark(rec.Id, 'remove: layer removed');
    await this.hooks.releaseVolumes?.(rec, opts.volumes || (rec.State.RemoveVolumes ?? false));
    this.releases.delete(rec.Id);
    await this.core.store.remove(rec);
    mark(rec.Id, 'remove: record removed');
    this.core.emit('destroy', rec);
    this.core.removed(rec.Id);
    this.hooks.afterRemove?.();
  }
}

/** A teardown step whose object is already gone has nothing left to do. */
function gone(err: unknown): void {
  if (!isKind(err, 'notFound')) throw err;
}
