import { z } from 'zod';
import { invalid, notImplemented } from '../../errors.js';
import type { PluginManager, PluginReader } from '../../plugins/plugins.js';
import { queryFilters, readJson, sendJson, sendNoContent } from '../http.js';
import type { RequestContext, Router } from '../router.js';

/** Why a plugin is never enabled here (the 501 of enable, and of what would need a running plugin). */
const NOT_RUN = 'pier does not run managed plugins: enabling one means running its rootfs as a process that serves Docker\'s plugin protocol on its socket, and pier keeps plugins installed and disabled only';

/** Why nothing comes from or goes to a registry. */
const NO_REGISTRY = 'pier does not pull, push or upgrade managed plugins from a registry: plugins are made with `docker plugin create NAME DIR`';

/**
 * The /plugins endpoints (Docker API v1.51), over the plugins part's roles: create, list,
 * inspect, set, disable and remove are served; enable, pull, privileges, push and upgrade
 * answer 501 saying why (a named plugin is looked up first: unknown is 404, as in Docker).
 * Statuses as dockerd's: create and set 204, remove, enable and disable 200 with no body.
 */
export function registerPluginRoutes(r: Router, plugins: PluginReader & PluginManager): void {
  r.get('/plugins', (ctx) => {
    sendJson(ctx, 200, plugins.list(queryFilters(ctx)));
    return Promise.resolve();
  });

  r.post('/plugins/create', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw invalid('plugin create: the name parameter is required');
    await plugins.create({ name, tar: ctx.req });
    sendNoContent(ctx);
  });

  r.get('/plugins/privileges', () => Promise.reject(notImplemented(`${NO_REGISTRY} (GET /plugins/privileges)`)));
  r.post('/plugins/pull', () => Promise.reject(notImplemented(`${NO_REGISTRY} (POST /plugins/pull)`)));

  r.get('/plugins/{name*}/json', (ctx) => {
    sendJson(ctx, 200, plugins.get(name(ctx)));
    return Promise.resolve();
  });

  r.delete('/plugins/{name*}', async (ctx) => {
    await plugins.remove(name(ctx));
    sendNoContent(ctx, 200);
  });

  r.post('/plugins/{name*}/disable', async (ctx) => {
    await plugins.disable(name(ctx));
    sendNoContent(ctx, 200);
  });

  r.post('/plugins/{name*}/set', async (ctx) => {
    // An empty body sets nothing, as dockerd's ReadJSON of no body.
    const body = await readJson(ctx, z.union([z.array(z.string()), z.object({}).strict()]));
    await plugins.set(name(ctx), Array.isArray(body) ? body : []);
    sendNoContent(ctx);
  });

  const unservedFor = (what: string, why: string) => (ctx: RequestContext): Promise<void> => {
    const p = plugins.get(name(ctx));
    return Promise.reject(notImplemented(`${what} ${p.Name}: ${why}`));
  };
  r.post('/plugins/{name*}/enable', unservedFor('enable plugin', NOT_RUN));
  r.post('/plugins/{name*}/push', unservedFor('push plugin', NO_REGISTRY));
  r.post('/plugins/{name*}/upgrade', unservedFor('upgrade plugin', NO_REGISTRY));
}

function name(ctx: RequestContext): string {
  return ctx.params.name!;
}
