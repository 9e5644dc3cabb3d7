import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A stand-in Docker daemon on a unix socket, for the client's and the CLI's unit tests
 * only: it answers what each test tells it to, in Docker's wire format, and records every
 * request. (pier's integration tests run against the real pierd.)
 */

export interface RecordedRequest {
  method: string;
  /** The path without the version prefix: `/containers/create`. */
  path: string;
  /** The version prefix the client used (`1.51`), or undefined for unversioned paths. */
  version: string | undefined;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** For hijacked requests: what the client wrote on the raw connection, and whether it half-closed. */
  stdin?: Buffer[];
  stdinEnded?: boolean;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void | Promise<void>;
export type UpgradeHandler = (req: RecordedRequest, socket: Socket) => void | Promise<void>;

interface Route {
  method: string;
  path: string | RegExp;
  handler: Handler;
}

/** One multiplexed-stream frame: `[stream, 0, 0, 0, size BE32]` + payload. */
export function frame(stream: number, payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export class FakeDaemon {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];
  private readonly upgrades: { path: string | RegExp; handler: UpgradeHandler }[] = [];
  private server: Server | undefined;
  private dir: string | undefined;
  private readonly sockets = new Set<Socket>();
  /** The socket path once started. */
  socketPath = '';

  get host(): string {
    return `unix://${this.socketPath}`;
  }

  /** Answer `method path` (a string matches exactly, a RegExp the whole path). Later routes win. */
  on(method: string, path: string | RegExp, handler: Handler): this {
    this.routes.unshift({ method, path, handler });
    return this;
  }

  /** Answer `method path` with a status and a JSON body. */
  reply(method: string, path: string | RegExp, status: number, body?: unknown): this {
    return this.on(method, path, (_req, res) => {
      if (body === undefined) {
        res.writeHead(status);
        res.end();
      } else sendJson(res, status, body);
    });
  }

  /** Answer an upgrade (`Connection: Upgrade`) request; the handler writes the 101 itself, or use `upgrade101`. */
  onUpgrade(path: string | RegExp, handler: UpgradeHandler): this {
    this.upgrades.unshift({ path, handler });
    return this;
  }

  /** The requests made to a path (and method), in order. */
  find(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && matches(path, r.path));
  }

  async start(): Promise<string> {
    this.dir = await mkdtemp(join(tmpdir(), 'pier-fake-'));
    this.socketPath = join(this.dir, 'd.sock');
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      void this.handleUpgrade(req, socket, head);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    return this.socketPath;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private record(req: IncomingMessage, body: Buffer): RecordedRequest {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname);
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(m ? m[2]! : url.pathname),
      version: m ? m[1] : undefined,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    this.requests.push(rec);
    return rec;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const rec = this.record(req, Buffer.concat(chunks));
    res.setHeader('Api-Version', '1.51');
    res.setHeader('Ostype', 'linux');
    const route = this.routes.find((r) => r.method === rec.method && matches(r.path, rec.path));
    try {
      if (route) await route.handler(rec, res);
      else sendJson(res, 404, { message: `page not found` });
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { message: (err as Error).message });
      else res.destroy();
    }
  }

  private async handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const rec = this.record(req, Buffer.alloc(0));
    rec.stdin = [];
    rec.stdinEnded = false;
    // The request's own body (exec start's JSON) comes first on the connection; stdin after it.
    let bodyLeft = Number(req.headers['content-length'] ?? 0);
    const take = (d: Buffer): void => {
      if (bodyLeft > 0) {
        const part = d.subarray(0, bodyLeft);
        rec.body = Buffer.concat([rec.body, part]);
        bodyLeft -= part.length;
        d = d.subarray(part.length);
      }
      if (d.length > 0) rec.stdin!.push(d);
    };
    if (head.length > 0) take(head);
    socket.on('data', take);
    socket.on('end', () => {
      rec.stdinEnded = true;
    });
    socket.on('error', () => socket.destroy());
    const route = this.upgrades.find((u) => matches(u.path, rec.path));
    if (!route) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{"message":"page not found"}');
      return;
    }
    await route.handler(rec, socket);
  }
}

function matches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === 'string' ? pattern === path : new RegExp(`^(?:${pattern.source})$`).test(path);
}

/** Write Docker's `101 UPGRADED` answer to a hijack request. */
export function upgrade101(socket: Socket, contentType = 'application/vnd.docker.multiplexed-stream'): void {
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
}
