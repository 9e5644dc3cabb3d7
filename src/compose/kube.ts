import type { Workload, WorkloadMount, WorkloadPort } from '../kube/workload.js';
import type { Project, Service } from './compose.js';
import { imageOf } from './spec.js';

/**
 * A compose project's services as workloads (`pier compose kube`), for src/kube to turn into
 * Kubernetes objects. Pure: reads the model, never the daemon or the disk (env files were
 * read when the model was loaded).
 */

function ports(s: Service): WorkloadPort[] {
  const out: WorkloadPort[] = s.ports.map((p) => ({
    target: p.target,
    protocol: p.protocol,
    published: true,
    ...(p.published !== undefined && p.published !== '' ? { hostPort: Number(p.published) } : {}),
    ...(p.host_ip ? { hostIp: p.host_ip } : {}),
  }));
  for (const e of s.expose) {
    // `expose:` takes PORT, PORT/PROTO and ranges FROM-TO[/PROTO].
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(e);
    if (!m) continue;
    const from = Number(m[1]);
    for (let target = from; target <= Number(m[2] ?? from); target++) out.push({ target, protocol: (m[3] ?? 'tcp') as 'tcp' | 'udp', published: false });
  }
  return out;
}

function mounts(p: Project, s: Service): WorkloadMount[] {
  const out: WorkloadMount[] = s.volumes.map((v) => {
    if (v.type === 'volume' && v.source !== undefined) {
      const def = p.volumes[v.source]!;
      return { type: 'volume', source: def.name, target: v.target, readOnly: v.read_only, ...(def.external ? { external: true } : {}) };
    }
    if (v.type === 'tmpfs') return { type: 'tmpfs', target: v.target, readOnly: v.read_only, ...(v.tmpfs_size !== undefined ? { sizeBytes: v.tmpfs_size } : {}) };
    return { type: v.type, ...(v.source !== undefined ? { source: v.source } : {}), target: v.target, readOnly: v.read_only };
  });
  // `tmpfs: /run:size=64m,mode=1777` (Docker's --tmpfs form).
  for (const t of s.tmpfs) {
    const [target, opts = ''] = t.split(/:(.*)/s) as [string, string?];
    const size = /(?:^|,)size=(\d+)([kmg]?)/i.exec(opts);
    const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(size?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
    out.push({ type: 'tmpfs', target, readOnly: /(?:^|,)ro(?:,|$)/.test(opts), ...(size ? { sizeBytes: Number(size[1]) * unit } : {}) });
  }
  return out;
}

/** Service `s` of `p` as a workload. */
export function workloadOfService(p: Project, s: Service): Workload {
  const notes: string[] = [];
  const image = imageOf(p, s);
  if (s.build) {
    notes.push(
      s.image === undefined
        ? `${s.name}: its image is built by compose (build:) and has no name; tag it, push it to a registry the cluster can pull from, and set image: (written here as ${image}, the name compose gives it)`
        : `${s.name}: its image ${image} is built by compose (build:); push it to a registry the cluster can pull from (pier compose push)`,
    );
  }
  if (s.healthcheck && s.healthcheck.test.length === 0) notes.push(`${s.name}: its healthcheck names no test (the image's applies in Docker); no probe is written`);
  if (s.deploy.limits.pids !== undefined) notes.push(`${s.name}: deploy.resources.limits.pids has no per-container equivalent in Kubernetes; left out`);
  const w: Workload = {
    name: s.name,
    project: p.name,
    replicas: s.deploy.replicas ?? 1,
    image,
    env: { ...s.environment },
    envFiles: s.env_file.map((f) => ({ path: f.path, values: { ...f.values } })),
    ports: ports(s),
    limits: { ...s.deploy.limits },
    reservations: { ...s.deploy.reservations },
    mounts: mounts(p, s),
    capAdd: s.cap_add,
    capDrop: s.cap_drop,
    extraHosts: s.extra_hosts,
    notes,
  };
  if (s.restart !== undefined) w.restart = s.restart.split(':')[0]!;
  if (s.entrypoint !== undefined) w.entrypoint = s.entrypoint;
  if (s.command !== undefined) w.cmd = s.command;
  if (s.working_dir !== undefined) w.workingDir = s.working_dir;
  if (s.user !== undefined) w.user = s.user;
  const h = s.healthcheck;
  if (h && h.test.length > 0 && h.test[0] !== 'NONE') w.health = { test: h.test, interval: h.interval, timeout: h.timeout, retries: h.retries, startPeriod: h.start_period };
  if (s.stop_grace_period !== undefined) w.stopGracePeriod = s.stop_grace_period;
  if (s.privileged) w.privileged = true;
  if (s.read_only) w.readOnlyRootfs = true;
  if (s.network_mode !== undefined) w.networkMode = s.network_mode;
  if (s.tty) w.tty = true;
  if (s.stdin_open) w.stdinOpen = true;
  const u = s.deploy.update_config;
  // Only an update order compose users chose is carried over; Kubernetes' default rolling update is kept otherwise.
  if (u.order === 'start-first' || u.parallelism !== 1) w.update = { order: u.order, parallelism: u.parallelism };
  return w;
}

/** The project's services (only `services` when named), in name order, as workloads. */
export function projectWorkloads(p: Project, services: readonly string[] = []): Workload[] {
  const names = services.length > 0 ? services : Object.keys(p.services).sort();
  return names.map((n) => workloadOfService(p, p.services[n]!));
}
