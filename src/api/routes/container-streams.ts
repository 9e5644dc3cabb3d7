import type { Duplex } from 'node:stream';
import type { AttachSink, ContainerAttach, ContainerLogs, ContainerMonitor, ContainerReader } from '../../containers/containers.js';
import { parseTimeArg } from '../../containers/logs.js';
import { invalid } from '../../errors.js';
import type { AttachStreams } from '../../runtime/runtime.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, pipeStreams } from '../attach-pipe.js';
import { queryBool, queryInt, queryString, res, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { frame, streamContentType, StreamType } from '../streams.js';

export interface ContainerStreamDeps {
  reader: ContainerReader;
  attach: ContainerAttach;
  monitor: ContainerMonitor;
  logs: ContainerLogs;
}

/** How often a stats stream samples (Docker's figure). */
const STATS_INTERVAL_MS = 1000;

/** The streaming /containers endpoints: attach, resize, logs, stats, top. */
export function registerContainerStreamRoutes(r: Router, deps: ContainerStreamDeps): void {
  const { reader, attach, monitor, logs } = deps;

  r.post('/containers/{id}/attach', async (ctx) => {
    const c = reader.get(ctx.params.id!);
    const want = { stdin: queryBool(ctx, 'stdin'), stdout: queryBool(ctx, 'stdout'), stderr: queryBool(ctx, 'stderr') };
    const tty = c.Config.Tty ?? false;
    const detachKeys = parseDetachKeys(queryString(ctx, 'detachKeys') ?? DEFAULT_DETACH_KEYS);
    const history = queryBool(ctx, 'logs') ? logs.history(c.Id) : undefined;
    const stream = queryBool(ctx, 'stream');
    // The sink is registered before the client hears the upgrade: a start it sends at once
    // then hands this client the streams; what they carry waits while the history goes out.
    const sink = stream ? attachSink({ ...want, tty, detachKeys }) : undefined;
    if (sink) await attach.attach(c.Id, sink);
    let sock;
    try {
      sock = ctx.hijack(streamContentType(tty, ctx.apiVersion));
      if (history) {
        for await (const entry of history) {
          if ((entry.stream === 'stdout' && !want.stdout) || (entry.stream === 'stderr' && !want.stderr)) continue;
          sock.write(tty ? entry.data : frame(entry.stream === 'stdout' ? StreamType.Stdout : StreamType.Stderr, entry.data));
        }
      }
    } catch (err) {
      if (sink) {
        attach.detachPending(c.Id, sink);
        sink.abort('attach failed');
      }
      throw err;
    }
    if (!sink) {
      sock.end();
      return;
    }
    sock.on('close', () => attach.detachPending(c.Id, sink));
    sink.bind(sock);
  });

  r.post('/containers/{id}/resize', async (ctx) => {
    await attach.resize(ctx.params.id!, queryInt(ctx, 'h') ?? 0, queryInt(ctx, 'w') ?? 0);
    res(ctx).writeHead(200, { 'Content-Length': 0 });
    res(ctx).end();
  });

  r.get('/containers/{id}/logs', async (ctx) => {
    reader.get(ctx.params.id!);
    const stdout = queryBool(ctx, 'stdout');
    const stderr = queryBool(ctx, 'stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const tailArg = queryString(ctx, 'tail') || 'all';
    const tail = tailArg === 'all' ? undefined : Number.parseInt(tailArg, 10);
    if (tail !== undefined && Number.isNaN(tail)) throw invalid(`invalid tail value: ${tailArg}`);
    const abort = new AbortController();
    const { tty, chunks } = logs.logs(
      ctx.params.id!,
      {
        follow: queryBool(ctx, 'follow'),
        sinceNs: timeQuery(queryString(ctx, 'since')),
        untilNs: timeQuery(queryString(ctx, 'until')),
        tail: tail !== undefined && tail < 0 ? undefined : tail,
        stdout,
        stderr,
        timestamps: queryBool(ctx, 'timestamps'),
        details: queryBool(ctx, 'details'),
      },
      abort.signal,
    );
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': streamContentType(tty, ctx.apiVersion) });
    out.flushHeaders();
    ctx.req.socket.on('close', () => abort.abort());
    for await (const chunk of chunks) {
      if (abort.signal.aborted) break;
      if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
    }
    out.end();
  });

  r.get('/containers/{id}/stats', async (ctx) => {
    const c = reader.get(ctx.params.id!);
    const oneShot = queryBool(ctx, 'one-shot');
    if (!queryBool(ctx, 'stream', true) || oneShot) {
      sendJson(ctx, 200, await monitor.stats(c.Id, { precpu: !oneShot }));
      return;
    }
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': 'application/json' });
    let gone = false;
    ctx.req.socket.on('close', () => {
      gone = true;
    });
    while (!gone && reader.find(c.Id)) {
      out.write(`${JSON.stringify(await monitor.stats(c.Id))}\n`);
      await new Promise((resolve) => setTimeout(resolve, STATS_INTERVAL_MS));
    }
    out.end();
  });

  r.get('/containers/{id}/top', async (ctx) => {
    sendJson(ctx, 200, await monitor.top(ctx.params.id!, queryString(ctx, 'ps_args') || undefined));
  });
}

/**
 * A client's attach, as a sink: wired to the streams once the container runs and the client's
 * hijacked connection is bound (streams or an abort that come before wait for it; a sink
 * aborted before its connection is bound closes the streams it gets).
 */
function attachSink(o: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean; detachKeys: Buffer }): AttachSink & { bind(sock: Duplex): void } {
  let sock: Duplex | undefined;
  let closed = false;
  let waiting: { streams?: AttachStreams; abort?: string } | undefined;
  const connect = (streams: AttachStreams): void => {
    if (closed) streams.close();
    else if (!sock) waiting = { streams };
    else pipeStreams(sock, streams, o);
  };
  const abort = (message: string): void => {
    if (closed) return;
    if (!sock) {
      waiting?.streams?.close();
      waiting = { abort: message };
      return;
    }
    if (!o.tty) sock.write(frame(StreamType.SystemErr, Buffer.from(message)));
    sock.end();
  };
  return {
    connect,
    abort,
    bind(s: Duplex): void {
      sock = s;
      s.on('close', () => {
        closed = true;
      });
      const w = waiting;
      waiting = undefined;
      if (w?.streams) connect(w.streams);
      else if (w?.abort !== undefined) abort(w.abort);
    },
  };
}

function timeQuery(v: string | undefined): bigint | undefined {
  if (v === undefined || v === '' || v === '0') return undefined;
  try {
    return parseTimeArg(v);
  } catch {
    throw invalid(`invalid time value: ${v}`);
  }
}
