import type { ContainerSpec, Mount, Resources, ThrottleDevice } from '../runtime/runtime.js';
import { parseSecurityOpt } from './security.js';
import type { ContainerRecord, HostConfig } from './types.js';

/** The daemon's defaults that a container's spec falls back on. */
export interface SpecDefaults {
  /** Run an init (tini) as PID 1 unless the container says otherwise. pier's default: true. */
  defaultInit: boolean;
  defaultUlimits: Array<{ Name: string; Soft: number; Hard: number }>;
  defaultShmSize: number;
  /** The daemon's `no-new-privileges` setting: containers get it unless they say otherwise. */
  noNewPrivileges?: boolean;
}

/**
 * The runtime's spec of a container's process, from its record: what the runtime needs and
 * nothing of pier's policy. `mounts` are the container's mounts, resolved by the caller.
 */
export function containerSpecOf(rec: ContainerRecord, network: ContainerSpec['network'], mounts: Mount[], defaults: SpecDefaults): ContainerSpec {
  const hc = rec.HostConfig;
  const security = parseSecurityOpt(hc.SecurityOpt ?? [], undefined, defaults.noNewPrivileges ?? false);
  return {
    id: rec.Id,
    runtime: hc.Runtime === 'crun' || hc.Runtime === 'runc' ? hc.Runtime : undefined,
    rootfs: rec.RootfsPath,
    readonlyRootfs: hc.ReadonlyRootfs ?? false,
    args: [rec.Path, ...rec.Args],
    env: rec.Config.Env,
    cwd: rec.Config.WorkingDir || '/',
    user: rec.Config.User ?? '',
    groupAdd: hc.GroupAdd ?? [],
    hostname: rec.Config.Hostname ?? rec.Id.slice(0, 12),
    domainname: rec.Config.Domainname ?? '',
    tty: rec.Config.Tty ?? false,
    consoleSize: consoleSize(hc.ConsoleSize),
    openStdin: rec.Config.OpenStdin ?? false,
    stdinOnce: rec.Config.StdinOnce ?? false,
    init: hc.Init ?? defaults.defaultInit,
    privileged: hc.Privileged ?? false,
    capAdd: hc.CapAdd ?? [],
    capDrop: hc.CapDrop ?? [],
    noNewPrivileges: security.noNewPrivileges,
    seccomp: security.seccomp,
    apparmorProfile: security.apparmorProfile,
    devices: (hc.Devices ?? []).map((d) => ({ pathOnHost: d.PathOnHost, pathInContainer: d.PathInContainer, cgroupPermissions: d.CgroupPermissions })),
    deviceCgroupRules: hc.DeviceCgroupRules ?? [],
    maskedPaths: hc.MaskedPaths,
    readonlyPaths: hc.ReadonlyPaths,
    oomScoreAdj: hc.OomScoreAdj || undefined,
    shmSize: hc.ShmSize || defaults.defaultShmSize,
    mounts,
    network,
    ipcMode: hc.IpcMode === 'host' ? 'host' : hc.IpcMode === 'shareable' ? 'shareable' : 'private',
    pidMode: hc.PidMode === 'host' ? 'host' : 'private',
    resources: resourcesOf(hc),
    ulimits: hc.Ulimits ?? defaults.defaultUlimits,
    sysctls: hc.Sysctls ?? {},
    annotations: { 'io.pier.container.name': rec.Name },
    userns: rec.Userns?.map,
  };
}

/** The cgroup limits a HostConfig asks for (zero: no limit; a negative pids limit: unlimited). */
export function resourcesOf(hc: HostConfig): Resources {
  const throttle = (list: Array<{ Path: string; Rate: number }> | undefined): ThrottleDevice[] | undefined =>
    list && list.length > 0 ? list.map((d) => ({ path: d.Path, rate: d.Rate })) : undefined;
  return {
    memory: hc.Memory || undefined,
    memorySwap: hc.MemorySwap || undefined,
    memoryReservation: hc.MemoryReservation || undefined,
    memorySwappiness: hc.MemorySwappiness !== undefined && hc.MemorySwappiness >= 0 ? hc.MemorySwappiness : undefined,
    oomKillDisable: hc.OomKillDisable || undefined,
    nanoCpus: hc.NanoCpus || undefined,
    cpuShares: hc.CpuShares || undefined,
    cpuPeriod: hc.CpuPeriod || undefined,
    cpuQuota: hc.CpuQuota || undefined,
    cpuRealtimePeriod: hc.CpuRealtimePeriod || undefined,
    cpuRealtimeRuntime: hc.CpuRealtimeRuntime || undefined,
    cpusetCpus: hc.CpusetCpus || undefined,
    cpusetMems: hc.CpusetMems || undefined,
    pidsLimit: hc.PidsLimit === undefined || hc.PidsLimit === 0 ? undefined : hc.PidsLimit > 0 ? hc.PidsLimit : -1,
    blkioWeight: hc.BlkioWeight || undefined,
    blkioDeviceReadBps: throttle(hc.BlkioDeviceReadBps),
    blkioDeviceWriteBps: throttle(hc.BlkioDeviceWriteBps),
    blkioDeviceReadIOps: throttle(hc.BlkioDeviceReadIOps),
    blkioDeviceWriteIOps: throttle(hc.BlkioDeviceWriteIOps),
  };
}

/** HostConfig.ConsoleSize is [height, width]; [0, 0] means unknown. */
function consoleSize(size: number[] | undefined): ContainerSpec['consoleSize'] {
  const [height = 0, width = 0] = size ?? [];
  return height > 0 && width > 0 ? { height, width } : undefined;
}

