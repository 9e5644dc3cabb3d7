import { isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import type { Condition, DependsOn, HealthSpec, MountSpec, PortSpec, Service, ServiceNetwork, UpdateConfig } from './compose.js';
import type { SourceFile } from './source.js';
import { parseBytes, parseDuration } from './units.js';

/**
 * One service of one file, checked and expanded to the long form: every short syntax
 * (`"8080:80"`, `./data:/data:ro`, `environment: [A=1]`, `depends_on: [db]`) becomes the
 * shape of `Service`, relative paths are made absolute against `dir`. What the file does not
 * say stays undefined, so drafts of several files merge (`merge.ts`) before defaults apply.
 * Any key or value Compose would refuse throws the file's error naming the key and line.
 */

export interface DeployDraft {
  replicas?: number;
  limits?: { cpus?: number; memory?: number; pids?: number };
  reservations?: { cpus?: number; memory?: number };
  update_config?: Partial<UpdateConfig>;
}

export interface ServiceDraft extends Partial<Omit<Service, 'name' | 'deploy' | 'environment' | 'env_file'>> {
  /** Absolute paths, read when the model is finished (values under `environment` win). */
  env_file?: string[];
  /** null: take the value from the shell environment, if set there. */
  environment?: Record<string, string | null>;
  extends?: { service: string; file?: string };
  deploy?: DeployDraft;
  scale?: number;
}

type Path = readonly string[];

export class Checker {
  constructor(
    readonly src: SourceFile,
    readonly dir: string,
  ) {}

  fail(path: Path, message: string): never {
    throw this.src.error(path, message);
  }

  isMap(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  map(v: unknown, path: Path): Record<string, unknown> {
    if (!this.isMap(v)) this.fail(path, 'must be a mapping');
    return v;
  }

  list(v: unknown, path: Path): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }

  /** Strings, and numbers and booleans written where a string goes (`tag: 1.0`). */
  str(v: unknown, path: Path): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.fail(path, 'must be a string');
  }

  strList(v: unknown, path: Path): string[] {
    if (typeof v === 'string') return [v];
    return this.list(v, path).map((x, i) => this.str(x, [...path, String(i)]));
  }

  bool(v: unknown, path: Path): boolean {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    this.fail(path, 'must be a boolean');
  }

  int(v: unknown, path: Path, min = 0): number {
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) this.fail(path, min === 0 ? 'must be a non-negative integer' : `must be an integer of at least ${min}`);
    return n;
  }

  duration(v: unknown, path: Path): number {
    const d = parseDuration(v);
    if (d === undefined) this.fail(path, `invalid duration ${JSON.stringify(v)} (write 30s, 1m30s, 500ms)`);
    return d;
  }

  bytes(v: unknown, path: Path): number {
    const b = parseBytes(v);
    if (b === undefined) this.fail(path, `invalid size ${JSON.stringify(v)} (write 512m, 1g, or bytes)`);
    return b;
  }

  keys(m: Record<string, unknown>, path: Path, allowed: readonly string[]): void {
    for (const k of Object.keys(m)) if (!allowed.includes(k) && !k.startsWith('x-')) this.fail([...path, k], `additional property ${JSON.stringify(k)} is not allowed`);
  }

  /** `[A=1, B]` or `{A: 1, B: null}`; `nullable` keeps a bare `B` as null. */
  dict(v: unknown, path: Path, nullable: boolean): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        const s = this.str(item, [...path, String(i)]);
        const eq = s.indexOf('=');
        if (eq === 0) this.fail([...path, String(i)], `invalid entry ${JSON.stringify(s)}`);
        if (eq < 0) out[s] = nullable ? null : '';
        else out[s.slice(0, eq)] = s.slice(eq + 1);
      });
      return out;
    }
    for (const [k, x] of Object.entries(this.map(v, path))) out[k] = x === null ? (nullable ? null : '') : this.str(x, [...path, k]);
    return out;
  }

  /** A host path as the file wrote it, absolute: `~` is the home directory, relative is against the file's project directory. */
  hostPath(p: string): string {
    if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
    return isAbsolute(p) ? p : resolve(this.dir, p);
  }
}

/** A command or entrypoint: a string is split as a shell would (quotes kept together), a list kept. */
export function splitCommand(c: Checker, v: unknown, path: Path): string[] {
  if (Array.isArray(v)) return v.map((x, i) => c.str(x, [...path, String(i)]));
  const s = c.str(v, path);
  const words: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i]!;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i]!;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) words.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (quote) c.fail(path, `unterminated quote in ${JSON.stringify(s)}`);
  if (cur || any) words.push(cur);
  return words;
}

function ports(c: Checker, v: unknown, path: Path): PortSpec[] {
  const out: PortSpec[] = [];
  c.list(v, path).forEach((item, i) => {
    const p = [...path, String(i)];
    if (c.isMap(item)) {
      c.keys(item, p, ['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol']);
      if (item.target === undefined) c.fail(p, 'target is required');
      const protocol = item.protocol === undefined ? 'tcp' : c.str(item.protocol, [...p, 'protocol']);
      if (protocol !== 'tcp' && protocol !== 'udp') c.fail([...p, 'protocol'], `unsupported protocol ${JSON.stringify(protocol)}`);
      out.push({
        target: c.int(item.target, [...p, 'target'], 1),
        published: item.published === undefined ? undefined : c.str(item.published, [...p, 'published']),
        host_ip: item.host_ip === undefined ? undefined : c.str(item.host_ip, [...p, 'host_ip']),
        protocol,
      });
      return;
    }
    const s = c.str(item, p);
    const m = /^(?:(?:(\[[^\]]+\]|[\d.]+):)?(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp))?$/.exec(s);
    if (!m) c.fail(p, `invalid port ${JSON.stringify(s)} (write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL])`);
    const [tFrom, tTo = tFrom] = m[3]!.split('-').map(Number) as [number, number?];
    const published = m[2]?.split('-').map(Number);
    if (published && published.length === 2 && published[1]! - published[0]! !== tTo - tFrom) c.fail(p, `port ranges of different sizes in ${JSON.stringify(s)}`);
    for (let t = tFrom; t <= tTo; t++) {
      let pub: string | undefined;
      if (published) pub = published.length === 2 ? String(published[0]! + (t - tFrom)) : String(published[0]);
      out.push({ target: t, published: pub, host_ip: m[1]?.replace(/^\[|\]$/g, ''), protocol: (m[4] ?? 'tcp') as 'tcp' | 'udp' });
    }
  });
  return out;
}

function mounts(c: Checker, v: unknown, path: Path): MountSpec[] {
  return c.list(v, path).map((item, i) => {
    const p = [...path, String(i)];
    if (c.isMap(item)) {
      c.keys(item, p, ['type', 'source', 'target', 'read_only', 'volume', 'bind', 'tmpfs', 'consistency']);
      const type = c.str(item.type ?? 'volume', [...p, 'type']);
      if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') c.fail([...p, 'type'], `unsupported mount type ${JSON.stringify(type)}`);
      if (item.target === undefined) c.fail(p, 'target is required');
      const m: MountSpec = { type, target: c.str(item.target, [...p, 'target']), read_only: item.read_only === undefined ? false : c.bool(item.read_only, [...p, 'read_only']) };
      if (item.source !== undefined) {
        const s = c.str(item.source, [...p, 'source']);
        m.source = type === 'bind' ? c.hostPath(s) : s;
      } else if (type === 'bind') c.fail(p, 'source is required for a bind mount');
      if (item.volume !== undefined) m.nocopy = c.map(item.volume, [...p, 'volume']).nocopy === true;
      if (item.tmpfs !== undefined) {
        const t = c.map(item.tmpfs, [...p, 'tmpfs']);
        if (t.size !== undefined) m.tmpfs_size = c.bytes(t.size, [...p, 'tmpfs', 'size']);
      }
      return m;
    }
    const s = c.str(item, p);
    const parts = s.split(':');
    if (parts.length > 3 || parts.some((x) => x === '')) c.fail(p, `invalid volume ${JSON.stringify(s)} (write [SOURCE:]TARGET[:MODE])`);
    if (parts.length === 1) return { type: 'volume', target: parts[0]!, read_only: false };
    const [source, target, mode = 'rw'] = parts as [string, string, string?];
    const opts = mode.split(',');
    for (const o of opts) if (!['rw', 'ro', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent'].includes(o)) c.fail(p, `invalid mode ${JSON.stringify(o)} in ${JSON.stringify(s)}`);
    const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
    if (!bind && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) c.fail(p, `invalid volume name ${JSON.stringify(source)}`);
    return { type: bind ? 'bind' : 'volume', source: bind ? c.hostPath(source) : source, target, read_only: opts.includes('ro'), ...(opts.includes('nocopy') ? { nocopy: true } : {}) };
  });
}

function healthcheck(c: Checker, v: unknown, path: Path): HealthSpec {
  const m = c.map(v, path);
  c.keys(m, path, ['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable']);
  if (m.disable !== undefined && c.bool(m.disable, [...path, 'disable'])) return { test: ['NONE'] };
  const h: HealthSpec = { test: [] };
  if (m.test !== undefined) {
    if (typeof m.test === 'string') h.test = ['CMD-SHELL', m.test];
    else {
      h.test = c.strList(m.test, [...path, 'test']);
      if (!['CMD', 'CMD-SHELL', 'NONE'].includes(h.test[0] ?? '')) c.fail([...path, 'test'], 'a list must start with CMD, CMD-SHELL or NONE');
    }
  }
  for (const k of ['interval', 'timeout', 'start_period', 'start_interval'] as const) if (m[k] !== undefined) h[k] = c.duration(m[k], [...path, k]);
  if (m.retries !== undefined) h.retries = c.int(m.retries, [...path, 'retries']);
  return h;
}

const CONDITIONS: readonly Condition[] = ['service_started', 'service_healthy', 'service_completed_successfully'];

function dependsOn(c: Checker, v: unknown, path: Path): Record<string, DependsOn> {
  const out: Record<string, DependsOn> = {};
  if (Array.isArray(v)) {
    for (const [i, name] of v.entries()) out[c.str(name, [...path, String(i)])] = { condition: 'service_started', restart: false, required: true };
    return out;
  }
  for (const [name, spec] of Object.entries(c.map(v, path))) {
    const p = [...path, name];
    const m = c.map(spec ?? {}, p);
    c.keys(m, p, ['condition', 'restart', 'required']);
    const condition = (m.condition === undefined ? 'service_started' : c.str(m.condition, [...p, 'condition'])) as Condition;
    if (!CONDITIONS.includes(condition)) c.fail([...p, 'condition'], `must be one of ${CONDITIONS.join(', ')}`);
    out[name] = { condition, restart: m.restart === undefined ? false : c.bool(m.restart, [...p, 'restart']), required: m.required === undefined ? true : c.bool(m.required, [...p, 'required']) };
  }
  return out;
}

function networks(c: Checker, v: unknown, path: Path): Record<string, ServiceNetwork> {
  const out: Record<string, ServiceNetwork> = {};
  if (Array.isArray(v)) {
    for (const [i, n] of v.entries()) out[c.str(n, [...path, String(i)])] = { aliases: [] };
    return out;
  }
  for (const [name, spec] of Object.entries(c.map(v, path))) {
    const p = [...path, name];
    const m = c.map(spec ?? {}, p);
    c.keys(m, p, ['aliases', 'ipv4_address', 'ipv6_address', 'priority', 'mac_address', 'link_local_ips', 'driver_opts', 'gw_priority']);
    out[name] = { aliases: m.aliases === undefined ? [] : c.strList(m.aliases, [...p, 'aliases']) };
    if (m.ipv4_address !== undefined) out[name].ipv4_address = c.str(m.ipv4_address, [...p, 'ipv4_address']);
  }
  return out;
}

function deploy(c: Checker, v: unknown, path: Path): DeployDraft {
  const m = c.map(v, path);
  c.keys(m, path, ['replicas', 'resources', 'update_config', 'rollback_config', 'restart_policy', 'mode', 'labels', 'placement', 'endpoint_mode']);
  const d: DeployDraft = {};
  if (m.mode !== undefined && c.str(m.mode, [...path, 'mode']) !== 'replicated') c.fail([...path, 'mode'], 'only mode "replicated" runs on one machine');
  if (m.replicas !== undefined) d.replicas = c.int(m.replicas, [...path, 'replicas']);
  if (m.resources !== undefined) {
    const rp = [...path, 'resources'];
    const r = c.map(m.resources, rp);
    c.keys(r, rp, ['limits', 'reservations']);
    if (r.limits !== undefined) {
      const lp = [...rp, 'limits'];
      const l = c.map(r.limits, lp);
      c.keys(l, lp, ['cpus', 'memory', 'pids']);
      d.limits = {};
      if (l.cpus !== undefined) {
        const cpus = Number(l.cpus);
        if (!Number.isFinite(cpus) || cpus <= 0) c.fail([...lp, 'cpus'], 'must be a positive number');
        d.limits.cpus = cpus;
      }
      if (l.memory !== undefined) d.limits.memory = c.bytes(l.memory, [...lp, 'memory']);
      if (l.pids !== undefined) d.limits.pids = c.int(l.pids, [...lp, 'pids'], 1);
    }
    if (r.reservations !== undefined) {
      const l = c.map(r.reservations, [...rp, 'reservations']);
      d.reservations = {};
      if (l.cpus !== undefined) {
        const cpus = Number(l.cpus);
        if (!Number.isFinite(cpus) || cpus <= 0) c.fail([...rp, 'reservations', 'cpus'], 'must be a positive number');
        d.reservations.cpus = cpus;
      }
      if (l.memory !== undefined) d.reservations.memory = c.bytes(l.memory, [...rp, 'reservations', 'memory']);
    }
  }
  if (m.update_config !== undefined) {
    const up = [...path, 'update_config'];
    const u = c.map(m.update_config, up);
    c.keys(u, up, ['parallelism', 'delay', 'order', 'failure_action', 'monitor', 'max_failure_ratio']);
    d.update_config = {};
    if (u.parallelism !== undefined) d.update_config.parallelism = c.int(u.parallelism, [...up, 'parallelism'], 1);
    if (u.delay !== undefined) d.update_config.delay = c.duration(u.delay, [...up, 'delay']);
    if (u.order !== undefined) {
      const order = c.str(u.order, [...up, 'order']);
      if (order !== 'stop-first' && order !== 'start-first') c.fail([...up, 'order'], 'must be stop-first or start-first');
      d.update_config.order = order;
    }
    if (u.failure_action !== undefined) d.update_config.failure_action = c.str(u.failure_action, [...up, 'failure_action']);
  }
  return d;
}

const RESTART = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;

/** Keys of the specification pier does not act on: accepted, so files written for Docker load. */
const IGNORED = ['logging', 'platform', 'annotations', 'attach', 'develop', 'links', 'external_links', 'secrets', 'configs', 'security_opt', 'ulimits', 'devices', 'domainname', 'mac_address', 'pid', 'ipc', 'group_add', 'shm_size', 'cgroup_parent', 'isolation', 'oom_score_adj', 'storage_opt', 'userns_mode', 'volumes_from', 'dns_search', 'dns_opt', 'cpu_shares', 'mem_reservation'] as const;

/** Check and expand one service of `src` (`path` is `services.<name>`). */
export function normalizeService(c: Checker, raw: unknown, path: Path): ServiceDraft {
  const m = c.map(raw ?? {}, path);
  const at = (k: string): string[] => [...path, k];
  const s: ServiceDraft = {};
  for (const [k, v] of Object.entries(m)) {
    if (k.startsWith('x-') || (IGNORED as readonly string[]).includes(k)) continue;
    const p = at(k);
    switch (k) {
      case 'image':
      case 'user':
      case 'working_dir':
      case 'stop_signal':
      case 'container_name':
      case 'hostname':
      case 'pull_policy':
        s[k] = c.str(v, p);
        break;
      case 'network_mode': {
        const mode = c.str(v, p);
        if (!/^(none|host|bridge|service:.+|container:.+)$/.test(mode)) c.fail(p, `invalid network mode ${JSON.stringify(mode)}`);
        s.network_mode = mode;
        break;
      }
      case 'restart':
        s.restart = c.str(v, p);
        if (!RESTART.test(s.restart)) c.fail(p, `invalid restart policy ${JSON.stringify(s.restart)}`);
        break;
      case 'init':
      case 'privileged':
      case 'read_only':
      case 'tty':
      case 'stdin_open':
        s[k] = c.bool(v, p);
        break;
      case 'build': {
        if (typeof v === 'string') {
          s.build = { context: c.hostPath(v), args: {}, labels: {} };
          break;
        }
        const b = c.map(v, p);
        c.keys(b, p, ['context', 'dockerfile', 'args', 'target', 'labels', 'cache_from', 'cache_to', 'network', 'shm_size', 'extra_hosts', 'no_cache', 'pull', 'platforms', 'secrets', 'tags', 'ssh', 'additional_contexts', 'dockerfile_inline', 'isolation', 'privileged', 'ulimits']);
        const args: Record<string, string> = {};
        if (b.args !== undefined) for (const [ak, av] of Object.entries(c.dict(b.args, [...p, 'args'], true))) if (av !== null) args[ak] = av;
        s.build = { context: c.hostPath(b.context === undefined ? '.' : c.str(b.context, [...p, 'context'])), args, labels: b.labels === undefined ? {} : nonNull(c.dict(b.labels, [...p, 'labels'], false)) };
        if (b.dockerfile !== undefined) s.build.dockerfile = c.str(b.dockerfile, [...p, 'dockerfile']);
        if (b.target !== undefined) s.build.target = c.str(b.target, [...p, 'target']);
        break;
      }
      case 'command':
      case 'entrypoint':
        s[k] = v === null ? [] : splitCommand(c, v, p);
        break;
      case 'environment':
        s.environment = c.dict(v, p, true);
        break;
      case 'env_file':
        s.env_file = (Array.isArray(v) ? v : [v]).map((f, i) => {
          const fp = Array.isArray(v) ? [...p, String(i)] : p;
          if (c.isMap(f)) return c.hostPath(c.str(f.path, [...fp, 'path']));
          return c.hostPath(c.str(f, fp));
        });
        break;
      case 'labels':
        s.labels = nonNull(c.dict(v, p, false));
        break;
      case 'sysctls':
        s.sysctls = nonNull(c.dict(v, p, false));
        break;
      case 'ports':
        s.ports = ports(c, v, p);
        break;
      case 'expose':
        s.expose = c.list(v, p).map((x, i) => c.str(x, [...p, String(i)]));
        break;
      case 'volumes':
        s.volumes = mounts(c, v, p);
        break;
      case 'tmpfs':
      case 'cap_add':
      case 'cap_drop':
      case 'extra_hosts':
      case 'dns':
      case 'profiles':
        s[k] = c.strList(v, p);
        break;
      case 'networks':
        s.networks = networks(c, v, p);
        break;
      case 'depends_on':
        s.depends_on = dependsOn(c, v, p);
        break;
      case 'healthcheck':
        s.healthcheck = healthcheck(c, v, p);
        break;
      case 'deploy':
        s.deploy = deploy(c, v, p);
        break;
      case 'stop_grace_period':
        s.stop_grace_period = Math.ceil(c.duration(v, p) / 1e9);
        break;
      case 'scale':
        s.scale = c.int(v, p);
        break;
      case 'mem_limit':
        s.deploy = { ...s.deploy, limits: { ...s.deploy?.limits, memory: c.bytes(v, p) } };
        break;
      case 'cpus':
        s.deploy = { ...s.deploy, limits: { ...s.deploy?.limits, cpus: Number(v) } };
        break;
      case 'pids_limit':
        s.deploy = { ...s.deploy, limits: { ...s.deploy?.limits, pids: c.int(v, p, 1) } };
        break;
      case 'extends': {
        if (typeof v === 'string') s.extends = { service: v };
        else {
          const e = c.map(v, p);
          c.keys(e, p, ['service', 'file']);
          if (e.service === undefined) c.fail(p, 'service is required');
          s.extends = { service: c.str(e.service, [...p, 'service']) };
          if (e.file !== undefined) s.extends.file = c.hostPath(c.str(e.file, [...p, 'file']));
        }
        break;
      }
      default:
        c.fail(p, `additional property ${JSON.stringify(k)} is not allowed`);
    }
  }
  return s;
}

function nonNull(d: Record<string, string | null>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d)) out[k] = v ?? '';
  return out;
}
