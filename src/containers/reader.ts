import { EngineError } from '../errors.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { ContainerReader, ContainerView, ImageLookup, ListQuery } from './containers.js';
import { isLive, type ContainerCore } from './core.js';
import { filterContainers } from './filters.js';
import { linkNamesOf, linksShown } from './links.js';
import { containerInspect, containerSummary, type InspectExtras } from './inspect.js';

/** Reading containers, in Docker's shapes. Reads only: never changes a record. */
export class Reader implements ContainerReader {
  constructor(
    private readonly core: ContainerCore,
    private readonly images: ImageLookup,
    private readonly snapshots: Snapshotter,
    /** What inspect shows beyond the record: the runtime's name, the exec sessions, the mounts. */
    private readonly extras: (c: ContainerView) => Omit<InspectExtras, 'sizeRw' | 'sizeRootFs'>,
  ) {}

  get(ref: string): ContainerView {
    return this.core.store.get(ref);
  }

  find(ref: string): ContainerView | undefined {
    return this.core.store.find(ref);
  }

  all(): ContainerView[] {
    return this.core.store.all().sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
  }

  async list(query: ListQuery): Promise<Array<Record<string, unknown>>> {
    const f = query.filters;
    let list = this.all();
    if (!query.all && query.limit <= 0 && !f.has('status') && !f.has('exited')) list = list.filter((c) => isLive(c.State.Status));
    list = await filterContainers(list, f, {
      imageIdOf: (name) => this.images.idOf(name),
      createdOf: (ref) => this.get(ref).Created,
    });
    if (query.limit > 0) list = list.slice(0, query.limit);
    const out = [];
    const everyone = this.core.store.all();
    for (const c of list) {
      out.push(containerSummary(c, { ...this.extras(c), linkNames: linkNamesOf(c, everyone) }, query.size ? await this.sizeOf(c) : undefined));
    }
    return out;
  }

  async inspect(ref: string, opts: { size?: boolean } = {}): Promise<Record<string, unknown>> {
    const c = this.get(ref);
    const size = opts.size ? await this.sizeOf(c) : undefined;
    return containerInspect(c, { ...this.extras(c), links: linksShown(c, this.core.store), sizeRw: size?.rw, sizeRootFs: size?.rootFs, graphDriverData: await this.graphDriverData(c) });
  }

  /**
   * `GraphDriver.Data` as Docker's overlay2 shows it: the writable layer's dirs and the image's
   * (top-most first, colon-separated); {} for a container whose layer is gone (a dead one).
   */
  private async graphDriverData(c: ContainerView): Promise<Record<string, string>> {
    let overlay;
    try {
      overlay = await this.snapshots.mounts(c.SnapshotKey);
    } catch (err) {
      if (err instanceof EngineError && err.kind === 'notFound') return {};
      throw err;
    }
    return {
      ...(overlay.lowerDirs.length > 0 ? { LowerDir: overlay.lowerDirs.join(':') } : {}),
      UpperDir: overlay.upperDir,
      WorkDir: overlay.workDir,
    };
  }

  private async sizeOf(c: ContainerView): Promise<{ rw: number; rootFs: number }> {
    const rw = await this.snapshots.activeUsage(c.SnapshotKey).catch(() => 0);
    return { rw, rootFs: rw };
  }
}
