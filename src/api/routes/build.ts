import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BuildContext } from '../../build/context.js';
import { BuildStepError, type Build, type BuildOptions } from '../../build/build.js';
import { commitContainer, type CommitDeps } from '../../build/commit.js';
import { parseRegistryConfigHeader } from '../../distribution/auth.js';
import { EngineError, invalid } from '../../errors.js';
import { parseReference, referenceString, withDefaultTag } from '../../images/reference.js';
import { parsePlatform } from '../../images/import.js';
import { hostPlatform, ImageConfigSchema } from '../../images/types.js';
import { log } from '../../log.js';
import { readBody, queryBool, queryInt, queryString, res, sendJson } from '../http.js';
import type { RequestContext, Router } from '../router.js';
import { JsonMessageWriter } from '../streams.js';

/**
 * The classic builder's endpoints (moby's daemon/server/router/build): `POST /build` with a
 * tar context (plain or gzip) answering the classic JSON stream, `POST /build/prune`, and
 * `POST /commit`. A Dockerfile that does not parse, a bad tag or an unknown target is an
 * HTTP error (nothing was streamed yet); what fails later comes as the stream's last message
 * (`errorDetail` + `error`, with the command's exit code as `errorDetail.code`).
 */

function jsonQuery<S extends z.ZodType>(ctx: RequestContext, name: string, schema: S, fallback: z.infer<S>): z.infer<S> {
  const raw = queryString(ctx, name);
  if (raw === undefined || raw === '') return fallback;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`invalid ${name} parameter: ${raw}`);
  }
  if (v === null) return fallback;
  const parsed = schema.safeParse(v);
  if (!parsed.success) throw invalid(`invalid ${name} parameter: ${raw}`);
  return parsed.data;
}

/** The build options from `POST /build`'s query. Throws `invalid` for malformed ones. */
export function buildOptionsOf(ctx: RequestContext): BuildOptions {
  const tags = ctx.query.getAll('t').filter((t) => t !== '');
  const normalized = tags.map((t) => {
    const ref = parseReference(t);
    if (ref.digest !== undefined) throw invalid(`invalid tag ${t}: a build cannot tag a digest reference`);
    return referenceString(withDefaultTag(ref));
  });
  const networkMode = queryString(ctx, 'networkmode') ?? 'default';
  const opts: BuildOptions = {
    dockerfile: queryString(ctx, 'dockerfile') ?? 'Dockerfile',
    tags: normalized,
    buildArgs: jsonQuery(ctx, 'buildargs', z.record(z.string(), z.string().nullable()), {}),
    labels: jsonQuery(ctx, 'labels', z.record(z.string(), z.string()), {}),
    noCache: queryBool(ctx, 'nocache'),
    pull: queryBool(ctx, 'pull'),
    networkMode: networkMode || 'default',
    cacheFrom: jsonQuery(ctx, 'cachefrom', z.array(z.string()), []),
    quiet: queryBool(ctx, 'q'),
    // One value with commas (the docker CLI) or the parameter repeated (docker-py).
    extraHosts: ctx.query.getAll('extrahosts').flatMap((v) => v.split(/[,\s]+/)).filter((h) => h !== ''),
  };
  const target = queryString(ctx, 'target');
  if (target) opts.target = target;
  const memory = queryInt(ctx, 'memory');
  if (memory) opts.memory = memory;
  const cpuShares = queryInt(ctx, 'cpushares');
  if (cpuShares) opts.cpuShares = cpuShares;
  const shmSize = queryInt(ctx, 'shmsize');
  if (shmSize) opts.shmSize = shmSize;
  const registryConfig = ctx.req.headers['x-registry-config'];
  const auths = parseRegistryConfigHeader(Array.isArray(registryConfig) ? registryConfig[0] : registryConfig);
  if (auths.size > 0) opts.registryConfig = auths;
  const platform = queryString(ctx, 'platform');
  if (platform) {
    const wanted = parsePlatform(platform);
    const host = hostPlatform();
    if (wanted.architecture !== host.architecture) throw invalid(`platform ${platform}: pier builds for ${host.os}/${host.architecture} only (no emulation)`);
    opts.platform = platform;
  }
  return opts;
}

/**
 * `pier build --secret`: the classic API has no session to ask the client for secrets, so
 * pier's own CLI sends them in `X-Pier-Build-Secrets` (base64 of a JSON object id → base64
 * content). The docker CLI never sends it: a RUN that requires a secret then fails clearly.
 */
function secretsOf(ctx: RequestContext): Map<string, Buffer> {
  const header = ctx.req.headers['x-pier-build-secrets'];
  const out = new Map<string, Buffer>();
  if (typeof header !== 'string' || header === '') return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw invalid('X-Pier-Build-Secrets: not base64-encoded JSON');
  }
  const r = z.record(z.string(), z.string()).safeParse(parsed);
  if (!r.success) throw invalid('X-Pier-Build-Secrets: expected an object of id to base64 content');
  for (const [id, b64] of Object.entries(r.data)) out.set(id, Buffer.from(b64, 'base64'));
  return out;
}

export function registerBuildRoutes(r: Router, builder: Build, commitDeps: CommitDeps): void {
  r.post('/build', async (ctx) => {
    const version = queryString(ctx, 'version');
    if (version === '2') throw invalid('BuildKit (version=2) is not supported by pier: use the classic builder (DOCKER_BUILDKIT=0)');
    const opts = buildOptionsOf(ctx);
    if (queryString(ctx, 'remote')) throw invalid('building from a remote context (remote=) is not supported: send the context as the request body');
    const secrets = secretsOf(ctx);
    const context = await BuildContext.extract(ctx.req, builder.contextParent);
    let secretDir: string | undefined;
    try {
      if (secrets.size > 0) {
        // Secrets live in a private folder for the build only: never in the context, the cache key or a layer.
        secretDir = await builder.tempDir('secrets-');
        opts.secrets = new Map();
        for (const [id, content] of secrets) {
          const path = join(secretDir, id.replace(/[^A-Za-z0-9_.-]/g, '_'));
          await writeFile(path, content, { mode: 0o400 });
          opts.secrets.set(id, path);
        }
      }
      await builder.prepare(context, opts);
      const out = res(ctx);
      out.writeHead(200, { 'Content-Type': 'application/json' });
      const writer = new JsonMessageWriter(out);
      const cancel = new AbortController();
      out.once('close', () => {
        if (!out.writableFinished) cancel.abort();
      });
      opts.signal = cancel.signal;
      try {
        await builder.build(context, opts, { stream: (text) => writer.stream(text), aux: (value) => writer.write({ aux: value }), progress: (msg) => writer.write(msg) });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!(err instanceof EngineError)) log.error({ err }, 'build failed');
        const code = err instanceof BuildStepError ? err.exitCode : undefined;
        writer.write({ errorDetail: code === undefined ? { message } : { message, code }, error: message });
      }
      out.end();
    } finally {
      await context.close();
      if (secretDir) await rm(secretDir, { recursive: true, force: true });
    }
  });

  r.post('/build/prune', async (ctx) => {
    sendJson(ctx, 200, await builder.prune());
  });

  r.post('/build/cancel', (ctx) => {
    // The classic builder stops when its client goes away; nothing to cancel by ID.
    sendJson(ctx, 200, {});
    return Promise.resolve();
  });

  r.post('/commit', async (ctx) => {
    const container = queryString(ctx, 'container');
    if (!container) throw invalid('container is required');
    const body = await readBody(ctx.req);
    let config: z.infer<typeof ImageConfigSchema> | null = null;
    if (body.length > 0) {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw invalid('commit config: the body is not JSON');
      }
      const parsed = ImageConfigSchema.nullable().safeParse(json);
      if (!parsed.success) throw invalid('invalid commit config');
      config = parsed.data;
    }
    const image = await commitContainer(commitDeps, {
      container,
      repo: queryString(ctx, 'repo'),
      tag: queryString(ctx, 'tag'),
      comment: queryString(ctx, 'comment'),
      author: queryString(ctx, 'author'),
      pause: queryBool(ctx, 'pause', true),
      changes: ctx.query.getAll('changes').filter((c) => c !== ''),
      config,
    });
    sendJson(ctx, 201, { Id: image.id });
  });
}
