import type { ContainerCreateBody, EndpointConfig, PortBinding } from '../client/types.js';
import { LABEL, type Project, type Service } from './compose.js';
import { configHash } from './render.js';

/**
 * A service's container as the Engine API creates it: Compose v2's name
 * (`<project>-<service>-<n>`), Compose's labels, and the service's settings translated to
 * Config, HostConfig and NetworkingConfig. Pure: reads the model, never the daemon (what it
 * needs of the daemon, a `service:x` container's ID, is passed in).
 */

/** The image a service runs: its `image`, else the one its build makes (`<project>-<service>`, as Compose v2 names it). */
export function imageOf(p: Project, s: Service): string {
  return s.image ?? `${p.name}-${s.name}`;
}

export function containerName(p: Project, s: Service, n: number): string {
  return s.container_name ?? `${p.name}-${s.name}-${n}`;
}

export interface SpecOptions {
  number: number;
  oneoff?: boolean;
  /** The ID of the image the container is made from, recorded so that a new image recreates it. */
  imageId?: string;
  /** For `network_mode: service:x`: the container of x to share the network stack of. */
  networkContainer?: string;
  /** `run`: another command, no ports unless asked, attach settings. */
  command?: string[];
  entrypoint?: string[];
  tty?: boolean;
  interactive?: boolean;
  servicePorts?: boolean;
  env?: Record<string, string>;
  user?: string;
  workdir?: string;
}

function restartPolicy(r: string | undefined): { Name: string; MaximumRetryCount?: number } | undefined {
  if (!r) return undefined;
  const [name, count] = r.split(':');
  return count ? { Name: name!, MaximumRetryCount: Number(count) } : { Name: name === 'no' ? '' : name! };
}

export function projectLabels(p: Project): Record<string, string> {
  return { [LABEL.project]: p.name, [LABEL.workingDir]: p.workingDir, [LABEL.configFiles]: p.configFiles.join(',') };
}

export function containerBody(p: Project, s: Service, o: SpecOptions): ContainerCreateBody {
  const name = containerName(p, s, o.number);
  const labels: Record<string, string> = {
    ...s.labels,
    ...projectLabels(p),
    [LABEL.service]: s.name,
    [LABEL.number]: String(o.number),
    [LABEL.oneoff]: o.oneoff ? 'True' : 'False',
    [LABEL.configHash]: configHash(s),
    [LABEL.dependsOn]: Object.entries(s.depends_on).map(([k, d]) => `${k}:${d.condition}:${d.restart}`).join(','),
  };
  if (o.imageId) labels[LABEL.image] = o.imageId;
  const exposed: Record<string, Record<string, never>> = {};
  for (const e of s.expose) exposed[/\//.test(e) ? e : `${e}/tcp`] = {};
  const bindings: Record<string, PortBinding[]> = {};
  if (!o.oneoff || o.servicePorts) {
    for (const port of s.ports) {
      const key = `${port.target}/${port.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: port.host_ip ?? '', HostPort: port.published ?? '' });
    }
  }
  const env = { ...s.environment, ...o.env };
  const mounts = s.volumes.map((v) => {
    if (v.type === 'volume') {
      return {
        Type: 'volume',
        ...(v.source !== undefined ? { Source: p.volumes[v.source]!.name } : {}),
        Target: v.target,
        ReadOnly: v.read_only,
        ...(v.nocopy ? { VolumeOptions: { NoCopy: true } } : {}),
      };
    }
    if (v.type === 'bind') return { Type: 'bind', Source: v.source, Target: v.target, ReadOnly: v.read_only, BindOptions: { CreateMountpoint: true } };
    return { Type: 'tmpfs', Target: v.target, ReadOnly: v.read_only, ...(v.tmpfs_size !== undefined ? { TmpfsOptions: { SizeBytes: v.tmpfs_size } } : {}) };
  });
  const tmpfs: Record<string, string> = {};
  for (const t of s.tmpfs) {
    const [path, opts = ''] = t.split(/:(.*)/s) as [string, string?];
    tmpfs[path] = opts;
  }
  const nets = Object.entries(s.networks);
  let networkMode: string;
  if (s.network_mode === undefined) networkMode = nets.length > 0 ? p.networks[nets[0]![0]]!.name : 'none';
  else if (s.network_mode.startsWith('service:')) networkMode = `container:${o.networkContainer ?? ''}`;
  else networkMode = s.network_mode;
  const endpoints: Record<string, EndpointConfig> = {};
  for (const [key, n] of nets) {
    // Compose v2's aliases: the service name, and the container's own name as a DNS name
    endpoints[p.networks[key]!.name] = { Aliases: o.oneoff ? [...n.aliases] : [name, s.name, ...n.aliases], ...(n.ipv4_address ? { IPAMConfig: { IPv4Address: n.ipv4_address } } : {}) };
  }
  const limits = s.deploy.limits;
  const health = s.healthcheck;
  return {
    Image: imageOf(p, s),
    Cmd: o.command ?? s.command ?? null,
    Entrypoint: o.entrypoint ?? s.entrypoint ?? null,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    ExposedPorts: Object.keys(exposed).length > 0 ? exposed : null,
    User: o.user ?? s.user,
    WorkingDir: o.workdir ?? s.working_dir,
    Hostname: s.hostname,
    Tty: o.tty ?? s.tty ?? false,
    OpenStdin: o.interactive ?? s.stdin_open ?? false,
    StdinOnce: !!o.interactive,
    AttachStdin: !!o.interactive,
    AttachStdout: o.oneoff ?? false,
    AttachStderr: o.oneoff ?? false,
    StopSignal: s.stop_signal,
    StopTimeout: s.stop_grace_period,
    Healthcheck: health && {
      Test: health.test.length > 0 ? health.test : undefined,
      Interval: health.interval,
      Timeout: health.timeout,
      Retries: health.retries,
      StartPeriod: health.start_period,
      StartInterval: health.start_interval,
    },
    HostConfig: {
      NetworkMode: networkMode,
      PortBindings: bindings,
      RestartPolicy: o.oneoff ? undefined : restartPolicy(s.restart),
      Init: s.init ?? null,
      Privileged: s.privileged ?? false,
      ReadonlyRootfs: s.read_only ?? false,
      CapAdd: s.cap_add,
      CapDrop: s.cap_drop,
      Memory: limits.memory,
      MemoryReservation: s.deploy.reservations.memory,
      NanoCpus: limits.cpus !== undefined ? Math.round(limits.cpus * 1e9) : undefined,
      PidsLimit: limits.pids ?? null,
      Mounts: mounts,
      Tmpfs: tmpfs,
      ExtraHosts: s.extra_hosts,
      Dns: s.dns,
      Sysctls: s.sysctls,
    },
    NetworkingConfig: { EndpointsConfig: endpoints },
  };
}
