import type { ContainerConfig, HealthConfig, HostConfig, ImageConfig, MountPoint } from '../wire/engine.js';
import type { Workload, WorkloadMount, WorkloadPort } from './workload.js';

/**
 * A container, as `GET /containers/{id}/json` describes it, as a workload (`pier kube
 * generate`). What the container only inherited from its image (environment, command,
 * working directory, user) is left for the image to give again, so the YAML says what the
 * container's creator chose; the health check is the container's, else its image's.
 */

/** The parts of a container's inspect answer read here (the Engine API's shapes). */
export interface InspectedContainer {
  Name: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts?: MountPoint[] | null;
}

/** The parts of its image's inspect answer read here; null when the image is gone. */
export interface InspectedImage {
  RepoDigests?: string[] | null;
  Config?: ImageConfig | null;
}

/** Anonymous volumes are named by 64 hex digits. */
const ANONYMOUS = /^[0-9a-f]{64}$/;

const same = (a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

function health(c: ContainerConfig, image: InspectedImage | null): Workload['health'] {
  const h: HealthConfig | null | undefined = c.Healthcheck ?? image?.Config?.Healthcheck;
  const test = h?.Test ?? [];
  if (!h || test.length === 0 || test[0] === 'NONE') return undefined;
  return { test, interval: h.Interval, timeout: h.Timeout, retries: h.Retries, startPeriod: h.StartPeriod };
}

function ports(c: ContainerConfig, hc: HostConfig): WorkloadPort[] {
  const out: WorkloadPort[] = [];
  const keys = new Set([...Object.keys(c.ExposedPorts ?? {}), ...Object.keys(hc.PortBindings ?? {})]);
  for (const key of [...keys].sort((a, b) => parseInt(a, 10) - parseInt(b, 10))) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
    if (!m || m[2] === 'sctp') continue;
    const target = Number(m[1]);
    const protocol = (m[2] ?? 'tcp') as 'tcp' | 'udp';
    const bindings = hc.PortBindings?.[key] ?? [];
    if (bindings.length === 0) out.push({ target, protocol, published: false });
    for (const b of bindings) {
      out.push({ target, protocol, published: true, ...(b.HostPort ? { hostPort: Number(b.HostPort) } : {}), ...(b.HostIp ? { hostIp: b.HostIp } : {}) });
    }
  }
  return out;
}

/** The container's mounts by target path (the order of an inspect answer's `Mounts` means nothing). */
function mounts(container: InspectedContainer): WorkloadMount[] {
  const out: WorkloadMount[] = [];
  for (const m of [...(container.Mounts ?? [])].sort((a, b) => (a.Destination ?? '').localeCompare(b.Destination ?? ''))) {
    const target = m.Destination ?? '';
    const readOnly = m.RW === false;
    if (m.Type === 'volume') out.push(m.Name && !ANONYMOUS.test(m.Name) ? { type: 'volume', source: m.Name, target, readOnly } : { type: 'volume', target, readOnly });
    else if (m.Type === 'bind') out.push({ type: 'bind', source: m.Source ?? '', target, readOnly });
    else if (m.Type === 'tmpfs') out.push({ type: 'tmpfs', target, readOnly });
  }
  // `--tmpfs /run:size=64m` is in HostConfig.Tmpfs, not among the mounts.
  for (const [target, opts] of Object.entries(container.HostConfig.Tmpfs ?? {})) {
    if (out.some((m) => m.target === target)) continue;
    const size = /(?:^|,)size=(\d+)([kmg]?)/i.exec(opts);
    const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(size?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
    out.push({ type: 'tmpfs', target, readOnly: /(?:^|,)ro(?:,|$)/.test(opts), ...(size ? { sizeBytes: Number(size[1]) * unit } : {}) });
  }
  return out.sort((a, b) => a.target.localeCompare(b.target));
}

/** `container` (and its image, when it still exists) as a workload of `replicas`. */
export function workloadOfContainer(container: InspectedContainer, image: InspectedImage | null, replicas = 1): Workload {
  const c = container.Config;
  const hc = container.HostConfig;
  const ic = image?.Config ?? {};
  const name = container.Name.replace(/^\//, '');
  const notes: string[] = [];
  const imageRef = c.Image ?? '';
  if (image && (image.RepoDigests ?? []).length === 0) notes.push(`${name}: image ${imageRef} was not pulled from a registry; push it to one the cluster can pull from`);

  const imageEnv = new Set(ic.Env ?? []);
  const env: Record<string, string> = {};
  for (const e of c.Env ?? []) {
    if (imageEnv.has(e)) continue;
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  // Docker gives a container the image's Cmd unless it was given its own entrypoint or cmd.
  const ownEntrypoint = !same(c.Entrypoint, ic.Entrypoint);
  const ownCmd = ownEntrypoint || !same(c.Cmd, ic.Cmd);
  const cpus = hc.NanoCpus ? hc.NanoCpus / 1e9 : hc.CpuQuota && hc.CpuQuota > 0 ? hc.CpuQuota / (hc.CpuPeriod || 100_000) : undefined;
  const project = c.Labels?.['com.docker.compose.project'];
  const networkMode = hc.NetworkMode && ['host', 'none'].includes(hc.NetworkMode) ? hc.NetworkMode : hc.NetworkMode?.startsWith('container:') ? hc.NetworkMode : undefined;
  const w: Workload = {
    name,
    replicas,
    image: imageRef,
    env,
    envFiles: [],
    ports: ports(c, hc),
    limits: { cpus, memory: hc.Memory || undefined },
    reservations: { memory: hc.MemoryReservation || undefined },
    mounts: mounts(container),
    restart: hc.RestartPolicy?.Name || 'no',
    capAdd: hc.CapAdd ?? [],
    capDrop: hc.CapDrop ?? [],
    extraHosts: hc.ExtraHosts ?? [],
    notes,
  };
  if (project) w.project = project;
  if (ownEntrypoint && c.Entrypoint) w.entrypoint = c.Entrypoint;
  if (ownCmd && c.Cmd) w.cmd = c.Cmd;
  if (c.WorkingDir && c.WorkingDir !== (ic.WorkingDir ?? '')) w.workingDir = c.WorkingDir;
  if (c.User && c.User !== (ic.User ?? '')) w.user = c.User;
  const h = health(c, image);
  if (h) w.health = h;
  if (c.StopTimeout !== undefined && c.StopTimeout !== null) w.stopGracePeriod = c.StopTimeout;
  if (hc.Privileged) w.privileged = true;
  if (hc.ReadonlyRootfs) w.readOnlyRootfs = true;
  if (networkMode) w.networkMode = networkMode;
  if (c.Tty) w.tty = true;
  if (c.OpenStdin) w.stdinOpen = true;
  return w;
}
