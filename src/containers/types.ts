import { z } from 'zod';
import type { NetworkSettings } from '../networks/networks.js';
import type { IdMap } from '../util/idmap.js';

/**
 * The container model. Wire shapes follow the Docker API (Config, HostConfig,
 * NetworkingConfig); the record on disk keeps them as received (after defaults were applied
 * from the image), plus pier's own state.
 */

const StrList = z.array(z.string());
const nullish = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

export const HealthConfigSchema = z.object({
  Test: nullish(StrList),
  Interval: nullish(z.number()),
  Timeout: nullish(z.number()),
  Retries: nullish(z.number()),
  StartPeriod: nullish(z.number()),
  StartInterval: nullish(z.number()),
});

/** `Config` of a create request (container-level settings that an image can also carry). */
export const ContainerConfigSchema = z.object({
  Hostname: nullish(z.string()),
  Domainname: nullish(z.string()),
  User: nullish(z.string()),
  AttachStdin: nullish(z.boolean()),
  AttachStdout: nullish(z.boolean()),
  AttachStderr: nullish(z.boolean()),
  ExposedPorts: nullish(z.record(z.string(), z.unknown())),
  Tty: nullish(z.boolean()),
  OpenStdin: nullish(z.boolean()),
  StdinOnce: nullish(z.boolean()),
  Env: nullish(StrList),
  Cmd: nullish(z.union([StrList, z.string()])),
  Healthcheck: nullish(HealthConfigSchema),
  ArgsEscaped: nullish(z.boolean()),
  Image: nullish(z.string()),
  Volumes: nullish(z.record(z.string(), z.unknown())),
  WorkingDir: nullish(z.string()),
  Entrypoint: nullish(z.union([StrList, z.string()])),
  NetworkDisabled: nullish(z.boolean()),
  MacAddress: nullish(z.string()),
  OnBuild: nullish(StrList),
  Labels: nullish(z.record(z.string(), z.string())),
  StopSignal: nullish(z.string()),
  StopTimeout: nullish(z.number().int()),
  Shell: nullish(StrList),
});

const UlimitSchema = z.object({ Name: z.string(), Soft: z.number(), Hard: z.number() });
const ThrottleDeviceSchema = z.object({ Path: z.string(), Rate: z.number().int().nonnegative() });
const WeightDeviceSchema = z.object({ Path: z.string(), Weight: z.number().int().nonnegative() });
const DeviceMappingSchema = z.object({ PathOnHost: z.string(), PathInContainer: z.string().optional().default(''), CgroupPermissions: z.string().optional().default('') });

export const RestartPolicySchema = z.object({
  Name: z.enum(['', 'no', 'always', 'unless-stopped', 'on-failure']).optional().default(''),
  MaximumRetryCount: z.number().int().nonnegative().optional().default(0),
});

/** One entry of HostConfig.Mounts (`--mount`), as Docker's swagger has it. */
export const MountSchema = z.object({
  Target: nullish(z.string()),
  Source: nullish(z.string()),
  Type: nullish(z.string()),
  ReadOnly: nullish(z.boolean()),
  Consistency: nullish(z.string()),
  BindOptions: nullish(
    z.object({
      Propagation: nullish(z.string()),
      NonRecursive: nullish(z.boolean()),
      CreateMountpoint: nullish(z.boolean()),
      ReadOnlyNonRecursive: nullish(z.boolean()),
      ReadOnlyForceRecursive: nullish(z.boolean()),
    }),
  ),
  VolumeOptions: nullish(
    z.object({
      NoCopy: nullish(z.boolean()),
      Labels: nullish(z.record(z.string(), z.string())),
      DriverConfig: nullish(z.object({ Name: nullish(z.string()), Options: nullish(z.record(z.string(), z.string())) })),
      Subpath: nullish(z.string()),
    }),
  ),
  ImageOptions: nullish(z.object({ Subpath: nullish(z.string()) })),
  TmpfsOptions: nullish(
    z.object({
      SizeBytes: nullish(z.number().int()),
      Mode: nullish(z.number().int()),
      Options: nullish(z.array(z.array(z.string()))),
    }),
  ),
});

export const HostConfigSchema = z.object({
  Binds: nullish(StrList),
  NetworkMode: nullish(z.string()),
  PortBindings: nullish(z.record(z.string(), z.array(z.object({ HostIp: z.string().optional(), HostPort: z.string().optional() })).nullable())),
  RestartPolicy: nullish(RestartPolicySchema),
  AutoRemove: nullish(z.boolean()),
  VolumeDriver: nullish(z.string()),
  VolumesFrom: nullish(StrList),
  Mounts: nullish(z.array(MountSchema)),
  CapAdd: nullish(StrList),
  CapDrop: nullish(StrList),
  Dns: nullish(StrList),
  DnsOptions: nullish(StrList),
  DnsSearch: nullish(StrList),
  ExtraHosts: nullish(StrList),
  GroupAdd: nullish(StrList),
  IpcMode: nullish(z.string()),
  PidMode: nullish(z.string()),
  Privileged: nullish(z.boolean()),
  PublishAllPorts: nullish(z.boolean()),
  ReadonlyRootfs: nullish(z.boolean()),
  SecurityOpt: nullish(StrList),
  Tmpfs: nullish(z.record(z.string(), z.string())),
  UTSMode: nullish(z.string()),
  Isolation: nullish(z.string()),
  UsernsMode: nullish(z.string()),
  ShmSize: nullish(z.number().int().nonnegative()),
  Sysctls: nullish(z.record(z.string(), z.string())),
  Init: nullish(z.boolean()),
  Memory: nullish(z.number().int().nonnegative()),
  MemorySwap: nullish(z.number().int()),
  MemoryReservation: nullish(z.number().int().nonnegative()),
  NanoCpus: nullish(z.number().int().nonnegative()),
  CpuShares: nullish(z.number().int().nonnegative()),
  CpuPeriod: nullish(z.number().int().nonnegative()),
  CpuQuota: nullish(z.number().int()),
  CpuRealtimePeriod: nullish(z.number().int().nonnegative()),
  CpuRealtimeRuntime: nullish(z.number().int()),
  CpusetCpus: nullish(z.string()),
  PidsLimit: nullish(z.number().int()),
  BlkioWeight: nullish(z.number().int().nonnegative()),
  Ulimits: nullish(z.array(UlimitSchema)),
  // Limits and isolation beyond the basics (src/containers/limits.ts and security.ts check them).
  KernelMemory: nullish(z.number().int()),
  MemorySwappiness: nullish(z.number().int()),
  OomKillDisable: nullish(z.boolean()),
  OomScoreAdj: nullish(z.number().int()),
  CpusetMems: nullish(z.string()),
  BlkioWeightDevice: nullish(z.array(WeightDeviceSchema)),
  BlkioDeviceReadBps: nullish(z.array(ThrottleDeviceSchema)),
  BlkioDeviceWriteBps: nullish(z.array(ThrottleDeviceSchema)),
  BlkioDeviceReadIOps: nullish(z.array(ThrottleDeviceSchema)),
  BlkioDeviceWriteIOps: nullish(z.array(ThrottleDeviceSchema)),
  Devices: nullish(z.array(DeviceMappingSchema)),
  DeviceCgroupRules: nullish(StrList),
  MaskedPaths: nullish(StrList),
  ReadonlyPaths: nullish(StrList),
  LogConfig: nullish(z.object({ Type: z.string().optional(), Config: z.record(z.string(), z.string()).nullish() })),
  ConsoleSize: nullish(z.array(z.number()).length(2)),
  /** `--link name[:alias]`: legacy links on the default bridge (src/containers/links.ts). */
  Links: nullish(StrList),
  /** The OCI runtime of the container (`--runtime`): one of those `info` lists. */
  Runtime: nullish(z.string()),
});

export const CreateBodySchema = ContainerConfigSchema.extend({
  HostConfig: nullish(HostConfigSchema),
  NetworkingConfig: nullish(z.object({ EndpointsConfig: nullish(z.record(z.string(), z.unknown())) })),
  Platform: nullish(z.string()),
  /** Where docker-py's `create_container(runtime=)` puts the runtime (Docker ignores it; see create.ts). */
  Runtime: nullish(z.string()),
});

type DeepPartial<T> = T extends Array<infer U> ? Array<DeepPartial<U>> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type MountConfig = DeepPartial<z.infer<typeof MountSchema>>;
export type ContainerConfig = Partial<z.infer<typeof ContainerConfigSchema>>;
export type HostConfig = Partial<z.infer<typeof HostConfigSchema>>;
export type CreateBody = Partial<z.infer<typeof CreateBodySchema>>;

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string; // RFC3339Nano, or the zero time
  FinishedAt: string;
  OOMKilled: boolean;
  /** pier: the conmon that monitors the running container. */
  ConmonPid: number;
  /** Set by stop/kill from a user, so `unless-stopped` and `always` do not bring it back. */
  StoppedByUser: boolean;
  /** Set with `removing`: the removal takes the anonymous volumes too (`rm -v`), also when pierd's start finishes it. */
  RemoveVolumes?: boolean;
  /** Present while the container has a health check (Docker's `State.Health`). */
  Health?: HealthState;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** Docker's `State.Health`: the status and the last five probes. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthProbe[];
}

export interface HealthProbe {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** The record of one container, stored at `<root>/containers/<id>/container.json`. */
/** One legacy link of a parent container (src/containers/links.ts): the child by ID, and the alias. */
export interface LegacyLink {
  Id: string;
  Alias: string;
}

export interface ContainerRecord {
  Id: string;
  Name: string; // without the leading slash
  Created: string;
  Path: string;
  Args: string[];
  Config: Omit<ContainerConfig, 'Image' | 'Env' | 'Cmd' | 'Entrypoint' | 'Labels'> & { Image: string; Env: string[]; Cmd?: string[]; Entrypoint?: string[]; Labels: Record<string, string> };
  HostConfig: HostConfig;
  NetworkingConfig?: CreateBody['NetworkingConfig'];
  /** The image's ID. */
  Image: string;
  State: ContainerState;
  RestartCount: number;
  /** Paths of files pier keeps for the container. */
  LogPath: string;
  HostnamePath: string;
  HostsPath: string;
  ResolvConfPath: string;
  /** Key of the writable snapshot. */
  SnapshotKey: string;
  /** Where the rootfs is mounted while the container runs. */
  RootfsPath: string;
  Warnings: string[];
  NetworkSettings: NetworkSettings;
  /**
   * The container's mounts (binds, volumes, tmpfs) as resolved at create by the volumes part
   * (src/containers/mounts.ts); absent on records made before mounts were resolved.
   */
  MountPoints?: MountPoint[];
  /**
   * pier: disconnected from every network while stopped (docker-compose does this before it
   * connects a new container again): it keeps its NetworkMode but joins no network until one
   * is connected again.
   */
  NetworkDetached?: boolean;
  /**
   * pier: the container's user namespace, decided at create (src/containers/userns.ts):
   * `auto`, a range of its own; `remap`, the daemon's `userns-remap` range. Absent: the host's.
   */
  Userns?: { mode: 'auto' | 'remap'; map: IdMap };
  /** pier: the legacy links made at create from HostConfig.Links (src/containers/links.ts), less those removed since. */
  LegacyLinks?: LegacyLink[];
}

/**
 * One mount of a container, resolved at create (Docker's MountPoint): what inspect shows as
 * `Mounts`, and what the runtime mounts at start.
 */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** Absolute and clean. */
  Destination: string;
  /** bind: the host path as given (cleaned); volume and tmpfs: empty. */
  Source: string;
  RW: boolean;
  /** Volumes: the volume's name and driver. */
  Name?: string;
  Driver?: string;
  /** The options given with the spec (`ro,z`...); `z` for a named local volume given none, as Docker. */
  Mode: string;
  /** bind: `rprivate` unless given; volume and tmpfs: empty. */
  Propagation: string;
  /** bind: the host path resolved at create (symlinks followed once); the runtime mounts this one. */
  HostPath?: string;
  /** bind from `-v`: a host path gone by start is made again, as Docker does. */
  CreateHostPath?: boolean;
  /** bind: not recursive (`bind-nonrecursive`). */
  NonRecursive?: boolean;
  /** volume: the image's content is copied in at the first start when the volume is empty. */
  CopyData?: boolean;
  /** volume: the folder of the volume that is mounted (`volume-subpath`). */
  Subpath?: string;
  /** volume: made for this container without a name; `rm -v` removes it. */
  Anonymous?: boolean;
  /** tmpfs: its mount options (size, mode, ro...). */
  TmpfsData?: string;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
