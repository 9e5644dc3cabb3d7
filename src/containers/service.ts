import type { EmitFn } from '../events/events.js';
import type { NetworkMembership, NetworkService } from '../networks/networks.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { Archives } from './archive.js';
import { Attachments } from './attach.js';
import type { ContainerView, Containers, ImageLookup } from './containers.js';
import { ContainerCore } from './core.js';
import { Execs } from './exec.js';
import { HealthChecks } from './health.js';
import type { InspectExtras } from './inspect.js';
import { Lifecycle, type LifecycleDeps } from './lifecycle.js';
import type { HostFacts } from './limits.js';
import { Monitor } from './monitor.js';
import { Networking } from './networking.js';
import { Reader } from './reader.js';
import { reconcile } from './reconcile.js';
import type { SpecDefaults } from './spec.js';
import type { ContainerStore } from './store.js';
import { Teardown, type RemovalHooks } from './teardown.js';

export interface ContainerServiceDeps {
  store: ContainerStore;
  images: ImageLookup;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  networks: NetworkService & NetworkMembership;
  emit: EmitFn;
  defaults: SpecDefaults;
  /** The volumes part, where there is one: mounts prepared at create and resolved at start. */
  mounts?: LifecycleDeps['mounts'] & { mountsOfView?(c: ContainerView): Array<Record<string, unknown>> };
  /** What a removal gives back beyond the container's own layer. */
  removal?: RemovalHooks;
  /** What the host offers containers: limits and capabilities are checked against it at create and update. */
  host?: HostFacts;
  /** The log driver a container's inspect names (the logs part decides). */
  logConfigOf?(c: ContainerView): InspectExtras['logConfig'];
}

/**
 * The containers part, wired: one store, one lock per container, the roles of containers.ts
 * around them. The daemon builds it once; everything else takes the roles it needs.
 */
export function containerService(deps: ContainerServiceDeps): Containers {
  const core = new ContainerCore(deps.store, deps.emit);
  const execs = new Execs(core, deps.runtime);
  const monitor = new Monitor(core, deps.runtime);
  const teardown = new Teardown(core, deps.runtime, deps.snapshots, deps.networks, deps.removal ?? {});
  const attachments = new Attachments(core, deps.runtime);
  const lifecycle = new Lifecycle({
    core,
    images: deps.images,
    snapshots: deps.snapshots,
    runtime: deps.runtime,
    networks: deps.networks,
    attachments,
    teardown,
    defaults: deps.defaults,
    mounts: deps.mounts,
    host: deps.host,
  });
  const health = new HealthChecks(core, execs);
  // A removed container's exec sessions, stats sample and health check go with it.
  core.onRemoved((id) => {
    execs.forget(id);
    monitor.forget(id);
    health.stop(id);
  });
  const runtimeName = deps.runtime.name;
  const reader = new Reader(core, deps.images, deps.snapshots, (c) => ({
    driver: 'overlay2',
    runtime: runtimeName,
    execIds: execs.idsOf(c.Id),
    mounts: deps.mounts?.mountsOfView?.(c),
    logConfig: deps.logConfigOf?.(c) ?? { Type: 'json-file', Config: {} },
  }));
  return {
    reader,
    lifecycle,
    attach: attachments,
    exec: execs,
    archive: new Archives(core, deps.snapshots, deps.mounts?.mountsOf?.bind(deps.mounts)),
    monitor,
    networking: new Networking(core, deps.networks),
    daemon: {
      reconcile: () => reconcile(core, deps.runtime, lifecycle),
      shutdown: () => {
        lifecycle.shutdown();
        health.shutdown();
      },
    },
  };
}
