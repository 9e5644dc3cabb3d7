import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { EngineError, internal, invalid, notFound, unavailable } from '../errors.js';
import { log } from '../log.js';
import { parseChallenges, type AuthConfig, type Challenge } from './auth.js';
import { registryBaseUrl } from './registry-host.js';

/**
 * A client of one registry that speaks the OCI distribution API (`/v2/`): authentication
 * (anonymous, Basic, Bearer tokens from the `WWW-Authenticate` challenge, per repository
 * scope), manifests, blobs and uploads. It holds no state beyond its tokens; callers create
 * one per operation.
 *
 * Plain HTTP is used only for loopback registries and for those `insecure-registries` lists
 * (a host, host:port or CIDR); every other registry is spoken to over HTTPS.
 */

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Manifests and indexes larger than this are refused (the spec suggests 4 MiB). */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

/*
 * node:http rather than undici 7: undici 7 throws an uncatchable AssertionError (crashing
 * pierd) when a registry closes a connection while a response body waits under backpressure
 * (nodejs/undici#5360, fixed in undici 8, which needs Node 22).
 */
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16, keepAliveMsecs: 10_000 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, keepAliveMsecs: 10_000 });
/** No answer (headers, or the next body bytes) within this long fails the request. */
const IDLE_TIMEOUT_MS = 120_000;

export interface RegistryOptions {
  auth?: AuthConfig;
  /** `insecure-registries` of the daemon configuration. */
  insecure?: readonly string[];
  userAgent?: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** `Docker-Content-Digest`, or '' when the registry sent none. */
  digestHeader: string;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { dump?: () => Promise<void> };
}

/** The distribution API's error body: `{"errors":[{"code","message","detail"}]}`. */
async function errorText(body: Readable): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (text.length < 8192) text += chunk.toString('utf8');
    }
  } catch {
    return '';
  }
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors.map((e) => [e.code?.toLowerCase().replace(/_/g, ' '), e.message].filter((x) => x).join(': ')).join('; ');
    }
  } catch {
    // not JSON: the text itself, shortened
  }
  return text.trim().slice(0, 200);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A blob GET prepared for another thread (RegistryClient.blobRequest). */
export interface BlobRequest {
  url: string;
  headers: Record<string, string>;
  /** The registry's origin: a redirect elsewhere goes without the Authorization header. */
  origin: string;
}

export class RegistryClient {
  readonly domain: string;
  readonly base: string;
  private readonly auth: AuthConfig | undefined;
  private readonly userAgent: string;
  /** The challenge of `GET /v2/` (undefined until pinged; null when the registry is open). */
  private challenge: Challenge | null | undefined;
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(domain: string, opts: RegistryOptions = {}) {
    this.domain = domain;
    this.base = registryBaseUrl(domain, opts.insecure);
    this.auth = opts.auth;
    this.userAgent = opts.userAgent ?? 'pier/0.1';
  }

  // ---------------------------------------------------------------- auth

  /** Learn how the registry authenticates (`GET /v2/`). Throws unavailable when it cannot be reached. */
  async ping(): Promise<void> {
    if (this.challenge !== undefined) return;
    const res = await this.send('GET', `${this.base}/v2/`, {});
    await res.body.dump?.();
    if (res.status === 401) {
      const all = parseChallenges(headerString(res.headers['www-authenticate']));
      this.challenge = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic') ?? null;
      if (this.challenge === null) throw this.statusError(401, `${this.domain}: authentication required`, '');
      return;
    }
    if (res.status >= 500) throw this.statusError(res.status, `${this.domain}: GET /v2/`, '');
    this.challenge = null;
  }

  /** Check the credentials (`POST /auth`): pings, then asks for a token or sends Basic to `/v2/`. */
  async login(): Promise<void> {
    await this.ping();
    if (this.challenge === null || this.challenge === undefined) return;
    const headers = await this.authHeaders([]);
    const res = await this.send('GET', `${this.base}/v2/`, headers);
    const text = res.status === 200 ? '' : await errorText(res.body);
    if (res.status === 200) await res.body.dump?.();
    if (res.status !== 200) throw this.statusError(res.status, `login to ${this.domain}`, text);
  }

  /** The Authorization header for these scopes (`repository:<name>:pull,push`). */
  private async authHeaders(scopes: string[]): Promise<Record<string, string>> {
    await this.ping();
    const c = this.challenge;
    if (!c) return {};
    if (c.scheme === 'basic') {
      const basic = this.basicCredentials();
      if (basic === undefined) return {};
      return { authorization: `Basic ${basic}` };
    }
    if (this.auth?.registrytoken) return { authorization: `Bearer ${this.auth.registrytoken}` };
    const key = scopes.join(' ');
    let token = this.tokens.get(key);
    if (!token) {
      token = this.fetchToken(c, scopes);
      this.tokens.set(key, token);
      token.catch(() => this.tokens.delete(key));
    }
    return { authorization: `Bearer ${await token}` };
  }

  private basicCredentials(): string | undefined {
    const a = this.auth;
    if (a?.username === undefined) return undefined;
    return Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64');
  }

  /** Token flow of distribution's docs/spec/auth/token.md (GET with Basic credentials when known). */
  private async fetchToken(c: Challenge, scopes: string[]): Promise<string> {
    const realm = c.params.realm;
    if (realm === undefined) throw invalid(`${this.domain}: Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw invalid(`${this.domain}: invalid token realm ${realm}`);
    }
    if (c.params.service !== undefined) url.searchParams.set('service', c.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    const basic = this.basicCredentials();
    if (basic !== undefined) headers.authorization = `Basic ${basic}`;
    let res: RegistryResponse;
    if (this.auth?.identitytoken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.auth.identitytoken, client_id: 'pier', service: c.params.service ?? '' });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      res = await this.send('POST', url.toString(), { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
    } else {
      res = await this.send('GET', url.toString(), headers);
    }
    if (res.status !== 200) {
      const text = await errorText(res.body);
      throw this.statusError(res.status, `${this.domain}: token from ${url.origin}${url.pathname}`, text);
    }
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(await readLimited(res.body, 1024 * 1024, 'token response')) as typeof body;
    } catch (err) {
      throw invalid(`${this.domain}: token response is not JSON`, err);
    }
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || token === '') throw invalid(`${this.domain}: the token server answered no token`);
    return token;
  }

  // ---------------------------------------------------------------- requests

  /**
   * One request to the registry with the credentials for `repo` and `actions`. A 401 with a
   * request that has no streamed body re-asks for a token once. Redirects are followed, without
   * the Authorization header when they leave the registry (CDNs). The caller reads or dumps the body.
   */
  async fetch(
    method: string,
    pathOrUrl: string,
    opts: { repo?: string; actions?: string[]; headers?: Record<string, string>; body?: Readable | Buffer | string; extraScopes?: string[] } = {},
  ): Promise<RegistryResponse> {
    const scopes = opts.repo !== undefined ? [`repository:${opts.repo}:${(opts.actions ?? ['pull']).join(',')}`, ...(opts.extraScopes ?? [])] : [];
    let url = pathOrUrl.startsWith('http') ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const auth = await this.authHeaders(scopes);
    let headers = { ...opts.headers, ...auth };
    for (let hop = 0; hop < 5; hop++) {
      const res = await this.send(method, url, headers, opts.body);
      if ([301, 302, 303, 307, 308].includes(res.status) && typeof res.headers.location === 'string') {
        await res.body.dump?.();
        const next = new URL(res.headers.location, url);
        if (next.origin !== new URL(this.base).origin) {
          headers = { ...opts.headers };
        }
        url = next.toString();
        continue;
      }
      return res;
    }
    throw invalid(`${this.domain}: too many redirects for ${method} ${pathOrUrl}`);
  }

  private send(method: string, url: string, headers: Record<string, string>, body?: Readable | Buffer | string): Promise<RegistryResponse> {
    const fail = (err: unknown): EngineError => {
      const code = (err as { code?: string }).code;
      return unavailable(`registry ${this.domain} is not reachable (${method} ${url}): ${code ?? (err as Error).message}`, err);
    };
    return new Promise<RegistryResponse>((resolve, reject) => {
      const u = new URL(url);
      const secure = u.protocol === 'https:';
      const all: Record<string, string> = { 'user-agent': this.userAgent, ...headers };
      if (body === undefined && !['GET', 'HEAD', 'DELETE'].includes(method) && all['content-length'] === undefined) all['content-length'] = '0';
      if ((typeof body === 'string' || Buffer.isBuffer(body)) && all['content-length'] === undefined) all['content-length'] = String(Buffer.byteLength(body));
      const req = (secure ? https : http).request(u, { method, headers: all, agent: secure ? httpsAgent : httpAgent });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no answer within ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(fail(err)));
      req.on('response', (res) => {
        log.debug({ method, url, status: res.statusCode }, 'registry answered');
        res.on('error', () => undefined);
        const stream = res as unknown as RegistryResponse['body'];
        // Reading a response to its end is what returns its socket to the pool.
        stream.dump = () =>
          new Promise<void>((done) => {
            if (res.readableEnded || res.destroyed) return done();
            res.on('end', done);
            res.on('close', done);
            res.resume();
          });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: stream });
      });
      if (body === undefined) req.end();
      else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  /** An EngineError for a registry status, in Docker's words where it has some. */
  statusError(status: number, what: string, detail: string): EngineError {
    const text = `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
    const suffix = detail !== '' ? `: ${detail}` : '';
    if (status === 401) return new EngineError('unauthorized', `${what}: unauthorized${suffix || ': authentication required'}`);
    if (status === 403) return new EngineError('forbidden', `${what}: denied${suffix}`);
    if (status === 404) return notFound(`${what}: not found${suffix}`);
    if (status >= 500) return unavailable(`${what}: the registry answered ${text}${suffix}`);
    return invalid(`${what}: unexpected HTTP status ${text}${suffix}`);
  }

  // ---------------------------------------------------------------- manifests

  /** `GET /v2/<repo>/manifests/<reference>`: the raw bytes and their media type. */
  async getManifest(repo: string, reference: string, display: string): Promise<FetchedManifest> {
    const res = await this.fetch('GET', `/v2/${repo}/manifests/${reference}`, { repo, headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) {
      const detail = await errorText(res.body);
      if (res.status === 404) throw notFound(`manifest for ${display} not found: manifest unknown${detail ? `: ${detail}` : ''}`);
      throw this.statusError(res.status, `pull ${display}`, detail);
    }
    const bytes = await readLimitedBuffer(res.body, MANIFEST_LIMIT, `manifest of ${display}`);
    return { bytes, mediaType: headerString(res.headers['content-type'])?.split(';')[0]?.trim() ?? '', digestHeader: headerString(res.headers['docker-content-digest']) ?? '' };
  }

  /** `HEAD /v2/<repo>/manifests/<reference>`. */
  async headManifest(repo: string, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const res = await this.fetch('HEAD', `/v2/${repo}/manifests/${reference}`, { repo, headers: { accept: MANIFEST_ACCEPT } });
    await res.body.dump?.();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.statusError(res.status, `HEAD manifest ${repo}:${reference}`, '');
    return {
      digest: headerString(res.headers['docker-content-digest']) ?? '',
      mediaType: headerString(res.headers['content-type']) ?? '',
      size: Number(headerString(res.headers['content-length']) ?? '0'),
    };
  }

  /** `PUT /v2/<repo>/manifests/<tag>`; returns the digest the registry computed. */
  async putManifest(repo: string, tag: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.fetch('PUT', `/v2/${repo}/manifests/${tag}`, {
      repo,
      actions: ['pull', 'push'],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    });
    const detail = res.status === 201 || res.status === 200 ? '' : await errorText(res.body);
    if (detail === '') await res.body.dump?.();
    if (res.status !== 201 && res.status !== 200) throw this.statusError(res.status, `push manifest ${this.domain}/${repo}:${tag}`, detail);
    return headerString(res.headers['docker-content-digest']) ?? '';
  }

  /** `GET /v2/<repo>/tags/list`. */
  async listTags(repo: string): Promise<string[]> {
    const res = await this.fetch('GET', `/v2/${repo}/tags/list`, { repo });
    if (res.status !== 200) throw this.statusError(res.status, `list tags of ${this.domain}/${repo}`, await errorText(res.body));
    const body = JSON.parse(await readLimited(res.body, MANIFEST_LIMIT, 'tag list')) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  // ---------------------------------------------------------------- blobs

  /** `GET /v2/<repo>/blobs/<digest>`: the response body, to be verified by the caller. */
  async getBlob(repo: string, digest: string): Promise<{ body: Readable; size: number | undefined }> {
    const res = await this.fetch('GET', `/v2/${repo}/blobs/${digest}`, { repo });
    if (res.status !== 200) {
      const detail = await errorText(res.body);
      throw this.statusError(res.status, this.blobWhat(repo, digest), detail);
    }
    const len = headerString(res.headers['content-length']);
    return { body: res.body, size: len !== undefined ? Number(len) : undefined };
  }

  /**
   * What another thread needs to GET a blob itself (an unpack worker): the URL and headers,
   * credentials included, of `GET /v2/<repo>/blobs/<digest>`, and the registry's origin, which
   * a redirect must not leave with the credentials. A status other than 200 that the other
   * thread got is reported with `statusError(status, blobWhat(...), '')`, as getBlob does.
   */
  async blobRequest(repo: string, digest: string): Promise<BlobRequest> {
    const auth = await this.authHeaders([`repository:${repo}:pull`]);
    return { url: `${this.base}/v2/${repo}/blobs/${digest}`, headers: { 'user-agent': this.userAgent, ...auth }, origin: new URL(this.base).origin };
  }

  /** How errors name a blob of this registry. */
  blobWhat(repo: string, digest: string): string {
    return `blob ${digest} of ${this.domain}/${repo}`;
  }

  /** `HEAD /v2/<repo>/blobs/<digest>`: whether the registry has the blob in that repository. */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.fetch('HEAD', `/v2/${repo}/blobs/${digest}`, { repo, actions: ['pull', 'push'] });
    await res.body.dump?.();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.statusError(res.status, `HEAD blob ${digest} of ${this.domain}/${repo}`, '');
  }

  /**
   * Start an upload (`POST /v2/<repo>/blobs/uploads/`), or mount `digest` from the repository
   * `from` of the same registry: returns 'mounted' when the registry mounted it, else the
   * upload URL.
   */
  async startUpload(repo: string, mount?: { digest: string; from: string }): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const query = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.fetch('POST', `/v2/${repo}/blobs/uploads/${query}`, {
      repo,
      actions: ['pull', 'push'],
      extraScopes: mount ? [`repository:${mount.from}:pull`] : [],
      headers: { 'content-length': '0' },
    });
    if (res.status === 201 && mount) {
      await res.body.dump?.();
      return { mounted: true };
    }
    if (res.status !== 202) throw this.statusError(res.status, `start upload to ${this.domain}/${repo}`, await errorText(res.body));
    await res.body.dump?.();
    return { mounted: false, location: this.location(res, 'upload') };
  }

  /** Monolithic upload: `PUT <location>?digest=` with the whole blob. */
  async putBlob(repo: string, location: string, digest: string, size: number, body: Readable): Promise<void> {
    const url = withQuery(location, 'digest', digest);
    const res = await this.fetch('PUT', url, {
      repo,
      actions: ['pull', 'push'],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
    });
    if (res.status !== 201) throw this.statusError(res.status, `upload blob ${digest} to ${this.domain}/${repo}`, await errorText(res.body));
    await res.body.dump?.();
  }

  /** Streamed chunk: `PATCH <location>` with a body of unknown length; returns the next location. */
  async patchBlob(repo: string, location: string, body: Readable): Promise<string> {
    const res = await this.fetch('PATCH', location, { repo, actions: ['pull', 'push'], headers: { 'content-type': 'application/octet-stream' }, body });
    if (res.status !== 202) throw this.statusError(res.status, `upload to ${this.domain}/${repo}`, await errorText(res.body));
    await res.body.dump?.();
    return this.location(res, 'upload');
  }

  /** Close an upload: `PUT <location>?digest=` with no body. */
  async finishUpload(repo: string, location: string, digest: string): Promise<void> {
    const res = await this.fetch('PUT', withQuery(location, 'digest', digest), { repo, actions: ['pull', 'push'], headers: { 'content-length': '0' } });
    if (res.status !== 201) throw this.statusError(res.status, `finish upload of ${digest} to ${this.domain}/${repo}`, await errorText(res.body));
    await res.body.dump?.();
  }

  /** Cancel an upload (best effort). */
  async cancelUpload(repo: string, location: string): Promise<void> {
    try {
      const res = await this.fetch('DELETE', location, { repo, actions: ['pull', 'push'] });
      await res.body.dump?.();
    } catch {
      // The upload expires on the registry anyway.
    }
  }

  private location(res: RegistryResponse, what: string): string {
    const loc = headerString(res.headers.location);
    if (loc === undefined) throw internal(`${this.domain}: ${what} answer without a Location`);
    return new URL(loc, this.base).toString();
  }
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

export function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function readLimited(body: Readable, limit: number, what: string): Promise<string> {
  return (await readLimitedBuffer(body, limit, what)).toString('utf8');
}

async function readLimitedBuffer(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw invalid(`${what}: larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
