import { EventEmitter } from 'node:events';
import type { EmitFn } from '../events/events.js';
import type { EndpointRequest } from '../networks/networks.js';
import { KeyedMutex } from '../util/mutex.js';
import { hostsLinks } from './links.js';
import type { ContainerStore } from './store.js';
import type { ContainerRecord, ContainerStatus } from './types.js';

/**
 * What the roles of the containers part share: the record store, the lock of each container,
 * the container events and the part's own signals (a container's exit, its removal). It owns
 * no policy; the roles beside it decide. Only the roles of this part write records.
 */
export class ContainerCore {
  /** One lock per container: every change of a container's state is made under it. */
  readonly mutex = new KeyedMutex();
  private readonly signals = new EventEmitter();

  constructor(
    readonly store: ContainerStore,
    private readonly emitEvent: EmitFn,
  ) {
    this.signals.setMaxListeners(0);
  }

  /** Run `fn` under the container's lock. */
  locked<T>(rec: ContainerRecord, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(rec.Id, fn);
  }

  /** Whether `rec` is still the container's record (not removed, not replaced). */
  current(rec: ContainerRecord): boolean {
    return this.store.find(rec.Id) === rec;
  }

  /** A `container` event with Docker's attributes (the labels, `image`, `name`) and `extra`. */
  emit(action: string, rec: ContainerRecord, extra: Record<string, string> = {}): void {
    this.emitEvent('container', action, rec.Id, { ...rec.Config.Labels, image: rec.Config.Image, name: rec.Name, ...extra });
  }

  /** Events of other types (`volume`, `network`) that container operations cause. */
  emitOther: EmitFn = (type, action, id, attributes) => this.emitEvent(type, action, id, attributes);

  // ---- the part's own signals ----------------------------------------------------------

  /** Settles with the exit code of the container's next exit. */
  nextExit(id: string): Promise<number> {
    return new Promise((resolve) => this.signals.once(`exit:${id}`, resolve));
  }

  exited(id: string, exitCode: number): void {
    this.signals.emit(`exit:${id}`, exitCode);
    this.signals.emit('exited', id);
  }

  /** Called with a container's ID each time its process ends. */
  onExited(fn: (id: string) => void): void {
    this.signals.on('exited', fn);
  }

  /** Settles once the container is removed. */
  nextRemoval(id: string): Promise<void> {
    return new Promise((resolve) => this.signals.once(`removed:${id}`, () => resolve()));
  }

  removed(id: string): void {
    this.signals.emit(`removed:${id}`);
    this.signals.emit('removed', id);
  }

  /** Called with a container's ID each time one is removed (the roles forget what they kept of it). */
  onRemoved(fn: (id: string) => void): void {
    this.signals.on('removed', fn);
  }

  /** Called with a container's record each time it starts running, or is found running at pierd's start (health checks start then). */
  onStarted(fn: (rec: ContainerRecord) => void): void {
    this.signals.on('started', fn);
  }

  started(rec: ContainerRecord): void {
    this.signals.emit('started', rec);
  }

  // ---- shared readings -------------------------------------------------------------------

  /** What the networks part needs to know of a container. */
  endpointRequest(rec: ContainerRecord): EndpointRequest {
    return {
      containerId: rec.Id,
      containerName: rec.Name,
      hostname: rec.Config.Hostname ?? rec.Id.slice(0, 12),
      domainname: rec.Config.Domainname ?? '',
      networkMode: rec.NetworkDetached ? 'none' : (rec.HostConfig.NetworkMode ?? ''),
      detached: rec.NetworkDetached === true,
      extraHosts: rec.HostConfig.ExtraHosts ?? [],
      dns: rec.HostConfig.Dns ?? [],
      dnsSearch: rec.HostConfig.DnsSearch ?? [],
      dnsOptions: rec.HostConfig.DnsOptions ?? [],
      containerDir: this.store.containerDir(rec.Id),
      endpointsConfig: (rec.NetworkingConfig?.EndpointsConfig ?? undefined) as EndpointRequest['endpointsConfig'],
      portBindings: rec.HostConfig.PortBindings ?? undefined,
      exposedPorts: Object.keys(rec.Config.ExposedPorts ?? {}),
      publishAllPorts: rec.HostConfig.PublishAllPorts ?? false,
      macAddress: rec.Config.MacAddress ?? undefined,
      legacyLinks: hostsLinks(rec),
    };
  }
}

/** A process runs in the container (running or paused). */
export function isRunning(status: ContainerStatus): boolean {
  return status === 'running' || status === 'paused';
}

/** The container runs or will run again by itself (running, paused, restarting). */
export function isLive(status: ContainerStatus): boolean {
  return status === 'running' || status === 'paused' || status === 'restarting';
}

/** Docker's time format: RFC3339 with nanoseconds, in UTC. */
export function nowIso(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}
