import type { ContainerSpec, Mount, Resources } from '../runtime/runtime.js';
import type { ContainerRecord, HostConfig } from './types.js';

/** The daemon's defaults that a container's spec falls back on. */
export interface SpecDefaults {
  /** Run an init (tini) as PID 1 unless the container says otherwise. pier's default: true. */
  defaultInit: boolean;
  defaultUlimits: Array<{ Name: string; Soft: number; Hard: number }>;
  defaultShmSize: number;
}

/**
 * The runtime's spec of a container's process, from its record: what the runtime needs and
 * nothing of pier's policy. `mounts` are the container's mounts, resolved by the caller.
 */
export function containerSpecOf(rec: ContainerRecord, network: ContainerSpec['network'], mounts: Mount[], defaults: SpecDefaults): ContainerSpec {
  const hc = rec.HostConfig;
  const securityOpt = hc.SecurityOpt ?? [];
  return {
    id: rec.Id,
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
    noNewPrivileges: securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
    seccomp: securityOpt.some((o) => /^seccomp[:=]unconfined$/.test(o)) ? 'unconfined' : 'default',
    shmSize: hc.ShmSize || defaults.defaultShmSize,
    mounts,
    network,
    ipcMode: hc.IpcMode === 'host' ? 'host' : hc.IpcMode === 'shareable' ? 'shareable' : 'private',
    pidMode: hc.PidMode === 'host' ? 'host' : 'private',
    resources: resourcesOf(hc),
    ulimits: hc.Ulimits ?? defaults.defaultUlimits,
    sysctls: hc.Sysctls ?? {},
    annotations: { 'io.pier.container.name': rec.Name },
  };
}

/** The cgroup limits a HostConfig asks for (zero and negative values: no limit). */
export function resourcesOf(hc: HostConfig): Resources {
  return {
    memory: hc.Memory || undefined,
    memorySwap: hc.MemorySwap || undefined,
    memoryReservation: hc.MemoryReservation || undefined,
    nanoCpus: hc.NanoCpus || undefined,
    cpuShares: hc.CpuShares || undefined,
    cpuPeriod: hc.CpuPeriod || undefined,
    cpuQuota: hc.CpuQuota || undefined,
    cpusetCpus: hc.CpusetCpus || undefined,
    pidsLimit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
    blkioWeight: hc.BlkioWeight || undefined,
  };
}

/** HostConfig.ConsoleSize is [height, width]; [0, 0] means unknown. */
function consoleSize(size: number[] | undefined): ContainerSpec['consoleSize'] {
  const [height = 0, width = 0] = size ?? [];
  return height > 0 && width > 0 ? { height, width } : undefined;
}

