import { MOUNT_POINTS, type ContainerLifecycle, type ContainerReader } from '../containers/containers.js';
import { conflict } from '../errors.js';
import { applyChanges } from '../images/changes.js';
import type { Image, ImageService } from '../images/images.js';
import { referenceString, repoTagReference } from '../images/reference.js';
import type { ImageConfig, OciImage } from '../images/types.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';

/**
 * `docker commit` (`POST /commit`): a container's writable layer becomes a new image on top
 * of the container's image, through the same diff (snapshots.diff) and ingest as a build's
 * RUN. A running container is paused while its layer is read (unless `pause` is false). The
 * mount points pier made in the layer (MOUNT_POINTS) are not part of the new layer, as with
 * Docker.
 */

export interface CommitOptions {
  container: string;
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  pause: boolean;
  changes: string[];
  /** The request body's Config: fields given override the container's. */
  config?: ImageConfig | null;
}

export interface CommitDeps {
  images: ImageService;
  snapshots: Snapshotter;
  containers: { reader: ContainerReader; lifecycle: Pick<ContainerLifecycle, 'pause' | 'unpause'> };
}

const CONFIG_FIELDS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell'] as const;

export async function commitContainer(deps: CommitDeps, opts: CommitOptions): Promise<Image> {
  // Everything the request says is checked before any layer is read.
  const ref = repoTagReference(opts.repo, opts.tag);
  const rec = deps.containers.reader.get(opts.container);
  const base = await deps.images.get(rec.Image);
  const baseConfig = await deps.images.config(base);
  const fromContainer: Record<string, unknown> = {};
  const recConfig = rec.Config as unknown as Record<string, unknown>;
  for (const f of CONFIG_FIELDS) if (recConfig[f] !== undefined) fromContainer[f] = recConfig[f];
  const fromBody: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const v = (opts.config)?.[f];
    if (v !== undefined && v !== null) fromBody[f] = v;
  }
  const config = applyChanges({ ...(baseConfig.config ?? {}), ...fromContainer, ...fromBody }, opts.changes);

  const status = rec.State.Status;
  if (status === 'removing' || status === 'dead') throw conflict(`container ${rec.Id} is being removed`);
  let paused = false;
  if (opts.pause && status === 'running') {
    await deps.containers.lifecycle.pause(rec.Id);
    paused = true;
  }
  const lease = deps.images.lease();
  try {
    let layer;
    try {
      layer = await deps.images.ingestLayer(deps.images.topChainId(base), deps.snapshots.diff(rec.SnapshotKey, { placeholders: MOUNT_POINTS }), { lease });
    } finally {
      if (paused) await deps.containers.lifecycle.unpause(rec.Id);
    }
    const created = new Date().toISOString();
    const image: OciImage = {
      ...baseConfig,
      created,
      config,
      rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, layer.diffId] },
      history: [
        ...(baseConfig.history ?? []),
        {
          created,
          created_by: [rec.Path, ...rec.Args].join(' '),
          ...(opts.author ? { author: opts.author } : {}),
          ...(opts.comment ? { comment: opts.comment } : {}),
        },
      ],
    };
    delete image.author;
    delete image.comment;
    if (opts.author) image.author = opts.author;
    if (opts.comment) image.comment = opts.comment;
    const out = await deps.images.createImage({ config: image, layers: [...base.layers, layer.descriptor], parent: base.id });
    if (ref) await deps.images.setTag(referenceString(ref), out.id, 'commit');
    return out;
  } finally {
    lease.release();
  }
}
