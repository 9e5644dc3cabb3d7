import { z } from 'zod';
import type { NetworkSettings } from '../networks/networks.js';

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

export const HostConfigSchema = z.object({
  Binds: nullish(StrList),
  NetworkMode: nullish(z.string()),
  PortBindings: nullish(z.record(z.string(), z.array(z.object({ HostIp: z.string().optional(), HostPort: z.string().optional() })).nullable())),
  RestartPolicy: nullish(RestartPolicySchema),
  AutoRemove: nullish(z.boolean()),
  VolumeDriver: nullish(z.string()),
  VolumesFrom: nullish(StrList),
  Mounts: nullish(z.array(z.object({ Type: z.string().optional(), Source: z.string().optional(), Target: z.string(), ReadOnly: z.boolean().optional() }))),
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
});

export const CreateBodySchema = ContainerConfigSchema.extend({
  HostConfig: nullish(HostConfigSchema),
  NetworkingConfig: nullish(z.object({ EndpointsConfig: nullish(z.record(z.string(), z.unknown())) })),
  Platform: nullish(z.string()),
});

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
   * pier: disconnected from every network while stopped (docker-compose does this before it
   * connects a new container again): it keeps its NetworkMode but joins no network until one
   * is connected again.
   */
  NetworkDetached?: boolean;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
