import { z } from 'zod';
import type { ContainerService } from '../../containers/service.js';
import { conflict, forbidden } from '../../errors.js';
import type { BridgeNetworks, NetworkCreateBody } from '../../networks/bridge.js';
import type { EndpointConfig } from '../../networks/networks.js';
import { checkFilterKeys, queryFilters, readJson, sendJson, sendNoContent } from '../http.js';
import type { Router } from '../router.js';

const nullish = <T extends z.ZodType>(t: T) => t.nullish();

const CreateSchema = z.looseObject({
  Name: nullish(z.string()),
  CheckDuplicate: nullish(z.boolean()),
  Driver: nullish(z.string()),
  Internal: nullish(z.boolean()),
  Attachable: nullish(z.boolean()),
  EnableIPv6: nullish(z.boolean()),
  EnableIPv4: nullish(z.boolean()),
  IPAM: nullish(z.looseObject({
    Driver: nullish(z.string()),
    Config: nullish(z.array(z.looseObject({ Subnet: nullish(z.string()), Gateway: nullish(z.string()), IPRange: nullish(z.string()) }))),
    Options: nullish(z.record(z.string(), z.string())),
  })),
  Options: nullish(z.record(z.string(), z.string())),
  Labels: nullish(z.record(z.string(), z.string())),
});

const EndpointConfigSchema = z.looseObject({
  IPAMConfig: nullish(z.looseObject({ IPv4Address: nullish(z.string()), IPv6Address: nullish(z.string()) })),
  Aliases: nullish(z.array(z.string())),
  MacAddress: nullish(z.string()),
});

const ConnectSchema = z.object({ Container: z.string(), EndpointConfig: nullish(EndpointConfigSchema) });
const DisconnectSchema = z.object({ Container: z.string(), Force: nullish(z.boolean()) });

export interface NetworkRouteDeps {
  networks: BridgeNetworks;
  containers: ContainerService;
}

/** The /networks endpoints (Docker API v1.51). */
export function registerNetworkRoutes(r: Router, deps: NetworkRouteDeps): void {
  const nets = deps.networks;

  r.get('/networks', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, ['name', 'id', 'driver', 'label', 'scope', 'type', 'dangling']);
    sendJson(ctx, 200, nets.list(filters));
    return Promise.resolve();
  });

  r.post('/networks/create', async (ctx) => {
    const body = await readJson(ctx, CreateSchema);
    const clean = JSON.parse(JSON.stringify(body, (_k, v: unknown) => (v === null ? undefined : v))) as NetworkCreateBody;
    sendJson(ctx, 201, await nets.create(clean));
  });

  r.post('/networks/prune', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, ['label', 'until']);
    sendJson(ctx, 200, { NetworksDeleted: await nets.prune(filters) });
  });

  r.get('/networks/{id}', async (ctx) => {
    sendJson(ctx, 200, nets.inspect(ctx.params.id!));
    return Promise.resolve();
  });

  r.delete('/networks/{id}', async (ctx) => {
    await nets.remove(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/networks/{id}/connect', async (ctx) => {
    const body = await readJson(ctx, ConnectSchema);
    const net = nets.get(ctx.params.id!);
    const rec = deps.containers.store.get(body.Container);
    const mode = rec.HostConfig.NetworkMode ?? '';
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw forbidden(`container cannot be connected to network ${net.Name}: it uses network mode ${mode}`);
    }
    const endpoints = { ...(rec.NetworkingConfig?.EndpointsConfig ?? {}) } as Record<string, unknown>;
    const primary = nets.canonicalName(mode);
    if (endpoints[net.Name] !== undefined || primary === net.Name) throw forbidden(`endpoint with name ${rec.Name} already exists in network ${net.Name}`);
    const cfg = (body.EndpointConfig ?? {}) as EndpointConfig;
    endpoints[net.Name] = cfg;
    const running = rec.State.Status === 'running' || rec.State.Status === 'paused';
    const req = { ...deps.containers.endpointRequest(rec), endpointsConfig: endpoints as Record<string, EndpointConfig> };
    if (running) await nets.attach(req, net.Name);
    rec.NetworkingConfig = { ...(rec.NetworkingConfig ?? {}), EndpointsConfig: endpoints };
    rec.NetworkSettings = nets.settingsOf(req);
    await deps.containers.store.save(rec);
    sendJson(ctx, 200, null);
  });

  r.post('/networks/{id}/disconnect', async (ctx) => {
    const body = await readJson(ctx, DisconnectSchema);
    const net = nets.get(ctx.params.id!);
    const rec = deps.containers.store.get(body.Container);
    const endpoints = { ...(rec.NetworkingConfig?.EndpointsConfig ?? {}) } as Record<string, unknown>;
    const mode = rec.HostConfig.NetworkMode ?? '';
    const primary = nets.canonicalName(mode) === net.Name;
    const key = Object.keys(endpoints).find((k) => k === net.Name || k === net.Id);
    if (!primary && key === undefined) throw forbidden(`container ${rec.Id} is not connected to network ${net.Name}`);
    if (primary && Object.keys(endpoints).filter((k) => k !== net.Name).length === 0 && rec.State.Status === 'running') {
      throw conflict(`container ${rec.Name} would have no network left: pier cannot disconnect it from its only network ${net.Name}`);
    }
    const req = deps.containers.endpointRequest(rec);
    await nets.detach(req, net.Name);
    if (key !== undefined) Reflect.deleteProperty(endpoints, key);
    rec.NetworkingConfig = { ...(rec.NetworkingConfig ?? {}), EndpointsConfig: endpoints };
    if (primary) {
      const next = Object.keys(endpoints)[0];
      rec.HostConfig.NetworkMode = next ?? 'none';
    }
    rec.NetworkSettings = nets.settingsOf(deps.containers.endpointRequest(rec));
    await deps.containers.store.save(rec);
    sendJson(ctx, 200, null);
  });
}
