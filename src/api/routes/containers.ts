import type { ContainerLifecycle, ContainerReader, WaitCondition } from '../../containers/containers.js';
import { UpdateBodySchema } from '../../containers/lifecycle.js';
import { CreateBodySchema } from '../../containers/types.js';
import { invalid } from '../../errors.js';
import { matchLabels, untilFilter } from '../../util/filters.js';
import { checkFilterKeys, queryBool, queryFilters, queryInt, queryString, readJson, res, sendJson, sendNoContent } from '../http.js';
import type { Router } from '../router.js';

export interface ContainerRouteDeps {
  reader: ContainerReader;
  lifecycle: ContainerLifecycle;
}

/** The /containers endpoints of the lifecycle and of reading (Docker API v1.51). */
export function registerContainerRoutes(r: Router, deps: ContainerRouteDeps): void {
  const { reader, lifecycle } = deps;

  r.post('/containers/create', async (ctx) => {
    const body = await readJson(ctx, CreateBodySchema);
    sendJson(ctx, 201, await lifecycle.create(body, queryString(ctx, 'name')));
  });

  r.get('/containers/json', async (ctx) => {
    const list = await reader.list({
      all: queryBool(ctx, 'all'),
      limit: queryInt(ctx, 'limit') ?? -1,
      size: queryBool(ctx, 'size'),
      filters: queryFilters(ctx),
    });
    sendJson(ctx, 200, list);
  });

  r.get('/containers/{id}/json', async (ctx) => {
    sendJson(ctx, 200, await reader.inspect(ctx.params.id!, { size: queryBool(ctx, 'size') }));
  });

  r.post('/containers/{id}/start', async (ctx) => {
    await lifecycle.start(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/stop', async (ctx) => {
    await lifecycle.stop(ctx.params.id!, { signal: queryString(ctx, 'signal'), timeout: queryInt(ctx, 't') });
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/restart', async (ctx) => {
    await lifecycle.restart(ctx.params.id!, { signal: queryString(ctx, 'signal'), timeout: queryInt(ctx, 't') });
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/kill', async (ctx) => {
    await lifecycle.kill(ctx.params.id!, queryString(ctx, 'signal') || 'SIGKILL');
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/pause', async (ctx) => {
    await lifecycle.pause(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/unpause', async (ctx) => {
    await lifecycle.unpause(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/rename', async (ctx) => {
    await lifecycle.rename(ctx.params.id!, queryString(ctx, 'name') ?? '');
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/update', async (ctx) => {
    const body = await readJson(ctx, UpdateBodySchema);
    sendJson(ctx, 200, await lifecycle.update(ctx.params.id!, body));
  });

  r.post('/containers/{id}/wait', async (ctx) => {
    const condition = (queryString(ctx, 'condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
    const result = lifecycle.wait(ctx.params.id!, condition);
    // Headers go out at once: the CLI waits for them before it starts the container.
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': 'application/json' });
    out.flushHeaders();
    out.end(JSON.stringify(await result));
  });

  r.delete('/containers/{id}', async (ctx) => {
    if (queryBool(ctx, 'link')) await lifecycle.removeLink(ctx.params.id!);
    else await lifecycle.remove(ctx.params.id!, { force: queryBool(ctx, 'force'), volumes: queryBool(ctx, 'v') });
    sendNoContent(ctx);
  });

  // A legacy link's name, `<parent>/<alias>`: `link=1` removes the link, else the child goes.
  r.delete('/containers/{parent}/{alias}', async (ctx) => {
    const name = `${ctx.params.parent!}/${ctx.params.alias!}`;
    if (queryBool(ctx, 'link')) await lifecycle.removeLink(name);
    else await lifecycle.remove(reader.get(name).Id, { force: queryBool(ctx, 'force'), volumes: queryBool(ctx, 'v') });
    sendNoContent(ctx);
  });

  r.post('/containers/prune', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = untilFilter(filters);
    const result = await lifecycle.prune((c) => (until !== undefined && Date.parse(c.Created) >= until) || !matchLabels(filters, c.Config.Labels));
    sendJson(ctx, 200, result);
  });
}
