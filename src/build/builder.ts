import { mkdir, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image, Lease } from '../images/images.js';
import { familiarName, parseReference, shortId, withDefaultTag } from '../images/reference.js';
import type { History } from '../images/types.js';
import { log } from '../log.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { Build, BuildCacheUsage, BuilderDeps, BuildImages, BuildOptions, BuildOutput, PullFn } from './build.js';
import { BuildRun } from './build-run.js';
import { BuildCache } from './cache.js';
import { cacheUsage, pruneCache } from './cache-usage.js';
import type { BuildContext } from './context.js';
import { withRootfs } from './layers.js';
import { parseDockerfile, type Dockerfile } from './parser.js';
import { runContainer } from './run-container.js';
import { planStages, type Stage } from './stages.js';
import { commitImage } from './step-image.js';
import type { BuildContainerSpec, BuildHost, StageState, StepLayer } from './step.js';

/**
 * The classic builder: the build part's roles (`build.ts`) over the image store, the
 * snapshotter and the runtime, and the BuildHost its builds run on. It owns `<root>/build`
 * (the cache file, mount points, cache mounts, temp folders) and the build containers' state
 * under `execDir`; each build is a BuildRun of its own.
 */
export class Builder implements Build, BuildHost {
  readonly cache: BuildCache;
  readonly images: BuildImages;
  /** Set by the engine once a registry client exists: FROM pulls missing images (and all with --pull). */
  pull: PullFn | undefined;
  private readonly snapshots: Snapshotter;
  private readonly runtime: ContainerRuntime;

  constructor(private readonly deps: BuilderDeps) {
    this.images = deps.images;
    this.snapshots = deps.snapshots;
    this.runtime = deps.runtime;
    this.cache = new BuildCache(deps.dir);
  }

  /** Load the cache and remove what a build cut short by a crash left (mounts, temp dirs, writable layers). */
  async init(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 });
    await this.cache.load();
    // Build containers a killed daemon left running (each has its log folder under execDir).
    for (const id of await readdir(this.deps.execDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      await this.runtime.delete(id, { force: true }).catch((err: unknown) => log.warn({ err, id }, 'build container left over'));
      await rm(join(this.deps.execDir, id), { recursive: true, force: true });
    }
    const mnt = join(this.deps.dir, 'mnt');
    for (const name of await readdir(mnt).catch(() => [] as string[])) {
      await this.snapshots.unmount(join(mnt, name)).catch((err: unknown) => log.warn({ err, name }, 'build mount left over'));
      await rmdir(join(mnt, name)).catch(() => undefined);
      await this.snapshots.removeActive(name).catch(() => undefined);
    }
    await rm(join(this.deps.dir, 'tmp'), { recursive: true, force: true });
  }

  /** A temp folder under `<root>/build/tmp` (contexts, downloads); the caller removes it. */
  async tempDir(prefix: string): Promise<string> {
    const tmp = join(this.deps.dir, 'tmp');
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    return mkdtemp(join(tmp, prefix));
  }

  /** Where `RUN --mount=type=cache` folders live, one folder a mount. */
  get cacheMountsDir(): string {
    return join(this.deps.dir, 'cache-mounts');
  }

  get contextParent(): string {
    return join(this.deps.dir, 'tmp');
  }

  async prepare(context: BuildContext, opts: BuildOptions): Promise<{ dockerfile: Dockerfile; stages: Stage[] }> {
    const text = opts.dockerfileText ?? (await context.readDockerfile(opts.dockerfile));
    const dockerfile = parseDockerfile(text);
    const stages = planStages(dockerfile, opts.target);
    return { dockerfile, stages };
  }

  async build(context: BuildContext, opts: BuildOptions, out: BuildOutput): Promise<string> {
    const { dockerfile, stages } = await this.prepare(context, opts);
    const run = new BuildRun(this, context, opts, out, dockerfile, stages);
    let id: string;
    try {
      id = await run.execute();
    } catch (err) {
      if (opts.quiet && run.quietBuffer.length > 0) out.stream(run.quietBuffer.join(''));
      throw err;
    }
    out.aux({ ID: id });
    if (!opts.quiet) out.stream(`Successfully built ${shortId(id)}\n`);
    for (const t of opts.tags) {
      await this.images.setTag(t, id, 'build');
      if (!opts.quiet) out.stream(`Successfully tagged ${familiarTag(t)}\n`);
    }
    if (opts.quiet) out.stream(`${id}\n`);
    return id;
  }

  usage(): Promise<BuildCacheUsage[]> {
    return cacheUsage({ images: this.images, cache: this.cache, mountsDir: this.cacheMountsDir });
  }

  prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    return pruneCache({ images: this.images, cache: this.cache, mountsDir: this.cacheMountsDir });
  }

  commitImage(state: StageState, history: History, layer?: StepLayer): Promise<Image> {
    return commitImage(this.images, state, history, layer);
  }

  withRootfs<T>(parent: string | null, lease: Lease | null, fn: (rootfs: string, key: string) => Promise<T>, keep?: (result: T) => boolean): Promise<{ result: T; layer?: StepLayer }> {
    return withRootfs({ images: this.images, snapshots: this.snapshots, dir: this.deps.dir }, parent, lease, fn, keep);
  }

  runContainer(spec: BuildContainerSpec, rootfs: string, onStart: (id: string) => void, onOutput: (chunk: Buffer) => void): Promise<number> {
    return runContainer({ runtime: this.runtime, execDir: this.deps.execDir, networks: this.deps.networks }, spec, rootfs, onStart, onOutput);
  }
}

/** A tag as Docker's `Successfully tagged` line shows it (`busybox:latest`). */
function familiarTag(t: string): string {
  return familiarName(withDefaultTag(parseReference(t)));
}
