import type { Duplex } from 'node:stream';
import { containerInspect, containerSummary } from '../../containers/inspect.js';
import { logBytes, parseTimeArg, readLog } from '../../containers/logs.js';
import type { AttachSink, ContainerService, WaitCondition } from '../../containers/service.js';
import { CreateBodySchema, type ContainerRecord } from '../../containers/types.js';
import { invalid } from '../../errors.js';
import type { AttachStreams } from '../../runtime/runtime.js';
import type { Snapshotter } from '../../snapshots/snapshotter.js';
import {
  checkFilterKeys,
  queryBool,
  queryFilters,
  queryInt,
  queryString,
  readJson,
  res,
  sendJson,
  sendNoContent,
  type Filters,
} from '../http.js';
import type { Router } from '../router.js';
import { frame, streamContentType, StreamType } from '../streams.js';

export interface ContainerRouteDeps {
  containers: ContainerService;
  snapshots: Snapshotter;
  /** The image ID a name refers to, for the `ancestor` filter (undefined when unknown). */
  imageIdOf(name: string): Promise<string | undefined>;
  runtimeName: string;
}

const LIST_FILTERS = ['status', 'name', 'id', 'label', 'ancestor', 'exited', 'before', 'since', 'network', 'volume', 'health', 'isolation', 'publish', 'expose', 'is-task'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export function registerContainerRoutes(r: Router, deps: ContainerRouteDeps): void {
  const svc = deps.containers;

  r.post('/containers/create', async (ctx) => {
    const body = await readJson(ctx, CreateBodySchema);
    const name = queryString(ctx, 'name');
    sendJson(ctx, 201, await svc.create(body, name));
  });

  r.get('/containers/json', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, LIST_FILTERS);
    const all = queryBool(ctx, 'all');
    const limit = queryInt(ctx, 'limit') ?? -1;
    const size = queryBool(ctx, 'size');
    let list = svc.store.all().sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    if (!all && limit <= 0 && !filters.has('status') && !filters.has('exited')) list = list.filter((c) => c.State.Status === 'running' || c.State.Status === 'paused' || c.State.Status === 'restarting');
    list = await filterContainers(list, filters, deps, svc);
    if (limit > 0) list = list.slice(0, limit);
    const out = [];
    for (const rec of list) {
      const sz = size ? await sizeOf(rec, deps.snapshots) : undefined;
      out.push(containerSummary(rec, rec.Config.Image, sz));
    }
    sendJson(ctx, 200, out);
  });

  r.get('/containers/{id}/json', async (ctx) => {
    const rec = svc.store.get(ctx.params.id!);
    const sz = queryBool(ctx, 'size') ? await sizeOf(rec, deps.snapshots) : undefined;
    sendJson(ctx, 200, containerInspect(rec, { sizeRw: sz?.rw, sizeRootFs: sz?.rootFs, driver: 'overlay2', runtime: deps.runtimeName }));
  });

  r.post('/containers/{id}/start', async (ctx) => {
    await svc.start(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/stop', async (ctx) => {
    await svc.stop(ctx.params.id!, { signal: queryString(ctx, 'signal'), timeout: queryInt(ctx, 't') });
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/restart', async (ctx) => {
    await svc.restart(ctx.params.id!, { signal: queryString(ctx, 'signal'), timeout: queryInt(ctx, 't') });
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/kill', async (ctx) => {
    await svc.kill(ctx.params.id!, queryString(ctx, 'signal') ?? 'SIGKILL');
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/pause', async (ctx) => {
    await svc.pause(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/unpause', async (ctx) => {
    await svc.unpause(ctx.params.id!);
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/rename', async (ctx) => {
    await svc.rename(ctx.params.id!, queryString(ctx, 'name') ?? '');
    sendNoContent(ctx);
  });

  r.post('/containers/{id}/resize', async (ctx) => {
    const h = queryInt(ctx, 'h') ?? 0;
    const w = queryInt(ctx, 'w') ?? 0;
    await svc.resize(ctx.params.id!, h, w);
    res(ctx).writeHead(200, { 'Content-Length': 0 });
    res(ctx).end();
  });

  r.post('/containers/{id}/wait', async (ctx) => {
    const condition = (queryString(ctx, 'condition') ?? 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalid(`invalid condition: "${condition}"`);
    const result = svc.wait(ctx.params.id!, condition);
    // Headers go out at once: the CLI waits for them before it starts the container.
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': 'application/json' });
    out.flushHeaders();
    out.end(JSON.stringify(await result));
  });

  r.delete('/containers/{id}', async (ctx) => {
    await svc.remove(ctx.params.id!, { force: queryBool(ctx, 'force'), volumes: queryBool(ctx, 'v') });
    sendNoContent(ctx);
  });

  r.post('/containers/prune', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const untilMs = until !== undefined ? untilToMs(until) : undefined;
    const result = await svc.prune((rec) => {
      if (untilMs !== undefined && Date.parse(rec.Created) >= untilMs) return true;
      if (!labelsMatch(rec, filters.get('label') ?? [])) return true;
      const not = filters.get('label!') ?? [];
      if (not.length > 0 && labelsMatch(rec, not)) return true;
      return false;
    });
    sendJson(ctx, 200, result);
  });

  r.get('/containers/{id}/changes', async (ctx) => {
    const rec = svc.store.get(ctx.params.id!);
    sendJson(ctx, 200, await deps.snapshots.changes(rec.SnapshotKey));
  });

  r.get('/containers/{id}/logs', async (ctx) => {
    const rec = svc.store.get(ctx.params.id!);
    const stdout = queryBool(ctx, 'stdout');
    const stderr = queryBool(ctx, 'stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const follow = queryBool(ctx, 'follow');
    const timestamps = queryBool(ctx, 'timestamps');
    const tailArg = queryString(ctx, 'tail') ?? 'all';
    const tail = tailArg === 'all' ? undefined : Number.parseInt(tailArg, 10);
    if (tail !== undefined && Number.isNaN(tail)) throw invalid(`invalid tail value: ${tailArg}`);
    const since = timeQuery(queryString(ctx, 'since'));
    const until = timeQuery(queryString(ctx, 'until'));
    const tty = rec.Config.Tty ?? false;
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': streamContentType(tty, ctx.apiVersion) });
    out.flushHeaders();
    const abort = new AbortController();
    ctx.req.socket.on('close', () => abort.abort());
    const isRunning = (): boolean => {
      const cur = svc.store.find(rec.Id);
      return cur !== undefined && ['running', 'paused', 'restarting'].includes(cur.State.Status);
    };
    const bytes = logBytes(rec.LogPath, { follow, sinceNs: since, untilNs: until, tail, isRunning, signal: abort.signal, stdout, stderr, timestamps, multiplexed: !tty });
    for await (const chunk of bytes) {
      if (abort.signal.aborted) break;
      if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
    }
    out.end();
  });

  r.post('/containers/{id}/attach', async (ctx) => {
    const rec = svc.store.get(ctx.params.id!);
    const want = { stdin: queryBool(ctx, 'stdin'), stdout: queryBool(ctx, 'stdout'), stderr: queryBool(ctx, 'stderr') };
    const tty = rec.Config.Tty ?? false;
    const logs = queryBool(ctx, 'logs');
    const stream = queryBool(ctx, 'stream');
    const sock = ctx.hijack(streamContentType(tty, ctx.apiVersion));
    if (logs) {
      for await (const entry of readLog(rec.LogPath, { follow: false, isRunning: () => false })) {
        if ((entry.stream === 'stdout' && !want.stdout) || (entry.stream === 'stderr' && !want.stderr)) continue;
        sock.write(tty ? entry.data : frame(entry.stream === 'stdout' ? StreamType.Stdout : StreamType.Stderr, entry.data));
      }
    }
    if (!stream) {
      sock.end();
      return;
    }
    const sink = attachSink(sock, want, tty);
    sock.on('close', () => svc.detachPending(rec.Id, sink));
    await svc.attach(rec.Id, sink);
  });
}

/** Wire a hijacked client connection to a container's streams. */
function attachSink(sock: Duplex, want: { stdin: boolean; stdout: boolean; stderr: boolean }, tty: boolean): AttachSink {
  let closed = false;
  sock.on('close', () => {
    closed = true;
  });
  return {
    connect(streams: AttachStreams): void {
      if (closed) {
        streams.close();
        return;
      }
      let open = 2;
      const ended = (): void => {
        if (--open === 0) sock.end();
      };
      const forward = (from: NodeJS.ReadableStream, type: StreamType, wanted: boolean): void => {
        from.on('data', (chunk: Buffer) => {
          if (!wanted || closed) return;
          if (!sock.write(tty ? chunk : frame(type, chunk))) {
            from.pause();
            sock.once('drain', () => from.resume());
          }
        });
        from.on('end', ended);
        from.on('error', ended);
      };
      forward(streams.stdout, StreamType.Stdout, want.stdout);
      forward(streams.stderr, StreamType.Stderr, want.stderr);
      if (want.stdin) {
        sock.on('data', (chunk: Buffer) => streams.stdin.write(chunk));
        // The client's half-close is stdin's end; keep writing output until the container ends.
        sock.on('end', () => streams.stdin.end());
      } else {
        sock.resume();
      }
      sock.on('close', () => streams.close());
      sock.on('error', () => streams.close());
    },
    abort(message: string): void {
      if (closed) return;
      if (!tty) sock.write(frame(StreamType.SystemErr, Buffer.from(message)));
      sock.end();
    },
  };
}

async function sizeOf(rec: ContainerRecord, snapshots: Snapshotter): Promise<{ rw: number; rootFs: number }> {
  const rw = await snapshots.activeUsage(rec.SnapshotKey).catch(() => 0);
  return { rw, rootFs: rw };
}

function timeQuery(v: string | undefined): bigint | undefined {
  if (v === undefined || v === '0') return undefined;
  try {
    return parseTimeArg(v);
  } catch {
    throw invalid(`invalid time value: ${v}`);
  }
}

function untilToMs(v: string): number {
  const d = /^(\d+)(s|m|h)$/.exec(v);
  if (d) return Date.now() - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[d[2] as 's' | 'm' | 'h'];
  return Number(parseTimeArg(v) / 1_000_000n);
}

function labelsMatch(rec: ContainerRecord, wanted: string[]): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=');
    if (i < 0) return w in rec.Config.Labels;
    return rec.Config.Labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

async function filterContainers(list: ContainerRecord[], f: Filters, deps: ContainerRouteDeps, svc: ContainerService): Promise<ContainerRecord[]> {
  const statuses = f.get('status') ?? [];
  for (const s of statuses) if (!STATUSES.includes(s)) throw invalid(`invalid filter 'status=${s}'`);
  const ancestors: string[] = [];
  for (const a of f.get('ancestor') ?? []) {
    const id = await deps.imageIdOf(a);
    ancestors.push(id ?? a);
  }
  const refTime = (key: string): string | undefined => {
    const v = f.get(key)?.[0];
    return v === undefined ? undefined : svc.store.get(v).Created;
  };
  const before = refTime('before');
  const since = refTime('since');
  return list.filter((c) => {
    if (statuses.length > 0 && !statuses.includes(c.State.Status)) return false;
    const names = f.get('name') ?? [];
    if (names.length > 0 && !names.some((n) => new RegExp(n.replace(/^\//, '')).test(c.Name))) return false;
    const ids = f.get('id') ?? [];
    if (ids.length > 0 && !ids.some((i) => c.Id.startsWith(i))) return false;
    if (!labelsMatch(c, f.get('label') ?? [])) return false;
    const exited = f.get('exited') ?? [];
    if (exited.length > 0 && !(c.State.Status === 'exited' && exited.includes(String(c.State.ExitCode)))) return false;
    if (ancestors.length > 0 && !ancestors.some((a) => c.Image === a || c.Config.Image === a)) return false;
    if (before !== undefined && c.Created >= before) return false;
    if (since !== undefined && c.Created <= since) return false;
    const networks = f.get('network') ?? [];
    if (networks.length > 0) {
      const mine = [c.HostConfig.NetworkMode ?? '', ...Object.keys(c.NetworkSettings.Networks), ...Object.values(c.NetworkSettings.Networks).map((n) => n.NetworkID)];
      if (!networks.some((n) => mine.some((m) => m === n || (n.length >= 12 && m.startsWith(n))))) return false;
    }
    const exposes = f.get('expose') ?? [];
    if (exposes.length > 0 && !exposes.some((p) => portKey(p) in (c.Config.ExposedPorts ?? {}))) return false;
    const publishes = f.get('publish') ?? [];
    if (publishes.length > 0 && !publishes.some((p) => (c.HostConfig.PortBindings?.[portKey(p)] ?? null) !== null)) return false;
    const volumes = f.get('volume') ?? [];
    if (volumes.length > 0 && !volumes.some((v) => (c.HostConfig.Binds ?? []).some((b) => b.split(':').slice(0, 2).includes(v)))) return false;
    // pier has no health checks yet: every container's health is `none`.
    const health = f.get('health') ?? [];
    if (health.length > 0 && !health.includes('none')) return false;
    return true;
  });
}

/** `80` → `80/tcp`, as Docker's port filters read it. */
function portKey(p: string): string {
  return p.includes('/') ? p : `${p}/tcp`;
}
