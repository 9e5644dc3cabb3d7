import { z } from 'zod';
import { parseBool } from '../../volumes/filters.js';
import type { VolumeManager, VolumeReader } from '../../volumes/volumes.js';
import { invalid } from '../../errors.js';
import { queryBool, queryFilters, readJson, sendJson, sendNoContent } from '../http.js';
import type { Router } from '../router.js';
import { compareVersions } from '../streams.js';

const StringMap = z.record(z.string(), z.string()).nullish();

const CreateSchema = z.looseObject({
  Name: z.string().nullish(),
  Driver: z.string().nullish(),
  DriverOpts: StringMap,
  Labels: StringMap,
  ClusterVolumeSpec: z.unknown().nullish(),
});

/** The /volumes endpoints (Docker API v1.51), over the volumes part's roles. */
export function registerVolumeRoutes(r: Router, volumes: VolumeReader & VolumeManager): void {
  r.get('/volumes', async (ctx) => {
    sendJson(ctx, 200, { Volumes: volumes.list(queryFilters(ctx)), Warnings: [] });
    return Promise.resolve();
  });

  r.post('/volumes/create', async (ctx) => {
    const body = await readJson(ctx, CreateSchema);
    if (body.ClusterVolumeSpec) throw invalid('cluster volumes need swarm mode, which pier does not run');
    const v = await volumes.create({ name: body.Name ?? undefined, driver: body.Driver ?? undefined, labels: body.Labels ?? null, options: body.DriverOpts ?? null });
    sendJson(ctx, 201, v);
  });

  r.post('/volumes/prune', async (ctx) => {
    const filters = queryFilters(ctx);
    const all = (filters.get('all') ?? []).map(parseBool);
    // From API 1.42 a prune takes only anonymous volumes unless `all` is given, as Docker.
    const anonymousOnly = compareVersions(ctx.apiVersion, '1.42') >= 0 && !all.some((a) => a === true);
    sendJson(ctx, 200, await volumes.prune(filters, { anonymousOnly }));
  });

  r.get('/volumes/{name}', async (ctx) => {
    sendJson(ctx, 200, volumes.get(ctx.params.name!));
    return Promise.resolve();
  });

  r.delete('/volumes/{name}', async (ctx) => {
    await volumes.remove(ctx.params.name!, { force: queryBool(ctx, 'force') });
    sendNoContent(ctx);
  });
}
