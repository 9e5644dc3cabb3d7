import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { invalid, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { messageOf, statusOf } from './errors.js';
import type { RequestContext, Router } from './router.js';
import { compareVersions } from './streams.js';

/** The API versions pier serves: Docker Engine API 1.51, down to 1.24. */
export const API_VERSION = '1.51';
export const MIN_API_VERSION = '1.24';
/** The Docker engine version pier answers as, in `Server:` and `/version`. */
export const ENGINE_VERSION = '28.5.0';

export interface ApiServerOptions {
  router: Router;
  log: Logger;
  /** Extra headers on every response (Docker-Experimental etc.). */
  headers?: Record<string, string>;
  /**
   * Serve HTTPS and accept only clients whose certificate `ca` signed (dockerd's --tlsverify);
   * PEM texts. Without it, plain HTTP (for unix sockets).
   */
  tls?: { ca: string; cert: string; key: string };
}

function commonHeaders(extra: Record<string, string> | undefined): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    Ostype: 'linux',
    Server: `Docker/${ENGINE_VERSION} (linux)`,
    'Docker-Experimental': 'false',
    ...extra,
  };
}

/** Split `/v1.45/containers/json` into version and path; an unversioned path means the maximum. */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(pathname);
  if (!m) return { version: API_VERSION, path: pathname };
  const version = m[1]!;
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw invalid(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  // Newer clients are served as the maximum rather than refused; they negotiate down anyway.
  return { version: compareVersions(version, API_VERSION) > 0 ? API_VERSION : version, path: m[2]! };
}

export function createApiServer(opts: ApiServerOptions): Server {
  const headers = commonHeaders(opts.headers);
  const timeouts = { requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 5000 };
  const server: Server = opts.tls
    ? createTlsServer({ ...timeouts, ...opts.tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' })
    : createServer(timeouts);

  const dispatch = async (req: IncomingMessage, res: ServerResponse | undefined, socket: Duplex | undefined, head: Buffer | undefined): Promise<void> => {
    const started = Date.now();
    let hijacked = false;
    const sendError = (err: unknown): void => {
      const status = statusOf(err);
      const message = messageOf(err);
      // A client that went away mid-answer (a cancelled `logs -f`, an aborted pull) is normal traffic.
      if (clientGone(req, err)) opts.log.debug({ method: req.method, url: req.url, err: messageOf(err) }, 'client went away');
      else if (status >= 500) opts.log.error({ err, method: req.method, url: req.url }, 'request failed');
      else opts.log.debug({ method: req.method, url: req.url, status, message }, 'request refused');
      if (res) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const body = status === 304 ? '' : JSON.stringify({ message });
        res.writeHead(status, body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {});
        res.end(req.method === 'HEAD' ? undefined : body);
      } else if (socket && !hijacked) {
        const body = JSON.stringify({ message });
        socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`);
      }
    };
    try {
      const url = new URL(req.url ?? '/', 'http://pier');
      const { version, path } = splitVersion(url.pathname);
      const found = opts.router.match(req.method ?? 'GET', path);
      if (found === undefined) throw notFound(`page not found`);
      if (found === 'methodNotAllowed') throw notFound(`page not found`);
      // An upgrade request's body (exec start's JSON, dockerode's attach options) comes on the
      // socket before the stream: it is read off here, so it never reaches a process's stdin.
      const upgradeBody = socket ? await readUpgradeBody(req, socket, head) : undefined;
      head = undefined;
      const ctx: RequestContext = {
        req,
        res,
        upgradeBody,
        params: found.params,
        query: url.searchParams,
        apiVersion: version,
        hijack(contentType: string): Duplex {
          if (hijacked) throw new Error('connection already hijacked');
          hijacked = true;
          if (socket) {
            socket.write(
              `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
                Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
                '\r\n',
            );
            return socket;
          }
          // No Upgrade header: answer 200 and hand over the raw socket, as Docker does.
          const r = res!;
          const s = r.socket!;
          r.detachSocket(s);
          s.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
          return s;
        },
      };
      await found.handler(ctx);
      opts.log.trace({ method: req.method, url: req.url, ms: Date.now() - started }, 'request');
    } catch (err) {
      try {
        sendError(err);
      } catch (sendFailure) {
        // Never let one request's failure take the daemon down.
        opts.log.warn({ err: sendFailure, cause: messageOf(err), method: req.method, url: req.url }, 'answering a failed request failed');
        res?.destroy();
        socket?.destroy();
      }
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    void dispatch(req, res, undefined, undefined);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void dispatch(req, undefined, socket, head);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  return server;
}

/** Largest body an upgrade request may carry (a few hundred bytes of JSON in practice). */
const MAX_UPGRADE_BODY = 1024 * 1024;

/**
 * The `Content-Length` bytes of an upgrade request's body, from what node read past the
 * headers (`head`) and then the socket; anything after them is put back for the stream.
 */
async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer | undefined): Promise<Buffer> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > MAX_UPGRADE_BODY) throw invalid('invalid Content-Length on an upgrade request');
  let got = head ?? Buffer.alloc(0);
  while (got.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (c: Buffer): void => {
        cleanup();
        socket.pause();
        resolve(c);
      };
      const onEnd = (): void => {
        cleanup();
        resolve(null);
      };
      const cleanup = (): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (chunk === null) throw invalid('connection closed before the request body ended');
    got = Buffer.concat([got, chunk]);
  }
  if (got.length > length) socket.unshift(got.subarray(length));
  return got.subarray(0, length);
}

/** Whether a request failed only because its client closed the connection. */
function clientGone(req: IncomingMessage, err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  // (a hijacked or destroyed request has no socket any more)
  return (req.socket as typeof req.socket | null)?.destroyed !== false || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}
