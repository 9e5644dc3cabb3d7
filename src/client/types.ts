/**
 * Wire types of the Docker Engine API v1.51 that the client and the CLI read and write
 * (a subset of moby's `api/docs/v1.51.yaml`). Fields the daemon may omit are optional;
 * fields it sends as `null` are typed so.
 */

/**
 * The shapes that are Docker's exactly come from the generated wire types (src/wire/engine.ts,
 * from the swagger of API v1.51 the integration tests check pierd's answers against); the rest
 * below are hand-kept subsets the client and the CLI read, to move there as the CLI allows
 * (ImageSummary, Port, RestartPolicy and SystemVersion differ from Docker's in src/cli's use).
 */
export type { ContainerCreateResponse, ContainerState, ContainerWaitResponse, HealthConfig, MountPoint, PortBinding } from '../wire/engine.js';
import type { ContainerState, HealthConfig, MountPoint, PortBinding } from '../wire/engine.js';

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Port[] | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string> | null;
  State: string;
  Status: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  Mounts?: MountPoint[] | null;
}

/** `Config` of a container (and of an image, where the same shape is used). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  Image?: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
}

export interface RestartPolicy {
  Name: string;
  MaximumRetryCount?: number;
}

export interface HostConfig {
  Binds?: string[] | null;
  NetworkMode?: string;
  PortBindings?: Record<string, PortBinding[]>;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  CpuShares?: number;
  Memory?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  NanoCpus?: number;
  PidsLimit?: number | null;
  Init?: boolean | null;
  ConsoleSize?: [number, number];
  [key: string]: unknown;
}

export interface EndpointSettings {
  Aliases?: string[] | null;
  [key: string]: unknown;
}

export interface NetworkingConfig {
  EndpointsConfig?: Record<string, EndpointSettings>;
}

/** Body of `POST /containers/create`. */
export interface ContainerCreateBody extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: NetworkingConfig;
}

/** `GET /containers/{id}/json` (only the fields pier's CLI reads are typed). */
export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  State: ContainerState;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  [key: string]: unknown;
}

/** `X-Docker-Container-Path-Stat` of `HEAD|GET /containers/{id}/archive` (base64 of this JSON). */
export interface ContainerPathStat {
  name: string;
  size: number;
  /** Go's os.FileMode: permission bits, and type bits above them (dir 1<<31, symlink 1<<27). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** One entry of `GET /containers/{id}/changes`: Kind 0 changed, 1 added, 2 deleted. */
export interface ContainerChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

export interface ContainerPruneResponse {
  ContainersDeleted: string[] | null;
  SpaceReclaimed: number;
}

/** Body of `POST /containers/{id}/exec`. */
export interface ExecCreateBody {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ConsoleSize?: [number, number] | null;
  Detach?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[];
  Cmd: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

/** `GET /exec/{id}/json`. */
export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ContainerID: string;
  Pid?: number;
  [key: string]: unknown;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created?: string;
  Size: number;
  Config?: ContainerConfig | null;
  [key: string]: unknown;
}

export interface ImageHistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ImageDeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface ImagePruneResponse {
  ImagesDeleted: ImageDeleteItem[] | null;
  SpaceReclaimed: number;
}

export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> | null };
  scope?: string;
  time?: number;
  timeNano?: number;
  status?: string;
  id?: string;
  from?: string;
}

export interface VersionComponent {
  Name: string;
  Version: string;
  Details?: Record<string, string> | null;
}

export interface SystemVersion {
  Platform?: { Name: string };
  Components?: VersionComponent[] | null;
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os: string;
  Arch: string;
  KernelVersion?: string;
  Experimental?: boolean;
  BuildTime?: string;
}

/** `GET /info`: the fields `pier info` prints; anything else passes through to `--format`. */
export interface SystemInfo {
  ID?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
  Images?: number;
  Driver?: string;
  DriverStatus?: [string, string][] | null;
  Plugins?: { Volume?: string[] | null; Network?: string[] | null; Authorization?: string[] | null; Log?: string[] | null };
  LoggingDriver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  KernelVersion?: string;
  OperatingSystem?: string;
  OSType?: string;
  Architecture?: string;
  NCPU?: number;
  MemTotal?: number;
  DockerRootDir?: string;
  Name?: string;
  Labels?: string[] | null;
  Debug?: boolean;
  ExperimentalBuild?: boolean;
  ServerVersion?: string;
  Runtimes?: Record<string, unknown> | null;
  DefaultRuntime?: string;
  Swarm?: { LocalNodeState?: string };
  LiveRestoreEnabled?: boolean;
  InitBinary?: string;
  SecurityOptions?: string[] | null;
  RegistryConfig?: { InsecureRegistryCIDRs?: string[] | null; Mirrors?: string[] | null } | null;
  HttpProxy?: string;
  HttpsProxy?: string;
  NoProxy?: string;
  Warnings?: string[] | null;
  [key: string]: unknown;
}

/** One message of a JSON progress stream (pull, push, load, import, build). */
export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { message: string; code?: number };
  from?: string;
  time?: number;
  timeNano?: number;
}

/** One network of `GET /networks` and `GET /networks/{id}` (the fields pier's CLI reads). */
export interface NetworkSummary {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
  [key: string]: unknown;
}

/** Body of `POST /networks/create`. */
export interface NetworkCreateBody {
  Name: string;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network: string };
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }>; Options?: Record<string, string> };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

export interface NetworkCreateResponse {
  Id: string;
  Warning?: string;
}

/** An endpoint's settings for `POST /networks/{id}/connect`. */
export interface NetworkEndpointConfig {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] };
  Aliases?: string[];
  Links?: string[];
  DriverOpts?: Record<string, string>;
}

/** `GET /containers/{id}/stats` (the fields the CLI reads). */
export interface ContainerStats {
  name: string;
  id: string;
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats: { current?: number };
  blkio_stats: { io_service_bytes_recursive: Array<{ op: string; value: number }> | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** `GET /system/df`. */
export interface SystemDf {
  LayersSize?: number;
  Images?: Array<{ Id: string; RepoTags: string[] | null; Created: number; Size: number; SharedSize: number; Containers: number }>;
  Containers?: Array<{ Id: string; Names: string[]; Image: string; Command: string; Created: number; SizeRw?: number; State: string; Status: string; Mounts?: Array<{ Driver?: string }> }>;
  Volumes?: Array<{ Name: string; UsageData?: { Size: number; RefCount: number } | null }>;
  BuildCache?: Array<{ ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean; CreatedAt: string; LastUsedAt: string | null; UsageCount: number }>;
}
