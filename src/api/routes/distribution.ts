import { z } from 'zod';
import { parseRegistryAuthHeader, normalizeAuth, type AuthConfig } from '../../distribution/auth.js';
import type { Distribution } from '../../distribution/distribution.js';
import type { ProgressMessage } from '../../distribution/progress.js';
import { invalid } from '../../errors.js';
import type { ImageTagger } from '../../images/images.js';
import { familiarName, parseReference, referenceString, repositoryName, withDefaultTag } from '../../images/reference.js';
import { queryString, readJson, res, sendJson } from '../http.js';
import type { RequestContext, Router } from '../router.js';
import { JsonMessageWriter } from '../streams.js';
import type { PullHandler, PullRequest } from './images.js';

/**
 * Registry endpoints (moby's daemon/server/router/image and distribution, system's /auth):
 * the pull behind `POST /images/create?fromImage=`, `POST /images/{name}/push`,
 * `GET /distribution/{name}/json`, `POST /auth`; and pier's own tag versions:
 *
 *   GET  /pier/images/{name}/versions          the versions of a tag, newest first
 *   POST /pier/images/{name}/rollback?to=      move the tag back (to a version number or image ID)
 *
 * Progress streams answer 200 at their first message; an error before it is a plain HTTP
 * error, an error after it goes in-band (`{"errorDetail":…,"error":…}`), as Docker does.
 */

function authOf(ctx: RequestContext): AuthConfig | undefined {
  const h = ctx.req.headers['x-registry-auth'];
  return parseRegistryAuthHeader(Array.isArray(h) ? h[0] : h);
}

/** A JSON progress response that starts (200) at its first message. */
class ProgressResponse {
  private readonly writer: JsonMessageWriter;
  constructor(private readonly ctx: RequestContext) {
    this.writer = new JsonMessageWriter(res(ctx));
  }
  get started(): boolean {
    return res(this.ctx).headersSent;
  }
  send = (msg: ProgressMessage): void => {
    const out = res(this.ctx);
    if (!out.headersSent) out.writeHead(200, { 'Content-Type': 'application/json' });
    if (!out.writableEnded && !out.destroyed) this.writer.write(msg);
  };
  /** An error: thrown (HTTP status) before the first message, in-band after. */
  fail(err: unknown): void {
    if (!this.started) throw err;
    this.writer.error(err instanceof Error ? err.message : String(err));
  }
  end(): void {
    const out = res(this.ctx);
    if (!out.headersSent) out.writeHead(200, { 'Content-Type': 'application/json' });
    out.end();
  }
}

/** The reference a pull request names: `fromImage` with `tag` (a tag or a digest) when given. */
export function pullReference(req: PullRequest): string {
  const tag = req.tag;
  if (tag === undefined || tag === '') return req.fromImage;
  const ref = parseReference(req.fromImage);
  if (/^[a-z0-9]+:[a-f0-9]{32,}$/.test(tag)) return referenceString({ domain: ref.domain, path: ref.path, digest: tag });
  return referenceString({ domain: ref.domain, path: ref.path, tag });
}

/** The `deps.pull` of the image routes. */
export function pullHandler(distribution: Distribution): PullHandler {
  return async (ctx, req) => {
    const auth = authOf(ctx);
    const out = new ProgressResponse(ctx);
    const parsed = parseReference(req.fromImage);
    const allTags = (req.tag === undefined || req.tag === '') && parsed.tag === undefined && parsed.digest === undefined;
    try {
      const refs = allTags
        ? (await distribution.tags(repositoryName(parsed), auth)).map((t) => referenceString({ domain: parsed.domain, path: parsed.path, tag: t }))
        : [pullReference(req)];
      if (refs.length === 0) throw invalid(`${familiarName(parsed)}: the repository has no tags`);
      let lastDigest = '';
      let anyNew = false;
      for (const ref of refs) {
        const opts: { reference: string; platform?: string; auth?: AuthConfig } = { reference: ref };
        if (req.platform !== undefined) opts.platform = req.platform;
        if (auth) opts.auth = auth;
        const result = await distribution.pull(opts, out.send);
        lastDigest = result.digest;
        anyNew ||= !result.upToDate;
        if (!allTags) {
          out.send({ status: `Digest: ${result.digest}` });
          const name = familiarName(withDefaultTag(parseReference(ref)));
          out.send({ status: result.upToDate ? `Status: Image is up to date for ${name}` : `Status: Downloaded newer image for ${name}` });
        }
      }
      if (allTags) {
        out.send({ status: `Digest: ${lastDigest}` });
        const name = familiarName(parsed);
        out.send({ status: anyNew ? `Status: Downloaded newer image for ${name}` : `Status: Image is up to date for ${name}` });
      }
    } catch (err) {
      out.fail(err);
    }
    out.end();
  };
}

const AuthBodySchema = z.looseObject({
  username: z.string().optional(),
  password: z.string().optional(),
  auth: z.string().optional(),
  email: z.string().optional(),
  serveraddress: z.string().optional(),
  identitytoken: z.string().optional(),
  registrytoken: z.string().optional(),
});

export interface DistributionRouteDeps {
  distribution: Distribution;
  /** Tag versions and rollback. */
  images: Pick<ImageTagger, 'versions' | 'rollback'>;
}

export function registerDistributionRoutes(r: Router, deps: DistributionRouteDeps): void {
  const { distribution, images } = deps;

  r.post('/images/{name*}/push', async (ctx) => {
    const auth = authOf(ctx);
    const name = ctx.params.name!;
    const tag = queryString(ctx, 'tag');
    const parsed = parseReference(name);
    const reference = tag !== undefined ? referenceString({ domain: parsed.domain, path: parsed.path, tag }) : name;
    const out = new ProgressResponse(ctx);
    try {
      const opts: { reference: string; auth?: AuthConfig } = { reference };
      if (auth) opts.auth = auth;
      await distribution.push(opts, out.send);
    } catch (err) {
      out.fail(err);
    }
    out.end();
  });

  r.get('/distribution/{name*}/json', async (ctx) => {
    sendJson(ctx, 200, await distribution.inspect(ctx.params.name!, authOf(ctx)));
  });

  r.post('/auth', async (ctx) => {
    const body = await readJson(ctx, AuthBodySchema);
    const auth = normalizeAuth(body) ?? {};
    await distribution.login(auth);
    sendJson(ctx, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });

  r.get('/pier/images/{name*}/versions', (ctx) => {
    const name = ctx.params.name!;
    const versions = images.versions(name);
    sendJson(ctx, 200, {
      Reference: familiarName(withDefaultTag(parseReference(name))),
      Versions: versions.map((v) => ({
        Version: v.version,
        Id: v.image,
        Time: v.time,
        Cause: v.cause,
        Current: v.current,
        Available: v.available,
        Kept: v.kept,
      })),
    });
    return Promise.resolve();
  });

  r.post('/pier/images/{name*}/rollback', async (ctx) => {
    const result = await images.rollback(ctx.params.name!, queryString(ctx, 'to'));
    sendJson(ctx, 200, { Reference: result.reference, From: result.from, To: result.to, Version: result.version });
  });
}
