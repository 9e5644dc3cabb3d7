import http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type {
  ContainerChange,
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerPathStat,
  ContainerPruneResponse,
  ContainerSummary,
  ContainerWaitResponse,
  ExecCreateBody,
  ExecInspect,
  ImageDeleteItem,
  ImageHistoryItem,
  ImageInspect,
  ImagePruneResponse,
  ImageSummary,
  NetworkCreateBody,
  NetworkCreateResponse,
  NetworkEndpointConfig,
  NetworkSummary,
  SystemInfo,
  SystemVersion,
  ContainerStats,
  SystemDf,
} from './types.js';

/**
 * A typed client of the Docker Engine API over a unix socket (or TCP), used by the `pier`
 * CLI and by pier's integration tests. It speaks only the wire format: any daemon serving
 * API v1.51 (pierd, dockerd) answers it.
 *
 * Contract:
 * - Every path is sent under the version prefix (`/v1.51/containers/json`). A daemon that
 *   refuses the version as too new is pinged once for its `Api-Version` and the request
 *   repeated under that version (bodies that are streams cannot be repeated).
 * - A status of 400 or more throws an ApiError holding Docker's `message`; 304 is success.
 * - A daemon that cannot be reached (no socket, refused, no permission) throws a
 *   DaemonUnreachableError before anything was sent.
 */

export const API_VERSION = '1.51';
export const DEFAULT_HOST = 'unix:///run/pier/pier.sock';
/** The version of pier's client and CLI. */
export const CLIENT_VERSION = '0.1.0';
const USER_AGENT = `pier-cli/${CLIENT_VERSION} (linux)`;

/** An error answer of the daemon: its HTTP status and the `message` of its JSON body. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The daemon's socket could not be reached at all. */
export class DaemonUnreachableError extends Error {
  readonly host: string;
  readonly code: string;
  constructor(host: string, code: string, cause?: unknown) {
    super(`cannot reach the daemon at ${host} (${describeCode(code)})`, { cause });
    this.name = 'DaemonUnreachableError';
    this.host = host;
    this.code = code;
  }
}

function describeCode(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTSOCK':
      return 'not a socket';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'timed out';
    default:
      return code;
  }
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** The daemon address in use: `-H`/`--host`, else `PIER_HOST`, else `DOCKER_HOST`, else pier's socket. */
export function resolveHost(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.PIER_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Parse `unix:///path`, a bare absolute path, `tcp://host:port` or `http://host:port`. */
export function parseHost(host: string): Endpoint {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (path === '') throw new Error(`unable to parse docker host \`${host}\``);
    return { socketPath: path };
  }
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (m) return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2375 };
  throw new Error(`unable to parse docker host \`${host}\``);
}

type QueryScalar = string | number | boolean | undefined | null;
/** Query values: `true` is sent as `1`, `false`, undefined and null are left out, arrays repeat the key. */
export type Query = Record<string, QueryScalar | readonly string[]>;

/** Docker's `filters` query value: `{"status":{"exited":true}}`, from `key=value` pairs or a map. */
export function filtersParam(filters: readonly string[] | Record<string, readonly string[]> | undefined): string | undefined {
  if (filters === undefined) return undefined;
  const map: Record<string, Record<string, boolean>> = {};
  const add = (k: string, v: string): void => {
    (map[k] ??= {})[v] = true;
  };
  if (Array.isArray(filters)) {
    for (const f of filters as readonly string[]) {
      const eq = f.indexOf('=');
      if (eq <= 0) throw new Error(`bad format of filter (expected name=value)`);
      add(f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1));
    }
  } else {
    for (const [k, vs] of Object.entries(filters as Record<string, readonly string[]>)) for (const v of vs) add(k, v);
  }
  return Object.keys(map).length === 0 ? undefined : JSON.stringify(map);
}

export function encodeQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === false) continue;
    if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
    else params.append(k, v === true ? '1' : String(v));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

export interface RequestOptions {
  query?: Query;
  /** A JSON value (sent as application/json), or raw bytes, or a stream (sent chunked). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Response<T> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  /** The body as received. */
  raw: string;
}

export interface Hijacked {
  /** The raw connection: output of the container to read, stdin to write, `end()` to half-close. */
  socket: Socket;
  /** `application/vnd.docker.multiplexed-stream` (frames) or `application/vnd.docker.raw-stream` (TTY). */
  contentType: string;
}

export interface ClientOptions {
  host?: string;
  version?: string;
}

/** An image reference in a path: Docker sends `/images/docker.io/library/alpine:3/json` with its slashes and colons as they are. */
export function imagePath(name: string): string {
  return encodeURIComponent(name).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/g, '@');
}

function isStream(body: unknown): body is NodeJS.ReadableStream {
  return body instanceof Readable || (typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function');
}

async function readText(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Docker's error message from an error body: `{"message": ...}`, else the text itself. */
function errorMessage(status: number, text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON after all: fall through to the text
    }
  }
  if (trimmed !== '') return trimmed;
  return `${status} ${http.STATUS_CODES[status] ?? 'error'}`;
}

const isVersionTooNew = (err: unknown): boolean => err instanceof ApiError && err.status === 400 && /client version .* is too new/i.test(err.message);

/** The stat header of an archive answer. */
function pathStatOf(res: http.IncomingMessage): ContainerPathStat {
  const header = res.headers['x-docker-container-path-stat'];
  if (typeof header !== 'string') throw new Error('the daemon sent no X-Docker-Container-Path-Stat header');
  return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as ContainerPathStat;
}

export class Client {
  readonly host: string;
  private readonly endpoint: Endpoint;
  private apiVer: string;
  private readonly agent: http.Agent;

  constructor(opts: ClientOptions = {}) {
    this.host = opts.host ?? resolveHost();
    this.endpoint = parseHost(this.host);
    this.apiVer = opts.version ?? API_VERSION;
    this.agent = new http.Agent({ keepAlive: true });
  }

  /** The API version requests are sent under. */
  get apiVersion(): string {
    return this.apiVer;
  }

  /** Close idle kept-alive connections (the process can then exit on its own). */
  close(): void {
    this.agent.destroy();
  }

  private path(path: string, query?: Query): string {
    return `/v${this.apiVer}${path}${encodeQuery(query)}`;
  }

  private unreachable(err: Error): Error {
    const code = (err as NodeJS.ErrnoException).code;
    return code && UNREACHABLE.has(code) ? new DaemonUnreachableError(this.host, code, err) : err;
  }

  /** Send a request and resolve with the response head; the body is left to read. */
  private send(method: string, path: string, opts: RequestOptions, extra: { upgrade?: boolean } = {}): Promise<http.IncomingMessage | Hijacked> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...opts.headers };
      let payload: Buffer | undefined;
      const body = opts.body;
      if (body !== undefined && !isStream(body)) {
        if (Buffer.isBuffer(body)) payload = body;
        else if (typeof body === 'string') payload = Buffer.from(body);
        else {
          payload = Buffer.from(JSON.stringify(body));
          headers['Content-Type'] ??= 'application/json';
        }
        headers['Content-Length'] = String(payload.length);
      } else if (body === undefined && method !== 'GET' && method !== 'HEAD') {
        headers['Content-Length'] = '0';
      }
      if (extra.upgrade) {
        headers.Connection = 'Upgrade';
        headers.Upgrade = 'tcp';
      }
      const req = http.request({
        ...(this.endpoint.socketPath ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.hostname, port: this.endpoint.port }),
        method,
        path,
        headers,
        agent: extra.upgrade ? false : this.agent,
        signal: opts.signal,
      });
      let settled = false;
      req.on('error', (err) => {
        if (settled) return;
        settled = true;
        reject(this.unreachable(err));
      });
      req.on('response', (res) => {
        settled = true;
        resolve(res);
      });
      if (extra.upgrade) {
        req.on('upgrade', (res, socket, head) => {
          settled = true;
          if (head.length > 0) socket.unshift(head);
          resolve({ socket, contentType: res.headers['content-type'] ?? '' });
        });
      }
      if (isStream(body)) {
        body.on('error', (err: Error) => req.destroy(err));
        body.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** Send a request and check its status; an error status throws ApiError after reading the body. */
  private async open(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const res = (await this.send(method, this.path(path, opts.query), opts)) as http.IncomingMessage;
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new ApiError(status, errorMessage(status, await readText(res)));
    return res;
  }

  /** Retry once under the daemon's own version when it calls ours too new. */
  private async negotiated<T>(fn: () => Promise<T>, body: unknown): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isVersionTooNew(err) || isStream(body)) throw err;
      const ping = await this.ping();
      if (!ping.apiVersion || ping.apiVersion === this.apiVer) throw err;
      this.apiVer = ping.apiVersion;
      return fn();
    }
  }

  /** A request with a buffered answer: status, headers and the body parsed as JSON when it is JSON. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<Response<T>> {
    return this.negotiated(async () => {
      const res = await this.open(method, path, opts);
      const raw = await readText(res);
      const type = res.headers['content-type'] ?? '';
      let body: unknown = raw;
      if (raw === '') body = undefined;
      else if (type.includes('json') || /^\s*[[{]/.test(raw)) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      return { status: res.statusCode ?? 0, headers: res.headers, body: body as T, raw };
    }, opts.body);
  }

  /** A request whose answer is a stream (logs, events, pull progress, image tars): the body, unread. */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    return this.negotiated(() => this.open(method, path, opts), opts.body);
  }

  /**
   * Hijack a connection as Docker's attach and exec do: `Connection: Upgrade`, `Upgrade: tcp`,
   * and the daemon must answer `101`. Resolves with the raw socket.
   */
  async hijack(method: string, path: string, opts: RequestOptions = {}): Promise<Hijacked> {
    return this.negotiated(async () => {
      const answer = await this.send(method, this.path(path, opts.query), opts, { upgrade: true });
      if ('socket' in answer && !(answer instanceof http.IncomingMessage)) return answer;
      const res = answer;
      const status = res.statusCode ?? 0;
      const text = await readText(res);
      if (status >= 400) throw new ApiError(status, errorMessage(status, text));
      throw new Error(`unable to upgrade to tcp, received ${status}`);
    }, opts.body);
  }

  /** `HEAD /_ping` (unversioned): the daemon's API version, or throws when unreachable. */
  async ping(): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = (await this.send('HEAD', '/_ping', {})) as http.IncomingMessage;
    res.resume();
    const v = res.headers['api-version'];
    const os = res.headers.ostype;
    return { apiVersion: typeof v === 'string' ? v : undefined, osType: typeof os === 'string' ? os : undefined };
  }

  // --- containers ---

  async containerCreate(body: ContainerCreateBody, opts: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return (await this.request<ContainerCreateResponse>('POST', '/containers/create', { query: { name: opts.name, platform: opts.platform }, body })).body;
  }

  async containerStart(id: string, opts: { detachKeys?: string } = {}): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/start`, { query: { detachKeys: opts.detachKeys } });
  }

  async containerStop(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/stop`, { query: { signal: opts.signal, t: opts.timeout } });
  }

  async containerRestart(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/restart`, { query: { signal: opts.signal, t: opts.timeout } });
  }

  async containerKill(id: string, signal?: string): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/kill`, { query: { signal } });
  }

  async containerRemove(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    await this.request('DELETE', `/containers/${encodeURIComponent(id)}`, { query: { force: opts.force, link: opts.link, v: opts.volumes } });
  }

  async containerRename(id: string, name: string): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/rename`, { query: { name } });
  }

  async containerResize(id: string, height: number, width: number): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/resize`, { query: { h: height, w: width } });
  }

  async containerList(opts: { all?: boolean; limit?: number; size?: boolean; filters?: string } = {}): Promise<ContainerSummary[]> {
    const query = { all: opts.all, filters: opts.filters, limit: opts.limit !== undefined && opts.limit > 0 ? opts.limit : undefined, size: opts.size };
    return (await this.request<ContainerSummary[]>('GET', '/containers/json', { query })).body ?? [];
  }

  async containerInspect(id: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    return (await this.request<ContainerInspect>('GET', `/containers/${encodeURIComponent(id)}/json`, { query: { size: opts.size } })).body;
  }

  async containerTop(id: string, psArgs?: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    return (await this.request<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${encodeURIComponent(id)}/top`, { query: { ps_args: psArgs } })).body;
  }

  /** One stats sample (`stream=false`: with precpu_stats, for a CPU percentage). */
  async containerStats(id: string): Promise<ContainerStats> {
    return (await this.request<ContainerStats>('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: '0' } })).body;
  }

  async containerUpdate(id: string, body: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    return (await this.request<{ Warnings: string[] | null }>('POST', `/containers/${encodeURIComponent(id)}/update`, { body })).body;
  }

  async containerPrune(filters?: string): Promise<ContainerPruneResponse> {
    return (await this.request<ContainerPruneResponse>('POST', '/containers/prune', { query: { filters } })).body;
  }

  /**
   * `POST /containers/{id}/wait`. Resolves once the daemon has answered the head (so the
   * wait is in place, as `run` needs before `start`); `result` resolves with the exit.
   */
  async containerWait(id: string, condition?: 'not-running' | 'next-exit' | 'removed', signal?: AbortSignal): Promise<{ result: Promise<ContainerWaitResponse> }> {
    const res = await this.stream('POST', `/containers/${encodeURIComponent(id)}/wait`, { query: { condition }, signal });
    const result = readText(res).then((text) => {
      try {
        return JSON.parse(text) as ContainerWaitResponse;
      } catch {
        throw new Error(`unexpected answer to wait: ${text.slice(0, 200)}`);
      }
    });
    // A caller that abandons the wait (detach, error elsewhere) must not leave an unhandled
    // rejection; anyone who awaits `result` still gets the error.
    result.catch(() => undefined);
    return { result };
  }

  async containerLogs(
    id: string,
    opts: { follow?: boolean; stdout?: boolean; stderr?: boolean; since?: string; until?: string; timestamps?: boolean; tail?: string; details?: boolean } = {},
  ): Promise<http.IncomingMessage> {
    const query: Query = {
      details: opts.details,
      follow: opts.follow,
      since: opts.since,
      stderr: opts.stderr ?? true,
      stdout: opts.stdout ?? true,
      tail: opts.tail,
      timestamps: opts.timestamps,
      until: opts.until,
    };
    return this.stream('GET', `/containers/${encodeURIComponent(id)}/logs`, { query });
  }

  /** Attach to a container's streams over a hijacked connection (before `start`, as `run` does). */
  async containerAttach(id: string, opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean; logs?: boolean; detachKeys?: string } = {}): Promise<Hijacked> {
    const query: Query = { detachKeys: opts.detachKeys, logs: opts.logs, stderr: opts.stderr, stdin: opts.stdin, stdout: opts.stdout, stream: true };
    return this.hijack('POST', `/containers/${encodeURIComponent(id)}/attach`, { query });
  }

  // --- a container's files ---

  /** `HEAD /containers/{id}/archive?path=`: what is at a path (a 404 has no message: HEAD answers carry no body). */
  async containerStatPath(id: string, path: string): Promise<ContainerPathStat> {
    const res = await this.stream('HEAD', `/containers/${encodeURIComponent(id)}/archive`, { query: { path } });
    res.resume();
    return pathStatOf(res);
  }

  /** `GET /containers/{id}/archive?path=`: the tar of a path (unread) and its stat. */
  async containerArchive(id: string, path: string): Promise<{ stat: ContainerPathStat; tar: http.IncomingMessage }> {
    const res = await this.stream('GET', `/containers/${encodeURIComponent(id)}/archive`, { query: { path } });
    return { stat: pathStatOf(res), tar: res };
  }

  /** `PUT /containers/{id}/archive?path=`: unpack a tar into the folder `path` (refusing to replace a folder with a file or back, as the docker CLI asks). */
  async containerPutArchive(id: string, path: string, tar: NodeJS.ReadableStream, opts: { copyUIDGID?: boolean } = {}): Promise<void> {
    const res = await this.stream('PUT', `/containers/${encodeURIComponent(id)}/archive`, {
      query: { copyUIDGID: opts.copyUIDGID, noOverwriteDirNonDir: true, path },
      body: tar,
      headers: { 'Content-Type': 'application/x-tar' },
    });
    res.resume();
  }

  /** `GET /containers/{id}/export`: the container's filesystem as a tar, unread. */
  async containerExport(id: string): Promise<http.IncomingMessage> {
    return this.stream('GET', `/containers/${encodeURIComponent(id)}/export`);
  }

  /** `GET /containers/{id}/changes`: what `docker diff` lists. */
  async containerChanges(id: string): Promise<ContainerChange[]> {
    return (await this.request<ContainerChange[] | null>('GET', `/containers/${encodeURIComponent(id)}/changes`)).body ?? [];
  }

  // --- exec ---

  /** `POST /containers/{id}/exec`: an exec instance to start later; resolves with its ID. */
  async execCreate(container: string, body: ExecCreateBody): Promise<string> {
    return (await this.request<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, { body })).body.Id;
  }

  /** Start an exec detached: the daemon runs it and answers at once. */
  async execStartDetached(id: string, opts: { tty?: boolean } = {}): Promise<void> {
    await this.request('POST', `/exec/${encodeURIComponent(id)}/start`, { body: { Detach: true, Tty: !!opts.tty } });
  }

  /** Start an exec attached: the connection is hijacked, as for attach. */
  async execStart(id: string, opts: { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<Hijacked> {
    const body: Record<string, unknown> = { Detach: false, Tty: !!opts.tty };
    if (opts.consoleSize) body.ConsoleSize = opts.consoleSize;
    return this.hijack('POST', `/exec/${encodeURIComponent(id)}/start`, { body });
  }

  async execResize(id: string, height: number, width: number): Promise<void> {
    await this.request('POST', `/exec/${encodeURIComponent(id)}/resize`, { query: { h: height, w: width } });
  }

  async execInspect(id: string): Promise<ExecInspect> {
    return (await this.request<ExecInspect>('GET', `/exec/${encodeURIComponent(id)}/json`)).body;
  }

  // --- images ---

  async imageList(opts: { all?: boolean; filters?: string; digests?: boolean } = {}): Promise<ImageSummary[]> {
    return (await this.request<ImageSummary[]>('GET', '/images/json', { query: { all: opts.all, digests: opts.digests, filters: opts.filters } })).body ?? [];
  }

  async imageInspect(name: string): Promise<ImageInspect> {
    return (await this.request<ImageInspect>('GET', `/images/${imagePath(name)}/json`)).body;
  }

  async imageHistory(name: string): Promise<ImageHistoryItem[]> {
    return (await this.request<ImageHistoryItem[]>('GET', `/images/${imagePath(name)}/history`)).body ?? [];
  }

  async imageTag(source: string, repo: string, tag: string | undefined): Promise<void> {
    await this.request('POST', `/images/${imagePath(source)}/tag`, { query: { repo, tag } });
  }

  async imageRemove(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return (await this.request<ImageDeleteItem[]>('DELETE', `/images/${imagePath(name)}`, { query: { force: opts.force, noprune: opts.noprune } })).body ?? [];
  }

  async imagePrune(filters?: string): Promise<ImagePruneResponse> {
    return (await this.request<ImagePruneResponse>('POST', '/images/prune', { query: { filters } })).body;
  }

  /** Pull: `POST /images/create?fromImage=&tag=`; the answer is a JSON progress stream. */
  async imagePull(fromImage: string, opts: { tag?: string; platform?: string; registryAuth?: string } = {}): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = {};
    if (opts.registryAuth) headers['X-Registry-Auth'] = opts.registryAuth;
    return this.stream('POST', '/images/create', { query: { fromImage, platform: opts.platform, tag: opts.tag }, headers });
  }

  /** Import a root filesystem tar (a stream) or a URL; the answer is a JSON progress stream. */
  async imageImport(source: NodeJS.ReadableStream | string, opts: { repo?: string; message?: string; changes?: string[]; platform?: string } = {}): Promise<http.IncomingMessage> {
    const fromSrc = typeof source === 'string' ? source : '-';
    const query: Query = { changes: opts.changes, fromSrc, message: opts.message, platform: opts.platform, repo: opts.repo };
    if (typeof source === 'string') return this.stream('POST', '/images/create', { query });
    return this.stream('POST', '/images/create', { query, body: source, headers: { 'Content-Type': 'application/x-tar' } });
  }

  /** `POST /images/load` with an image archive; the answer is a JSON message stream. */
  async imageLoad(archive: NodeJS.ReadableStream, opts: { quiet?: boolean } = {}): Promise<http.IncomingMessage> {
    return this.stream('POST', '/images/load', { query: { quiet: opts.quiet }, body: archive, headers: { 'Content-Type': 'application/x-tar' } });
  }

  /** `GET /images/get?names=...`: the image archive, as a stream. */
  async imageSave(names: string[]): Promise<http.IncomingMessage> {
    return this.stream('GET', '/images/get', { query: { names } });
  }

  // --- networks ---

  async networkList(filters?: string): Promise<NetworkSummary[]> {
    return (await this.request<NetworkSummary[]>('GET', '/networks', { query: { filters } })).body ?? [];
  }

  /** `GET /networks/{id}`; `raw` is the body as the daemon sent it (for `inspect`). */
  async networkInspect(id: string, opts: { verbose?: boolean } = {}): Promise<Response<NetworkSummary>> {
    return this.request<NetworkSummary>('GET', `/networks/${encodeURIComponent(id)}`, { query: { verbose: opts.verbose } });
  }

  async networkCreate(body: NetworkCreateBody): Promise<NetworkCreateResponse> {
    return (await this.request<NetworkCreateResponse>('POST', '/networks/create', { body })).body;
  }

  async networkRemove(id: string): Promise<void> {
    await this.request('DELETE', `/networks/${encodeURIComponent(id)}`);
  }

  async networkPrune(filters?: string): Promise<{ NetworksDeleted: string[] | null }> {
    return (await this.request<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters } })).body;
  }

  async networkConnect(id: string, container: string, endpointConfig?: NetworkEndpointConfig): Promise<void> {
    await this.request('POST', `/networks/${encodeURIComponent(id)}/connect`, { body: { Container: container, EndpointConfig: endpointConfig } });
  }

  async networkDisconnect(id: string, container: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.request('POST', `/networks/${encodeURIComponent(id)}/disconnect`, { body: { Container: container, Force: !!opts.force } });
  }

  // --- system ---

  async events(opts: { since?: string; until?: string; filters?: string; signal?: AbortSignal } = {}): Promise<http.IncomingMessage> {
    return this.stream('GET', '/events', { query: { filters: opts.filters, since: opts.since, until: opts.until }, signal: opts.signal });
  }

  async version(): Promise<SystemVersion> {
    return (await this.request<SystemVersion>('GET', '/version')).body;
  }

  async info(): Promise<SystemInfo> {
    return (await this.request<SystemInfo>('GET', '/info')).body;
  }

  async systemDf(): Promise<SystemDf> {
    return (await this.request<SystemDf>('GET', '/system/df')).body;
  }
}
