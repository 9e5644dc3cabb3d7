import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { Project, Service } from './compose.js';
import { formatDuration } from './units.js';

/**
 * The model written back as Compose prints it (`docker compose config`): long syntax
 * everywhere, durations as Go writes them, defaults spelled out; and the config hash that
 * tells whether a service's containers must be recreated.
 */

function compact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(compact);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      if (Array.isArray(x) && x.length === 0) continue;
      if (x !== null && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 0 && k !== 'networks') continue;
      out[k] = compact(x);
    }
    return out;
  }
  return v;
}

function serviceDoc(s: Service): Record<string, unknown> {
  const dur = (ns: number | undefined): string | undefined => (ns === undefined ? undefined : formatDuration(ns));
  return {
    build: s.build && { context: s.build.context, dockerfile: s.build.dockerfile ?? 'Dockerfile', args: s.build.args, target: s.build.target, labels: s.build.labels },
    cap_add: s.cap_add,
    cap_drop: s.cap_drop,
    command: s.command,
    container_name: s.container_name,
    depends_on: Object.fromEntries(Object.entries(s.depends_on).map(([k, d]) => [k, { condition: d.condition, required: d.required, restart: d.restart }])),
    deploy:
      s.deploy.replicas !== undefined || Object.keys(s.deploy.limits).length > 0 || s.deploy.update_config.order !== 'stop-first' || s.deploy.update_config.parallelism !== 1 || s.deploy.update_config.delay !== 0
        ? {
            replicas: s.deploy.replicas,
            resources: { limits: { cpus: s.deploy.limits.cpus?.toString(), memory: s.deploy.limits.memory, pids: s.deploy.limits.pids }, reservations: { cpus: s.deploy.reservations.cpus?.toString(), memory: s.deploy.reservations.memory } },
            update_config: { parallelism: s.deploy.update_config.parallelism, delay: formatDuration(s.deploy.update_config.delay), order: s.deploy.update_config.order },
          }
        : undefined,
    dns: s.dns,
    entrypoint: s.entrypoint,
    environment: s.environment,
    expose: s.expose,
    extra_hosts: s.extra_hosts,
    healthcheck: s.healthcheck && { test: s.healthcheck.test, interval: dur(s.healthcheck.interval), timeout: dur(s.healthcheck.timeout), retries: s.healthcheck.retries, start_period: dur(s.healthcheck.start_period), start_interval: dur(s.healthcheck.start_interval) },
    hostname: s.hostname,
    image: s.image,
    init: s.init,
    labels: s.labels,
    network_mode: s.network_mode,
    networks: s.network_mode ? undefined : Object.fromEntries(Object.entries(s.networks).map(([k, n]) => [k, n.aliases.length > 0 || n.ipv4_address ? { aliases: n.aliases, ipv4_address: n.ipv4_address } : null])),
    ports: s.ports.map((p) => ({ mode: 'ingress', host_ip: p.host_ip, target: p.target, published: p.published, protocol: p.protocol })),
    privileged: s.privileged,
    profiles: s.profiles,
    pull_policy: s.pull_policy,
    read_only: s.read_only,
    restart: s.restart,
    stdin_open: s.stdin_open,
    stop_grace_period: s.stop_grace_period === undefined ? undefined : formatDuration(s.stop_grace_period * 1e9),
    stop_signal: s.stop_signal,
    sysctls: s.sysctls,
    tmpfs: s.tmpfs,
    tty: s.tty,
    user: s.user,
    volumes: s.volumes.map((v) => ({ type: v.type, source: v.source, target: v.target, read_only: v.read_only || undefined, volume: v.nocopy ? { nocopy: true } : undefined, tmpfs: v.tmpfs_size !== undefined ? { size: v.tmpfs_size } : undefined })),
    working_dir: s.working_dir,
  };
}

/** The document `pier compose config` prints. */
export function projectDoc(p: Project): Record<string, unknown> {
  return compact({
    name: p.name,
    services: Object.fromEntries(Object.keys(p.services).sort().map((k) => [k, serviceDoc(p.services[k]!)])),
    networks: Object.fromEntries(Object.entries(p.networks).map(([k, n]) => [k, { name: n.name, driver: n.driver, internal: n.internal || undefined, external: n.external || undefined, labels: n.labels, driver_opts: n.driver_opts, ipam: n.ipam && { config: [n.ipam] } }])),
    volumes: Object.fromEntries(Object.entries(p.volumes).map(([k, v]) => [k, { name: v.name, driver: v.driver, external: v.external || undefined, labels: v.labels, driver_opts: v.driver_opts }])),
  }) as Record<string, unknown>;
}

export function renderYaml(doc: unknown): string {
  return yaml.dump(doc, { noRefs: true, lineWidth: -1 });
}

function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]));
  return v;
}

/**
 * The `com.docker.compose.config-hash` of a service: sha256 of its container-shaping
 * configuration. Replicas, the update strategy, the build recipe, profiles, pull policy and
 * dependencies are left out: changing them never recreates a container by itself. So are the
 * env files (their variables are in `environment`) and the CPU reservation (no container
 * setting follows from it).
 */
export function configHash(s: Service): string {
  const { build: _b, profiles: _p, pull_policy: _pp, depends_on: _d, env_file: _e, deploy, ...rest } = s;
  const shaped = { ...rest, deploy: { limits: deploy.limits, reservations: { memory: deploy.reservations.memory } } };
  return createHash('sha256').update(JSON.stringify(stable(shaped))).digest('hex');
}
