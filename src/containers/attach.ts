import { conflict } from '../errors.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { AttachSink, ContainerAttach } from './containers.js';
import type { ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';

/**
 * `docker attach` and the container's TTY. A client that attaches before the container runs
 * waits here until the lifecycle has created the runtime's container and hands it the streams
 * before the process starts, so it misses no output.
 */
export class Attachments implements ContainerAttach {
  private readonly pending = new Map<string, Set<AttachSink>>();

  constructor(
    private readonly core: ContainerCore,
    private readonly runtime: ContainerRuntime,
  ) {}

  async attach(ref: string, sink: AttachSink): Promise<void> {
    const rec = this.core.store.get(ref);
    this.core.emit('attach', rec);
    await this.core.locked(rec, async () => {
      if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
        sink.connect(await this.runtime.attach(rec.Id));
        return;
      }
      let set = this.pending.get(rec.Id);
      if (!set) this.pending.set(rec.Id, (set = new Set()));
      set.add(sink);
    });
  }

  detachPending(ref: string, sink: AttachSink): void {
    const rec = this.core.store.find(ref);
    if (rec) this.pending.get(rec.Id)?.delete(sink);
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const rec = this.core.store.get(ref);
    if (rec.State.Status !== 'running') throw conflict(`Container ${rec.Id} is not running`);
    await this.runtime.resize(rec.Id, height, width);
    this.core.emit('resize', rec, { height: String(height), width: String(width) });
  }

  /** The runtime created the container: the waiting clients get their streams (lifecycle, under the lock). */
  async connectPending(rec: ContainerRecord): Promise<void> {
    const sinks = this.pending.get(rec.Id);
    this.pending.delete(rec.Id);
    for (const sink of sinks ?? []) {
      try {
        sink.connect(await this.runtime.attach(rec.Id));
      } catch (err) {
        sink.abort(`attach: ${(err as Error).message}`);
      }
    }
  }

  /** The container will not run: the waiting clients are told why. */
  abortPending(rec: ContainerRecord, message: string): void {
    for (const sink of this.pending.get(rec.Id) ?? []) sink.abort(message);
    this.pending.delete(rec.Id);
  }
}
