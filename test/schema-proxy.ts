/**
 * A unix-socket proxy in front of pierd's socket that checks every JSON answer against the
 * Engine API's schema (test/schema/validator.ts) on its way to the client. The harness puts
 * one in front of each daemon it starts, so every client of the tests (the docker CLI, bin/pier,
 * dockerode, docker-py, curl, fetchSocket) is checked without knowing it.
 *
 * What passes through untouched: request and response bodies (streamed, never held back: a
 * `logs -f` or an `/events` stream arrives as pierd sends it), upgraded connections (attach,
 * exec start: after the answer's head the bytes flow both ways, half-closes included), and
 * status, headers and timing. What is checked: every answer whose Content-Type is
 * application/json, once it has ended (a stream of JSON values, as /events and stats send, value
 * by value; one larger than 32 MiB is not checked), and the error answer to an upgrade request.
 * The checks never change what the client gets, nor when.
 *
 * While the daemon is down (pause()) the proxy does not listen either, so a client meets the
 * same refused connection it would meet without the proxy.
 */
import { connect, type Socket } from 'node:net';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { loadEngineSchema, ResponseChecker, type Violation } from './schema/validator.js';

export interface SchemaProxy {
  /** The socket clients connect to. */
  readonly socket: string;
  /** The violations seen since the start, one per endpoint, status and message (with a count). */
  violations(): Array<Violation & { count: number }>;
  /** Stop listening (existing connections end as pierd's do); resume() listens again. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stop listening and end every connection. Idempotent. */
  close(): Promise<void>;
}

/** Largest JSON answer kept for checking; a larger one (a long stream) is passed on unchecked. */
const MAX_CHECKED_BODY = 32 * 1024 * 1024;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade', 'proxy-connection']);

/** Start a proxy listening on `listen` for the daemon on `upstream`. */
export async function startSchemaProxy(listen: string, upstream: string, checker: ResponseChecker): Promise<SchemaProxy> {
  const seen = new Map<string, Violation & { count: number }>();
  const connections = new Set<Duplex>();
  let server: Server | undefined;
  let closed = false;

  const record = (found: Violation[]): void => {
    for (const v of found) {
      const key = `${v.endpoint} ${v.status} ${v.errors.join('; ')}`;
      const known = seen.get(key);
      if (known) known.count++;
      else seen.set(key, { ...v, count: 1 });
    }
  };
  const checkBody = (method: string, url: string, status: number, body: Buffer): void => {
    try {
      record(checker.check(method, url, status, body.toString('utf8')));
    } catch (err) {
      record([{ endpoint: `${method} ${url}`, request: `${method} ${url}`, status, errors: [`the check itself failed: ${(err as Error).message}`] }]);
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    // keep-alive towards pierd: an answer given before the whole body was read (a 400 for a
    // bad tar) then leaves pierd reading the rest, as it does for a direct client, instead of
    // closing on unread bytes (a reset that can overtake the answer). The one-request agent
    // closes the connection once both ways are done.
    const headers = forwardHeaders(req.rawHeaders);
    headers.push('Connection', 'keep-alive');
    const up = request({ socketPath: upstream, method, path: url, headers, agent: false });
    up.on('response', (answer) => {
      const status = answer.statusCode ?? 0;
      res.writeHead(status, answer.statusMessage, forwardHeaders(answer.rawHeaders));
      res.flushHeaders();
      // A whole answer or a stream of JSON values (events, stats): kept to be checked when it
      // ends, unless it grows past the limit (a long stream is then passed on unchecked).
      const checked = method !== 'HEAD' && /^application\/json\b/.test(answer.headers['content-type'] ?? '');
      let chunks: Buffer[] | undefined = checked ? [] : undefined;
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        if (!chunks) return;
        size += chunk.length;
        if (size > MAX_CHECKED_BODY) chunks = undefined;
        else chunks.push(chunk);
      });
      answer.on('end', () => {
        if (chunks) checkBody(method, url, status, Buffer.concat(chunks));
      });
      answer.on('error', () => res.destroy());
      answer.pipe(res);
    });
    up.on('error', () => {
      // After a whole answer this is pierd closing the connection (an answer given before the
      // body was read): the client has what pierd sent. Before it, pierd went away or never
      // answered: the client sees its connection end, as it would without the proxy.
      if (res.writableFinished) return;
      if (res.headersSent) res.destroy();
      else req.socket.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const onUpgrade = (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const up: Socket = connect({ path: upstream, allowHalfOpen: true });
    connections.add(up);
    up.on('close', () => connections.delete(up));
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    const lines = [`${method} ${url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) up.write(head);
    // The answer's head is read to check an error answer's body; everything is passed on as read.
    let answer = Buffer.alloc(0);
    let inspecting = true;
    const inspect = (chunk: Buffer): void => {
      if (!inspecting) return;
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf('\r\n\r\n');
      if (end < 0) {
        if (answer.length > 64 * 1024) inspecting = false;
        return;
      }
      const headLines = answer.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headLines[0] ?? '')?.[1] ?? 0);
      const field = (name: string): string | undefined =>
        headLines.slice(1).find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
      const length = Number(field('content-length') ?? NaN);
      if (status === 101 || status === 200 || !/^application\/json\b/.test(field('content-type') ?? '') || !Number.isInteger(length)) {
        inspecting = false;
        return;
      }
      if (answer.length - end - 4 < length) return;
      inspecting = false;
      checkBody(method, url, status, answer.subarray(end + 4, end + 4 + length));
    };
    up.on('data', inspect);
    up.pipe(client);
    client.pipe(up);
  };

  const listenOn = async (): Promise<void> => {
    await rm(listen, { force: true });
    const s = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 5000 });
    s.on('request', onRequest);
    s.on('upgrade', onUpgrade);
    s.on('connection', (socket: Socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(listen, () => {
        s.off('error', reject);
        resolve();
      });
    });
    server = s;
  };

  const stopListening = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    // Not waiting for the connections: those still open end when pierd's end.
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
      setImmediate(resolve);
    });
    await rm(listen, { force: true });
  };

  await listenOn();
  return {
    socket: listen,
    violations: () => [...seen.values()],
    pause: stopListening,
    async resume() {
      if (!closed && !server) await listenOn();
    },
    async close() {
      closed = true;
      await stopListening();
      for (const c of connections) c.destroy();
    },
  };
}

let checker: ResponseChecker | undefined;

/** The one checker of this test process (the schema is compiled once, extras gathered over every daemon). */
export function responseChecker(repoRoot: string): ResponseChecker {
  checker ??= new ResponseChecker(loadEngineSchema(repoRoot));
  return checker;
}

/**
 * With PIER_TEST_SCHEMA_EXTRAS=1, the properties pier's answers carried that the schema does not
 * name are printed once when the test process exits (they are allowed: Docker's answers have
 * some too).
 */
if (process.env.PIER_TEST_SCHEMA_EXTRAS === '1') {
  process.once('exit', () => {
    const extras = checker?.extraProperties() ?? new Map<string, string[]>();
    if (extras.size === 0) return;
    process.stderr.write(`properties not in the schema:\n${[...extras].map(([endpoint, props]) => `  ${endpoint}: ${props.join(' ')}`).join('\n')}\n`);
  });
}

/** Raw headers without the hop-by-hop ones, as the flat [name, value, ...] list node takes. */
function forwardHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The violations as a readable list: endpoint, status, request, then each message. */
export function formatViolations(violations: Array<Violation & { count: number }>): string {
  return violations
    .map((v) => `${v.endpoint} → ${v.status} (${v.count}×, e.g. ${v.request}):\n${v.errors.map((e) => `    ${e}`).join('\n')}`)
    .join('\n');
}
