import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerArchive, PathStat } from '../../containers/containers.js';
import { errnoCode, invalid } from '../../errors.js';
import { log } from '../../log.js';
import { queryBool, queryString, res, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** `docker cp`, `docker export`, `docker diff`: /containers/{id}/archive, /export, /changes. */
export function registerArchiveRoutes(r: Router, archive: ContainerArchive): void {
  const pathOf = (ctx: Parameters<Parameters<Router['get']>[1]>[0]): string => {
    const path = queryString(ctx, 'path');
    if (!path) throw invalid('path is required');
    return path;
  };

  r.get('/containers/{id}/archive', async (ctx) => {
    const { stat, tar } = await archive.getArchive(ctx.params.id!, pathOf(ctx));
    const out = res(ctx);
    out.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    await send(tar, out);
  });

  // After the GET: a GET registers a HEAD of its own, which this one replaces.
  r.head('/containers/{id}/archive', async (ctx) => {
    const stat = await archive.statPath(ctx.params.id!, pathOf(ctx));
    res(ctx).writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat), 'Content-Type': 'application/x-tar' });
    res(ctx).end();
  });

  r.put('/containers/{id}/archive', async (ctx) => {
    await archive.putArchive(ctx.params.id!, pathOf(ctx), ctx.req, {
      noOverwriteDirNonDir: queryBool(ctx, 'noOverwriteDirNonDir'),
      copyUIDGID: queryBool(ctx, 'copyUIDGID'),
    });
    res(ctx).writeHead(200, { 'Content-Length': 0 });
    res(ctx).end();
  });

  r.get('/containers/{id}/export', async (ctx) => {
    const tar = await archive.export(ctx.params.id!);
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await send(tar, out);
  });

  r.get('/containers/{id}/changes', async (ctx) => {
    sendJson(ctx, 200, await archive.changes(ctx.params.id!));
  });
}

/** Stream a tar to the client; a client that goes away before the end (a cancelled `docker cp`) is no error. */
async function send(tar: Readable, out: ServerResponse): Promise<void> {
  try {
    await pipeline(tar, out);
  } catch (err) {
    if (errnoCode(err) === 'ERR_STREAM_PREMATURE_CLOSE' && out.destroyed && !out.writableFinished) {
      log.debug({ err }, 'client left before the end of a tar');
      return;
    }
    throw err;
  }
}

/** The stat header: base64 of its JSON, as Docker sends it. */
function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}
