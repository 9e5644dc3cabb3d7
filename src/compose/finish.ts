import { ComposeError, type EnvFileSpec, type NetworkDef, type Project, type Service, type VolumeDef } from './compose.js';
import { readDotenv } from './dotenv.js';
import type { Lookup } from './interpolate.js';
import { Checker, type ServiceDraft } from './normalize.js';
import type { SourceFile } from './source.js';

/**
 * The last step of loading: merged drafts become the `Project`. Defaults applied, env files
 * read, the `default` network added where no network is named, profiles applied, and every
 * reference checked (networks, volumes, depends_on, network_mode service:x), cycles named.
 */

/** What a set of files (with their includes) declares, each item with the file it came from. */
export interface Layer {
  name?: string;
  services: Map<string, { draft: ServiceDraft; src: SourceFile }>;
  networks: Map<string, { raw: Record<string, unknown>; src: SourceFile }>;
  volumes: Map<string, { raw: Record<string, unknown>; src: SourceFile }>;
}

export interface FinishOptions {
  name: string;
  workingDir: string;
  configFiles: string[];
  profiles: string[];
  requested: string[];
  lookup: Lookup;
}

export async function finish(layer: Layer, o: FinishOptions): Promise<Project> {
  const all = new Map<string, Service>();
  for (const [name, { draft, src }] of layer.services) all.set(name, await service(name, draft, new Checker(src, o.workingDir), o.lookup));
  for (const r of o.requested) if (!all.has(r)) throw new ComposeError(`no such service: ${r}`);

  // Profiles: a service without any is always on; one with profiles when one is active (or `*`),
  // or when named on the command line. Whatever an enabled service depends on is enabled too.
  const enabled = new Set([...all.values()].filter((s) => s.profiles.length === 0 || s.profiles.some((p) => o.profiles.includes(p) || o.profiles.includes('*'))).map((s) => s.name));
  for (const r of o.requested) enabled.add(r);
  const queue = [...enabled];
  while (queue.length > 0) {
    const s = all.get(queue.pop()!)!;
    for (const [dep, spec] of Object.entries(s.depends_on)) {
      if (!all.has(dep)) {
        if (spec.required) throw layer.services.get(s.name)!.src.error(['services', s.name, 'depends_on', dep], `depends on undefined service ${JSON.stringify(dep)}`);
        continue;
      }
      if (!enabled.has(dep)) {
        enabled.add(dep);
        queue.push(dep);
      }
    }
  }
  const services: Record<string, Service> = {};
  for (const [name, s] of all) if (enabled.has(name)) services[name] = s;
  for (const s of Object.values(services)) for (const dep of Object.keys(s.depends_on)) if (!services[dep]) Reflect.deleteProperty(s.depends_on, dep);

  const networks: Record<string, NetworkDef> = {};
  for (const [key, { raw, src }] of layer.networks) networks[key] = networkDef(key, raw, new Checker(src, o.workingDir), o.name);
  const volumes: Record<string, VolumeDef> = {};
  for (const [key, { raw, src }] of layer.volumes) volumes[key] = volumeDef(key, raw, new Checker(src, o.workingDir), o.name);

  for (const s of Object.values(services)) {
    const src = layer.services.get(s.name)!.src;
    for (const net of Object.keys(s.networks)) {
      if (net === 'default') networks.default ??= { name: `${o.name}_default`, external: false, internal: false, labels: {}, driver_opts: {} };
      else if (!networks[net]) throw src.error(['services', s.name, 'networks', net], `service ${JSON.stringify(s.name)} refers to undefined network ${JSON.stringify(net)}`);
    }
    s.volumes.forEach((v, i) => {
      if (v.type === 'volume' && v.source !== undefined && !volumes[v.source]) throw src.error(['services', s.name, 'volumes', String(i)], `service ${JSON.stringify(s.name)} refers to undefined volume ${JSON.stringify(v.source)}`);
    });
    const mode = s.network_mode;
    if (mode?.startsWith('service:')) {
      const target = mode.slice('service:'.length);
      if (!all.has(target)) throw src.error(['services', s.name, 'network_mode'], `service ${JSON.stringify(s.name)} uses the network stack of undefined service ${JSON.stringify(target)}`);
      s.depends_on[target] ??= { condition: 'service_started', restart: true, required: true };
    }
  }
  const cycle = findCycle(services);
  if (cycle) throw new ComposeError(`dependency cycle detected: ${cycle.join(' -> ')}`);
  return { name: o.name, workingDir: o.workingDir, configFiles: o.configFiles, services, disabled: [...all.keys()].filter((n) => !enabled.has(n)), networks, volumes };
}

async function service(name: string, d: ServiceDraft, c: Checker, lookup: Lookup): Promise<Service> {
  const at = ['services', name];
  if (!d.image && !d.build) c.fail(at, `service ${JSON.stringify(name)} has neither an image nor a build context specified`);
  if (d.network_mode && d.networks && Object.keys(d.networks).length > 0) c.fail([...at, 'network_mode'], 'network_mode and networks cannot be combined');
  const environment: Record<string, string> = {};
  const envFiles: EnvFileSpec[] = [];
  for (const f of d.env_file ?? []) {
    const values = await readDotenv(f, lookup);
    envFiles.push({ path: f, values });
    Object.assign(environment, values);
  }
  for (const [k, v] of Object.entries(d.environment ?? {})) {
    if (v !== null) environment[k] = v;
    else {
      const fromShell = lookup(k);
      if (fromShell !== undefined) environment[k] = fromShell;
    }
  }
  const replicas = d.scale ?? d.deploy?.replicas;
  const s: Service = {
    name,
    image: d.image,
    build: d.build,
    command: d.command,
    entrypoint: d.entrypoint,
    environment,
    env_file: envFiles,
    ports: d.ports ?? [],
    expose: d.expose ?? [],
    volumes: d.volumes ?? [],
    tmpfs: d.tmpfs ?? [],
    networks: d.network_mode ? {} : d.networks && Object.keys(d.networks).length > 0 ? d.networks : { default: { aliases: [] } },
    network_mode: d.network_mode,
    depends_on: { ...d.depends_on },
    healthcheck: d.healthcheck,
    restart: d.restart,
    init: d.init,
    user: d.user,
    working_dir: d.working_dir,
    labels: d.labels ?? {},
    deploy: {
      ...(replicas !== undefined ? { replicas } : {}),
      limits: d.deploy?.limits ?? {},
      reservations: d.deploy?.reservations ?? {},
      update_config: { parallelism: 1, delay: 0, order: 'stop-first', ...d.deploy?.update_config },
    },
    stop_signal: d.stop_signal,
    stop_grace_period: d.stop_grace_period,
    profiles: d.profiles ?? [],
    container_name: d.container_name,
    hostname: d.hostname,
    privileged: d.privileged,
    read_only: d.read_only,
    tty: d.tty,
    stdin_open: d.stdin_open,
    cap_add: d.cap_add ?? [],
    cap_drop: d.cap_drop ?? [],
    extra_hosts: d.extra_hosts ?? [],
    dns: d.dns ?? [],
    sysctls: d.sysctls ?? {},
    pull_policy: d.pull_policy,
  };
  if (s.container_name && (s.deploy.replicas ?? 1) > 1) c.fail([...at, 'container_name'], 'a service with container_name cannot have more than one replica');
  return s;
}

function networkDef(key: string, m: Record<string, unknown>, c: Checker, project: string): NetworkDef {
  const at = ['networks', key];
  c.keys(m, at, ['name', 'driver', 'driver_opts', 'external', 'internal', 'labels', 'ipam', 'attachable', 'enable_ipv6', 'enable_ipv4']);
  const external = external_(m.external, c, at);
  const n: NetworkDef = {
    name: m.name !== undefined ? c.str(m.name, [...at, 'name']) : external ? key : `${project}_${key}`,
    external,
    internal: m.internal === undefined ? false : c.bool(m.internal, [...at, 'internal']),
    labels: m.labels === undefined ? {} : (c.dict(m.labels, [...at, 'labels'], false) as Record<string, string>),
    driver_opts: m.driver_opts === undefined ? {} : (c.dict(m.driver_opts, [...at, 'driver_opts'], false) as Record<string, string>),
  };
  if (m.driver !== undefined) n.driver = c.str(m.driver, [...at, 'driver']);
  if (n.driver !== undefined && n.driver !== 'bridge') c.fail([...at, 'driver'], `driver ${JSON.stringify(n.driver)} is not available: pier has bridge networks`);
  if (m.ipam !== undefined) {
    const ipam = c.map(m.ipam, [...at, 'ipam']);
    const config = ipam.config === undefined ? [] : c.list(ipam.config, [...at, 'ipam', 'config']);
    const first = config[0] === undefined ? {} : c.map(config[0], [...at, 'ipam', 'config', '0']);
    n.ipam = {};
    if (first.subnet !== undefined) n.ipam.subnet = c.str(first.subnet, [...at, 'ipam', 'config', '0', 'subnet']);
    if (first.gateway !== undefined) n.ipam.gateway = c.str(first.gateway, [...at, 'ipam', 'config', '0', 'gateway']);
  }
  return n;
}

function volumeDef(key: string, m: Record<string, unknown>, c: Checker, project: string): VolumeDef {
  const at = ['volumes', key];
  c.keys(m, at, ['name', 'driver', 'driver_opts', 'external', 'labels']);
  const external = external_(m.external, c, at);
  const v: VolumeDef = {
    name: m.name !== undefined ? c.str(m.name, [...at, 'name']) : external ? key : `${project}_${key}`,
    external,
    labels: m.labels === undefined ? {} : (c.dict(m.labels, [...at, 'labels'], false) as Record<string, string>),
    driver_opts: m.driver_opts === undefined ? {} : (c.dict(m.driver_opts, [...at, 'driver_opts'], false) as Record<string, string>),
  };
  if (m.driver !== undefined) v.driver = c.str(m.driver, [...at, 'driver']);
  return v;
}

/** `external: true`, or the old `external: {name: x}` form (its name is taken by the caller's `name`). */
function external_(v: unknown, c: Checker, at: string[]): boolean {
  if (v === undefined) return false;
  if (c.isMap(v)) return true;
  return c.bool(v, [...at, 'external']);
}

/** A dependency cycle among `services` as `a -> b -> a`, or undefined. */
export function findCycle(services: Record<string, Pick<Service, 'depends_on'>>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of Object.keys(services[name]?.depends_on ?? {}).sort()) {
      if (!services[dep]) continue;
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of Object.keys(services).sort()) {
    const found = visit(name);
    if (found) return found;
  }
  return undefined;
}

/** Services in start order: each after what it depends on (names sorted within a level). */
export function startOrder(services: Record<string, Pick<Service, 'depends_on'>>, only?: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name) || !services[name]) return;
    seen.add(name);
    for (const dep of Object.keys(services[name].depends_on).sort()) visit(dep);
    out.push(name);
  };
  for (const name of [...(only ?? Object.keys(services))].sort()) visit(name);
  return out;
}
