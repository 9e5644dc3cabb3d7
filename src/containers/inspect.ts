import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../runtime/spec.js';
import { humanDuration } from '../util/human.js';
import type { ContainerRecord } from './types.js';

/** Docker's JSON shapes for a container: `GET /containers/{id}/json` and the list summary. */

/** What inspect shows beyond the record itself. */
export interface InspectExtras {
  driver: string;
  runtime: string;
  /** The container's exec sessions (null: none). */
  execIds: string[] | null;
  /** `Mounts` as Docker shows them; absent: the record's binds. */
  mounts?: Array<Record<string, unknown>>;
  /** The log driver in force and its options. */
  logConfig: { Type: string; Config: Record<string, string> };
  sizeRw?: number;
  sizeRootFs?: number;
  /** `GraphDriver.Data`: the storage dirs ({} when not known). */
  graphDriverData?: Record<string, string>;
  /** HostConfig.Links as Docker shows them, `/<child>:/<parent>/<alias>` (src/containers/links.ts). */
  links?: string[] | null;
  /** The container's names as a child of legacy links, `/<parent>/<alias>` (the list's Names). */
  linkNames?: string[];
}

export function containerInspect(rec: ContainerRecord, extra: InspectExtras): Record<string, unknown> {
  const s = rec.State;
  return {
    Id: rec.Id,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: {
      Status: s.Status,
      Running: s.Status === 'running' || s.Status === 'paused',
      Paused: s.Status === 'paused',
      Restarting: s.Status === 'restarting',
      OOMKilled: s.OOMKilled,
      Dead: s.Status === 'dead',
      Pid: s.Pid,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
      ...(s.Health ? { Health: s.Health } : {}),
    },
    Image: rec.Image,
    ResolvConfPath: rec.ResolvConfPath,
    HostnamePath: rec.HostnamePath,
    HostsPath: rec.HostsPath,
    LogPath: rec.LogPath,
    Name: `/${rec.Name}`,
    RestartCount: rec.RestartCount,
    Driver: extra.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: extra.execIds,
    HostConfig: hostConfigOut(rec, extra),
    GraphDriver: { Name: extra.driver, Data: extra.graphDriverData ?? {} },
    ...(extra.sizeRw !== undefined ? { SizeRw: extra.sizeRw, SizeRootFs: extra.sizeRootFs ?? extra.sizeRw } : {}),
    Mounts: extra.mounts ?? mountsOf(rec),
    Config: configOut(rec),
    NetworkSettings: { ...rec.NetworkSettings, Networks: endpointsOut(rec.NetworkSettings.Networks) },
  };
}

/**
 * Each endpoint with every key Docker's EndpointSettings always has (IPAMConfig, Links,
 * DriverOpts, GwPriority and the IPv6 fields): what the networks part recorded wins, the rest
 * is Docker's value for "not set".
 */
function endpointsOut(networks: ContainerRecord['NetworkSettings']['Networks'] | null | undefined): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, ep] of Object.entries(networks ?? {})) {
    const { NetworkID, EndpointID, Gateway, IPAddress, IPPrefixLen, MacAddress, Aliases, DNSNames, ...more } = ep;
    // Docker's order of keys, then whatever else the networks part records.
    out[name] = {
      IPAMConfig: null, Links: null, Aliases, MacAddress, DriverOpts: null, GwPriority: 0,
      NetworkID, EndpointID, Gateway, IPAddress, IPPrefixLen,
      IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames,
      ...more,
    };
  }
  return out;
}

function hostConfigOut(rec: ContainerRecord, extra: InspectExtras): Record<string, unknown> {
  const hc = rec.HostConfig;
  return {
    Binds: hc.Binds ?? null,
    ContainerIDFile: '',
    LogConfig: extra.logConfig,
    NetworkMode: hc.NetworkMode ?? 'bridge',
    PortBindings: hc.PortBindings ?? {},
    RestartPolicy: hc.RestartPolicy ?? { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: hc.AutoRemove ?? false,
    VolumeDriver: hc.VolumeDriver ?? '',
    VolumesFrom: hc.VolumesFrom ?? null,
    ConsoleSize: hc.ConsoleSize ?? [0, 0],
    CapAdd: hc.CapAdd ?? null,
    CapDrop: hc.CapDrop ?? null,
    CgroupnsMode: 'private',
    Dns: hc.Dns ?? [],
    DnsOptions: hc.DnsOptions ?? [],
    DnsSearch: hc.DnsSearch ?? [],
    ExtraHosts: hc.ExtraHosts ?? null,
    GroupAdd: hc.GroupAdd ?? null,
    IpcMode: hc.IpcMode || 'private',
    Cgroup: '',
    Links: extra.links ?? null,
    OomScoreAdj: hc.OomScoreAdj ?? 0,
    PidMode: hc.PidMode ?? '',
    Privileged: hc.Privileged ?? false,
    PublishAllPorts: hc.PublishAllPorts ?? false,
    ReadonlyRootfs: hc.ReadonlyRootfs ?? false,
    SecurityOpt: hc.SecurityOpt ?? null,
    Tmpfs: hc.Tmpfs,
    UTSMode: hc.UTSMode ?? '',
    UsernsMode: hc.UsernsMode ?? '',
    ShmSize: hc.ShmSize || 67108864,
    Sysctls: hc.Sysctls,
    Runtime: hc.Runtime || extra.runtime,
    Isolation: hc.Isolation ?? '',
    CpuShares: hc.CpuShares ?? 0,
    Memory: hc.Memory ?? 0,
    NanoCpus: hc.NanoCpus ?? 0,
    CgroupParent: '',
    BlkioWeight: hc.BlkioWeight ?? 0,
    BlkioWeightDevice: hc.BlkioWeightDevice ?? [],
    BlkioDeviceReadBps: hc.BlkioDeviceReadBps ?? [],
    BlkioDeviceWriteBps: hc.BlkioDeviceWriteBps ?? [],
    BlkioDeviceReadIOps: hc.BlkioDeviceReadIOps ?? [],
    BlkioDeviceWriteIOps: hc.BlkioDeviceWriteIOps ?? [],
    CpuPeriod: hc.CpuPeriod ?? 0,
    CpuQuota: hc.CpuQuota ?? 0,
    CpuRealtimePeriod: hc.CpuRealtimePeriod ?? 0,
    CpuRealtimeRuntime: hc.CpuRealtimeRuntime ?? 0,
    CpusetCpus: hc.CpusetCpus ?? '',
    CpusetMems: hc.CpusetMems ?? '',
    Devices: hc.Devices ?? [],
    DeviceCgroupRules: hc.DeviceCgroupRules ?? null,
    MemoryReservation: hc.MemoryReservation ?? 0,
    MemorySwap: hc.MemorySwap ?? 0,
    // -1 (the CLI's "not set") is shown as null, as Docker's fixMemorySwappiness does.
    MemorySwappiness: hc.MemorySwappiness === -1 ? null : (hc.MemorySwappiness ?? null),
    OomKillDisable: hc.OomKillDisable ?? false,
    PidsLimit: hc.PidsLimit ?? null,
    Ulimits: hc.Ulimits ?? [],
    Init: hc.Init ?? null,
    Mounts: hc.Mounts,
    MaskedPaths: hc.Privileged ? null : (hc.MaskedPaths ?? DEFAULT_MASKED_PATHS),
    ReadonlyPaths: hc.Privileged ? null : (hc.ReadonlyPaths ?? DEFAULT_READONLY_PATHS),
  };
}

function configOut(rec: ContainerRecord): Record<string, unknown> {
  const c = rec.Config;
  return {
    Hostname: c.Hostname,
    Domainname: c.Domainname ?? '',
    User: c.User ?? '',
    AttachStdin: c.AttachStdin ?? false,
    AttachStdout: c.AttachStdout ?? false,
    AttachStderr: c.AttachStderr ?? false,
    ExposedPorts: c.ExposedPorts && Object.keys(c.ExposedPorts).length > 0 ? c.ExposedPorts : undefined,
    Tty: c.Tty ?? false,
    OpenStdin: c.OpenStdin ?? false,
    StdinOnce: c.StdinOnce ?? false,
    Env: c.Env,
    Cmd: c.Cmd ?? null,
    Healthcheck: c.Healthcheck,
    Image: c.Image,
    Volumes: c.Volumes && Object.keys(c.Volumes).length > 0 ? c.Volumes : null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: null,
    Labels: c.Labels,
    StopSignal: c.StopSignal,
    StopTimeout: c.StopTimeout,
  };
}

function mountsOf(rec: ContainerRecord): Array<Record<string, unknown>> {
  return (rec.HostConfig.Binds ?? []).flatMap((bind) => {
    const [source, destination, mode = ''] = bind.split(':');
    if (!source?.startsWith('/') || !destination) return [];
    const ro = mode.split(',').includes('ro');
    return [{ Type: 'bind', Source: source, Destination: destination, Mode: mode, RW: !ro, Propagation: 'rprivate' }];
  });
}

/** The command column of `docker ps`: path and args joined. */
function commandOf(rec: ContainerRecord): string {
  return [rec.Path, ...rec.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
}

/** ` (healthy)`, ` (unhealthy)`, ` (health: starting)` after `Up ...`, as `docker ps` shows them. */
function healthText(rec: ContainerRecord): string {
  const h = rec.State.Health?.Status;
  if (h === undefined) return '';
  return h === 'starting' ? ' (health: starting)' : ` (${h})`;
}

/** Docker's `Status` text: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`. */
export function statusText(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.State;
  switch (s.Status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}${healthText(rec)}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'exited':
      return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

export function containerSummary(rec: ContainerRecord, extra: InspectExtras, size?: { rw: number; rootFs: number }): Record<string, unknown> {
  return {
    Id: rec.Id,
    Names: [`/${rec.Name}`, ...(extra.linkNames ?? [])],
    Image: rec.Config.Image,
    ImageID: rec.Image,
    Command: commandOf(rec),
    Created: Math.floor(Date.parse(rec.Created) / 1000),
    Ports: portsOf(rec),
    Labels: rec.Config.Labels ?? {},
    State: rec.State.Status,
    Status: statusText(rec),
    HostConfig: { NetworkMode: rec.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: endpointsOut(rec.NetworkSettings.Networks) },
    Mounts: extra.mounts ?? mountsOf(rec),
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootFs } : {}),
  };
}

/**
 * The `Ports` of a list summary, as Docker builds them: each published binding
 * (`{IP, PrivatePort, PublicPort, Type}`), and each exposed port that is not published
 * (`{PrivatePort, Type}`).
 */
export function portsOf(rec: ContainerRecord): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = [];
  const published = rec.NetworkSettings.Ports ?? {};
  const keys = new Set([...Object.keys(rec.Config.ExposedPorts ?? {}), ...Object.keys(published)]);
  for (const key of keys) {
    const [port = '', type = 'tcp'] = key.split('/');
    const privatePort = Number(port);
    if (!Number.isInteger(privatePort)) continue;
    const bindings = published[key];
    if (!bindings || bindings.length === 0) {
      out.push({ PrivatePort: privatePort, Type: type });
      continue;
    }
    for (const b of bindings) out.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: privatePort, PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}
