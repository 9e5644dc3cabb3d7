import { z } from 'zod';
import type { ContainerNetworking } from '../../containers/containers.js';
import type { EndpointConfig, NetworkCreateBody, NetworkRegistry } from '../../networks/networks.js';
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
  networks: NetworkRegistry;
  containers: ContainerNetworking;
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
    await deps.containers.connect(body.Container, ctx.params.id!, (body.EndpointConfig ?? {}) as EndpointConfig);
    sendJson(ctx, 200, null);
  });

  r.post('/networks/{id}/disconnect', async (ctx) => {
    const body = await readJson(ctx, DisconnectSchema);
    await deps.containers.disconnect(body.Container, ctx.params.id!, body.Force ?? false);
    sendJson(ctx, 200, null);
  });
}
