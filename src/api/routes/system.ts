import { cpus, hostname, release, totalmem } from 'node:os';
import { withLegacyFields, type EngineEvent, type EventBus } from '../../events/events.js';
import { invalid } from '../../errors.js';
import { matchLabels } from '../../util/filters.js';
import { checkFilterKeys, queryFilters, queryString, res, sendJson, sendText } from '../http.js';
import type { RequestContext, Router } from '../router.js';
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION } from '../server.js';

/** The kinds of objects `GET /system/df?type=` asks about. */
export type DiskUsageType = 'image' | 'container' | 'volume' | 'build-cache';

/** What `/info` reports beyond the machine itself. */
export interface SystemFacts {
  id: string;
  root: string;
  containers(): { total: number; running: number; paused: number; stopped: number };
  images(): Promise<number>;
  /** The default runtime; `all`: every runtime a container can name (`--runtime`), the default among them. */
  runtime: { name: string; path: string; why: string; all?: Array<{ name: string; path: string }> };
  cgroupVersion: '1' | '2';
  cgroupDriver: string;
  insecureRegistries: string[];
  defaultInit: boolean;
  warnings: string[];
  /** The daemon's default log driver: the one containers get unless they ask for another (daemon.json `log-driver`). */
  loggingDriver: string;
  /** Docker's `SecurityOptions` of `info`: the security features in force (`name=seccomp,profile=builtin`). */
  securityOptions: string[];
  /** What the host's cgroups can limit, for `info`'s flags. */
  limits: { swapLimit: boolean; oomKillDisable: boolean; cpuset: boolean; blkioWeight: boolean };
  /** `GET /system/df` for the given kinds of objects. */
  diskUsage(types: ReadonlySet<DiskUsageType>): Promise<Record<string, unknown>>;
}

const DF_TYPES: readonly DiskUsageType[] = ['image', 'container', 'volume', 'build-cache'];

const EVENT_FILTERS = ['container', 'image', 'event', 'type', 'label', 'network', 'volume', 'daemon', 'scope', 'plugin', 'node', 'service', 'secret', 'config'];

export function registerSystemRoutes(r: Router, bus: EventBus, facts: SystemFacts): void {
  const ping = (ctx: RequestContext): Promise<void> => {
    const out = res(ctx);
    out.setHeader('Builder-Version', '1');
    out.setHeader('Swarm', 'inactive');
    out.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    out.setHeader('Pragma', 'no-cache');
    if (ctx.req.method === 'HEAD') {
      out.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
      out.end();
    } else {
      sendText(ctx, 200, 'OK');
    }
    return Promise.resolve();
  };
  r.get('/_ping', ping);
  r.head('/_ping', ping);

  r.get('/version', (ctx) => {
    const kernel = release();
    sendJson(ctx, 200, {
      Platform: { Name: 'pier' },
      Components: [
        { Name: 'Engine', Version: ENGINE_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: goArch(), KernelVersion: kernel, Experimental: 'false', GitCommit: 'pier', GoVersion: process.version, BuildTime: '' } },
        { Name: facts.runtime.name, Version: '', Details: { Path: facts.runtime.path } },
        { Name: 'conmon', Version: '', Details: {} },
      ],
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: 'pier',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: kernel,
      BuildTime: '',
    });
    return Promise.resolve();
  });

  r.get('/info', async (ctx) => {
    const c = facts.containers();
    sendJson(ctx, 200, {
      ID: facts.id,
      Containers: c.total,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: await facts.images(),
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'overlayfs'], ['Supports d_type', 'true']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file', 'local'] },
      MemoryLimit: true,
      SwapLimit: facts.limits.swapLimit,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: facts.limits.cpuset,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      OomKillDisable: facts.limits.oomKillDisable,
      KernelMemoryTCP: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: facts.loggingDriver,
      CgroupDriver: facts.cgroupDriver,
      CgroupVersion: facts.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: release(),
      OperatingSystem: 'pier on Linux',
      OSVersion: '',
      OSType: 'linux',
      Architecture: arch(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'], IndexConfigs: {}, Mirrors: [] },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: facts.root,
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: Object.fromEntries((facts.runtime.all ?? [facts.runtime]).map((r) => [r.name, { path: r.path }])),
      DefaultRuntime: facts.runtime.name,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: 'tini-static',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: facts.securityOptions,
      Warnings: facts.warnings,
      PierRuntimeReason: facts.runtime.why,
      PierDefaultInit: facts.defaultInit,
    });
  });

  r.get('/system/df', async (ctx) => {
    const asked = ctx.query.getAll('type').filter((t) => t !== '');
    for (const t of asked) if (!DF_TYPES.includes(t as DiskUsageType)) throw invalid(`unknown object type: ${t}`);
    const types = new Set<DiskUsageType>(asked.length > 0 ? (asked as DiskUsageType[]) : DF_TYPES);
    const usage = await facts.diskUsage(types);
    // An image's Labels is {} when it has none, never null (ImageSummary in the v1.51 schema).
    if (Array.isArray(usage.Images)) {
      usage.Images = (usage.Images as Array<Record<string, unknown>>).map((image) => ({ ...image, Labels: image.Labels ?? {} }));
    }
    sendJson(ctx, 200, usage);
  });

  r.get('/events', async (ctx) => {
    const filters = queryFilters(ctx);
    checkFilterKeys(filters, EVENT_FILTERS);
    const since = timeArg(queryString(ctx, 'since'));
    const until = timeArg(queryString(ctx, 'until'));
    const match = eventMatcher(filters);
    const out = res(ctx);
    out.writeHead(200, { 'Content-Type': 'application/json' });
    out.flushHeaders();
    const send = (e: EngineEvent): void => {
      if (match(e)) out.write(`${JSON.stringify(withLegacyFields(e))}\n`);
    };
    const nowNs = Date.now() * 1e6;
    if (since !== undefined) for (const e of bus.past(since, until)) send(e);
    if (until !== undefined && until <= nowNs) {
      out.end();
      return;
    }
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const unsubscribe = bus.subscribe((e) => {
        if (until !== undefined && e.timeNano > until) return;
        send(e);
      });
      const finish = (): void => {
        unsubscribe();
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (until !== undefined) timer = setTimeout(finish, Math.max(0, (until - nowNs) / 1e6));
      ctx.req.socket.on('close', finish);
    });
    out.end();
  });
}

/** Docker's event time arguments: unix seconds with an optional fraction. */
function timeArg(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1e9);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw invalid(`invalid time value: ${v}`);
  return ms * 1e6;
}

function eventMatcher(f: Map<string, string[]>): (e: EngineEvent) => boolean {
  return (e) => {
    const types = f.get('type') ?? [];
    if (types.length > 0 && !types.includes(e.Type)) return false;
    const actions = f.get('event') ?? [];
    if (actions.length > 0 && !actions.some((a) => e.Action === a || e.Action.startsWith(`${a}:`))) return false;
    for (const t of ['container', 'image', 'network', 'volume'] as const) {
      const wanted = f.get(t) ?? [];
      if (wanted.length === 0) continue;
      if (e.Type !== t) return false;
      const name = e.Actor.Attributes.name ?? '';
      if (!wanted.some((w) => e.Actor.ID.startsWith(w) || name === w || name === w.replace(/^\//, ''))) return false;
    }
    return matchLabels(f, e.Actor.Attributes);
  };
}

function arch(): string {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
}

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}
