import { randomBytes } from 'node:crypto';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MOUNT_POINTS } from '../containers/containers.js';
import type { Lease } from '../images/images.js';
import { log } from '../log.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { BuildImages } from './build.js';
import type { StepLayer } from './step.js';

/**
 * A step's writable root filesystem: a snapshot over the stage's chain, mounted under
 * `<root>/build/mnt/<key>` while the step writes, whose diff becomes the step's layer. A
 * crash leaves the mount and the snapshot behind; the Builder's `init` removes them.
 */

export interface LayerDeps {
  images: BuildImages;
  snapshots: Snapshotter;
  /** `<root>/build`. */
  dir: string;
}

/** BuildHost.withRootfs: `fn` on a mounted writable snapshot over `parent`; its diff as a layer when leased and kept. */
export async function withRootfs<T>(
  deps: LayerDeps,
  parent: string | null,
  lease: Lease | null,
  fn: (rootfs: string, key: string) => Promise<T>,
  keep: (result: T) => boolean = () => true,
): Promise<{ result: T; layer?: StepLayer }> {
  const key = `build-${randomBytes(12).toString('hex')}`;
  const target = join(deps.dir, 'mnt', key);
  await mkdir(target, { recursive: true });
  let prepared = false;
  let mounted = false;
  try {
    await deps.snapshots.prepare(key, parent);
    prepared = true;
    await deps.snapshots.mount(key, target);
    mounted = true;
    const result = await fn(target, key);
    await deps.snapshots.unmount(target);
    mounted = false;
    if (!lease || !keep(result)) return { result };
    // The files a build container gets mounted (/etc/hosts with --add-host) stay out of the layer,
    // as Docker keeps them in an init layer.
    const layer = await deps.images.ingestLayer(parent, deps.snapshots.diff(key, { placeholders: MOUNT_POINTS }), { lease });
    return { result, layer };
  } finally {
    if (mounted) await deps.snapshots.unmount(target).catch((err: unknown) => log.warn({ err, key }, 'build unmount'));
    if (prepared) await deps.snapshots.removeActive(key).catch((err: unknown) => log.warn({ err, key }, 'build snapshot removal'));
    await rmdir(target).catch(() => undefined);
  }
}
