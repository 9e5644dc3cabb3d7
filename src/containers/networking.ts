import { forbidden } from '../errors.js';
import type { EndpointConfig, NetworkMembership } from '../networks/networks.js';
import type { ContainerNetworking } from './containers.js';
import { isRunning, type ContainerCore } from './core.js';

/**
 * `docker network connect|disconnect` of a container, under the container's lock. A container's
 * networks are its HostConfig.NetworkMode (the first) and the other keys of its
 * NetworkingConfig.EndpointsConfig. A container that is not running may lose every network,
 * as docker-compose does to each container it creates (it disconnects it, then connects it
 * again with its aliases): its NetworkMode then stays what it was, marked detached, and it
 * would start with loopback only until it is connected again.
 */
export class Networking implements ContainerNetworking {
  constructor(
    private readonly core: ContainerCore,
    private readonly networks: NetworkMembership,
  ) {}

  async connect(ref: string, network: string, config: EndpointConfig): Promise<void> {
    const rec = this.core.store.get(ref);
    const net = this.networks.get(network);
    // Docker's checks of the endpoint config, whether the container runs or not.
    this.networks.validate(net.Name, config);
    await this.core.locked(rec, async () => {
      const mode = rec.HostConfig.NetworkMode ?? '';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(`container cannot be connected to network ${net.Name}: it uses network mode ${mode}`);
      }
      const endpoints = { ...(rec.NetworkingConfig?.EndpointsConfig ?? {}) } as Record<string, unknown>;
      const running = isRunning(rec.State.Status);
      const was = { mode: rec.HostConfig.NetworkMode, detached: rec.NetworkDetached };
      if (rec.NetworkDetached) {
        // The first network it is connected to again becomes its NetworkMode.
        rec.HostConfig.NetworkMode = net.Name === this.networks.canonicalName(mode) ? mode : net.Name;
        rec.NetworkDetached = false;
        for (const k of Object.keys(endpoints)) if (k === net.Name || k === net.Id) Reflect.deleteProperty(endpoints, k);
        endpoints[net.Name] = config;
      } else {
        const primary = this.networks.canonicalName(mode);
        if (endpoints[net.Name] !== undefined && primary !== net.Name) throw forbidden(`endpoint with name ${rec.Name} already exists in network ${net.Name}`);
        if (primary === net.Name) throw forbidden(`endpoint with name ${rec.Name} already exists in network ${net.Name}`);
        endpoints[net.Name] = config;
      }
      const req = { ...this.core.endpointRequest(rec), endpointsConfig: endpoints as Record<string, EndpointConfig> };
      if (running) {
        try {
          await this.networks.attach(req, net.Name);
        } catch (err) {
          rec.HostConfig.NetworkMode = was.mode;
          rec.NetworkDetached = was.detached;
          throw err;
        }
      }
      rec.NetworkingConfig = { ...(rec.NetworkingConfig ?? {}), EndpointsConfig: endpoints };
      rec.NetworkSettings = this.networks.settingsOf(this.core.endpointRequest(rec));
      await this.core.store.save(rec);
      this.core.emitOther('network', 'connect', net.Id, { container: rec.Id, name: net.Name, type: 'bridge' });
    });
  }

  async disconnect(ref: string, network: string, _force: boolean): Promise<void> {
    const rec = this.core.store.get(ref);
    const net = this.networks.get(network);
    await this.core.locked(rec, async () => {
      const endpoints = { ...(rec.NetworkingConfig?.EndpointsConfig ?? {}) } as Record<string, unknown>;
      const mode = rec.HostConfig.NetworkMode ?? '';
      const primary = !rec.NetworkDetached && this.networks.canonicalName(mode) === net.Name;
      const key = Object.keys(endpoints).find((k) => k === net.Name || k === net.Id);
      if (!primary && (key === undefined || rec.NetworkDetached)) throw forbidden(`container ${rec.Id} is not connected to network ${net.Name}`);
      const others = Object.keys(endpoints).filter((k) => k !== net.Name && k !== net.Id);
      const running = isRunning(rec.State.Status);
      // As in Docker, a running container may leave its last network (it keeps its loopback):
      // compose takes a replica out of its service's name this way before stopping it.
      if (running) await this.networks.detach(this.core.endpointRequest(rec), net.Name);
      if (key !== undefined) Reflect.deleteProperty(endpoints, key);
      rec.NetworkingConfig = { ...(rec.NetworkingConfig ?? {}), EndpointsConfig: endpoints };
      if (primary) {
        const next = others[0];
        if (next !== undefined) rec.HostConfig.NetworkMode = next;
        else rec.NetworkDetached = true;
      }
      rec.NetworkSettings = this.networks.settingsOf(this.core.endpointRequest(rec));
      if (rec.NetworkDetached) rec.NetworkSettings = { ...rec.NetworkSettings, Networks: {} };
      await this.core.store.save(rec);
      this.core.emitOther('network', 'disconnect', net.Id, { container: rec.Id, name: net.Name, type: 'bridge' });
    });
  }
}
