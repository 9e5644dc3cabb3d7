import { PassThrough, type Readable } from 'node:stream';
import { EngineError, invalid, notImplemented } from '../../errors.js';
import type { ImageIngester, ImageReader, ImageRemover, ImageTagger } from '../../images/images.js';
import { familiarRepository, referenceString, repoTagReference } from '../../images/reference.js';
import { log } from '../../log.js';
import { imageInspectFor, imageSummariesFor } from '../image-versions.js';
import { queryBool, queryFilters, queryString, res, sendJson, sendNoContent } from '../http.js';
import type { RequestContext, Router } from '../router.js';
import { JsonMessageWriter } from '../streams.js';

/**
 * The image endpoints (moby's daemon/server/router/image): list, inspect, history, tag,
 * delete, prune, import (`POST /images/create?fromSrc=`), load and save. Pulls
 * (`POST /images/create?fromImage=`) go to `deps.pull` once the distribution part provides it.
 */

export interface PullRequest {
  fromImage: string;
  tag?: string;
  platform?: string;
}

/** Serves `POST /images/create?fromImage=`: writes its own (JSON progress) response. */
export type PullHandler = (ctx: RequestContext, req: PullRequest) => Promise<void>;

export interface ImageRouteDeps {
  pull?: PullHandler;
}

/** The roles of the images part that the image endpoints use. */
export type ImageRouteBackend = Pick<ImageReader, 'summaries' | 'inspect' | 'history' | 'resolve' | 'save'> &
  Pick<ImageTagger, 'setTag'> &
  Pick<ImageIngester, 'importImage' | 'load'> &
  Pick<ImageRemover, 'delete' | 'prune'>;

export function registerImageRoutes(r: Router, images: ImageRouteBackend, deps: ImageRouteDeps = {}): void {
  // Fixed paths first: `{name*}` patterns would take them otherwise.
  r.get('/images/json', async (ctx) => {
    const filters = queryFilters(ctx);
    // API < 1.41 also took a bare `filter=<reference>`.
    const legacy = queryString(ctx, 'filter');
    if (legacy !== undefined) filters.set('reference', [...(filters.get('reference') ?? []), legacy]);
    const list = imageSummariesFor(await images.summaries({ all: queryBool(ctx, 'all'), filters }), ctx.apiVersion);
    sendJson(ctx, 200, list);
  });

  r.post('/images/create', async (ctx) => {
    const fromImage = queryString(ctx, 'fromImage');
    if (fromImage !== undefined) {
      await pullImage(ctx, deps, { fromImage, tag: queryString(ctx, 'tag'), platform: queryString(ctx, 'platform') });
      return;
    }
    await importFromSource(ctx, images);
  });

  r.post('/images/load', async (ctx) => {
    await loadImages(ctx, images);
  });

  r.get('/images/get', async (ctx) => {
    await saveImages(ctx, images, ctx.query.getAll('names').flatMap((n) => n.split(',')).filter((n) => n !== ''));
  });

  r.post('/images/prune', async (ctx) => {
    sendJson(ctx, 200, await images.prune(queryFilters(ctx)));
  });

  r.get('/images/{name*}/json', async (ctx) => {
    const image = imageInspectFor(await images.inspect(ctx.params.name!), ctx.apiVersion);
    // DockerVersion is always there in Docker's answer ("" for an image no Docker built).
    sendJson(ctx, 200, { ...image, DockerVersion: image.DockerVersion ?? '' });
  });

  r.get('/images/{name*}/history', async (ctx) => {
    sendJson(ctx, 200, await images.history(ctx.params.name!));
  });

  r.get('/images/{name*}/get', async (ctx) => {
    await saveImages(ctx, images, [ctx.params.name!]);
  });

  r.post('/images/{name*}/tag', async (ctx) => {
    const repo = queryString(ctx, 'repo');
    const ref = repoTagReference(repo, queryString(ctx, 'tag'));
    if (!ref) throw invalid('repository name must have at least one component');
    if (familiarRepository(ref) === 'sha256') throw invalid('refusing to create an ambiguous tag using digest algorithm as name');
    const image = await images.resolve(ctx.params.name!);
    await images.setTag(referenceString(ref), image.id, 'tag');
    sendNoContent(ctx, 201);
  });

  r.delete('/images/{name*}', async (ctx) => {
    const items = await images.delete(ctx.params.name!, { force: queryBool(ctx, 'force'), noprune: queryBool(ctx, 'noprune') });
    sendJson(ctx, 200, items);
  });
}

/** `POST /images/create?fromImage=`: a pull. Answers 501 until the distribution part is wired in. */
export async function pullImage(ctx: RequestContext, deps: ImageRouteDeps, req: PullRequest): Promise<void> {
  if (!deps.pull) {
    throw notImplemented(`pulling ${req.fromImage} from a registry is not supported yet: load the image with 'docker load' or 'docker import'`);
  }
  await deps.pull(ctx, req);
}

/** `docker import`: the body is the rootfs tar; answers `{"status":"sha256:…"}` like Docker. */
async function importFromSource(ctx: RequestContext, images: Pick<ImageIngester, 'importImage'>): Promise<void> {
  const src = queryString(ctx, 'fromSrc');
  if (src === undefined) throw invalid('either fromImage or fromSrc is required');
  if (src !== '-') throw notImplemented(`importing from a URL (${src}) is not supported: send the tarball in the request body (fromSrc=-)`);
  const image = await images.importImage(uploadBody(ctx), {
    repo: queryString(ctx, 'repo'),
    tag: queryString(ctx, 'tag'),
    message: queryString(ctx, 'message'),
    changes: ctx.query.getAll('changes'),
    platform: queryString(ctx, 'platform'),
  });
  const out = res(ctx);
  out.writeHead(200, { 'Content-Type': 'application/json' });
  new JsonMessageWriter(out).status(image.id);
  out.end();
}

/**
 * `docker load`. Nothing is written before the archive is verified, so a broken archive is a
 * plain 400; an error after the first message goes in-band, as Docker does.
 */
async function loadImages(ctx: RequestContext, images: Pick<ImageIngester, 'load'>): Promise<void> {
  const out = res(ctx);
  const writer = new JsonMessageWriter(out);
  const start = (): void => {
    if (!out.headersSent) out.writeHead(200, { 'Content-Type': 'application/json' });
  };
  try {
    await images.load(uploadBody(ctx), (loaded) => {
      start();
      for (const { tag, previous } of loaded.replaced) {
        writer.stream(`The image ${tag} already exists, renaming the old one with ID ${previous} to empty string\n`);
      }
      if (loaded.tags.length === 0) writer.stream(`Loaded image ID: ${loaded.id}\n`);
      for (const tag of loaded.tags) writer.stream(`Loaded image: ${tag}\n`);
    });
  } catch (err) {
    // As Docker: an archive that cannot be read is told in the stream of a 200 (docker-py raises
    // its ImageLoadError from it); any other failure before the stream began keeps its status.
    if (!out.headersSent && !(err instanceof EngineError && err.kind === 'invalid')) throw err;
    start();
    writer.error(err instanceof Error ? err.message : String(err));
  }
  start();
  out.end();
}

/**
 * The request body as a stream the images part may destroy when it gives up early: the rest
 * of the upload is then read and dropped instead of the connection being cut, so the client
 * (still sending) gets the error response rather than a broken pipe.
 */
export function uploadBody(ctx: RequestContext): Readable {
  const req = ctx.req;
  const body = new PassThrough();
  req.on('error', (err) => body.destroy(err));
  body.on('close', () => {
    if (req.readableEnded) return;
    req.unpipe(body);
    req.resume();
  });
  req.pipe(body);
  return body;
}

/** `docker save`: every name is resolved before the 200, then the archive streams. */
async function saveImages(ctx: RequestContext, images: Pick<ImageReader, 'save'>, names: string[]): Promise<void> {
  if (names.length === 0) throw invalid('no image names given (names=)');
  const archive: Readable = await images.save(names);
  const out = res(ctx);
  out.writeHead(200, { 'Content-Type': 'application/x-tar' });
  if (ctx.req.method === 'HEAD') {
    archive.destroy();
    out.end();
    return;
  }
  await new Promise<void>((resolve) => {
    archive.on('error', (err) => {
      log.error({ err: err instanceof EngineError ? err.message : err }, 'save stream failed');
      out.destroy(err);
      resolve();
    });
    out.on('close', () => {
      archive.destroy();
      resolve();
    });
    out.on('finish', () => resolve());
    archive.pipe(out);
  });
}
