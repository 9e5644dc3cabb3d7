/**
 * Wire types of the Docker Engine API v1.51 that the client and the CLI read and write. The
 * answers' shapes are Docker's own, generated from the swagger (src/wire/engine.ts, the same
 * definitions the integration tests check pierd's answers against): a field Docker may omit is
 * optional, one it may send as `null` is typed so, and readers handle both. Request bodies,
 * which the generated types do not cover, are derived from the answers' shapes where Docker's
 * are the same, and kept by hand only where the swagger has no definition of them.
 */
import type {
  BuildInfo,
  ContainerConfig,
  ContainerNetworkStats,
  ContainerStatsResponse,
  EndpointSettings,
  EventMessage as WireEventMessage,
  HostConfig,
  Mount,
  Network,
  OperationResponses,
  SystemVersion as WireSystemVersion,
} from '../wire/engine.js';

export type {
  BuildInfo,
  ContainerConfig,
  ContainerCreateResponse,
  ContainerInspectResponse as ContainerInspect,
  ContainerState,
  ContainerSummary,
  ContainerWaitResponse,
  EndpointSettings,
  FilesystemChange as ContainerChange,
  HealthConfig,
  HostConfig,
  ImageDeleteResponseItem as ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  MountPoint,
  Network as NetworkSummary,
  NetworkCreateResponse,
  Port,
  PortBinding,
  RestartPolicy,
  SystemInfo,
} from '../wire/engine.js';

/** An endpoint's settings in a request: any of the answer's fields (`Aliases`, `IPAMConfig`...), none required. */
export type EndpointConfig = Partial<EndpointSettings>;

/** `NetworkingConfig` of `POST /containers/create`: the answer's shape, its endpoints' fields optional. */
export interface NetworkingConfig {
  EndpointsConfig?: Record<string, EndpointConfig> | null;
}

/**
 * One entry of HostConfig.Mounts in a request: Docker's, with the type and the propagation as
 * the user wrote them (the daemon refuses a wrong one in its words, as Docker's does).
 */
export type MountBody = Omit<Mount, 'Type' | 'BindOptions'> & {
  Type?: string;
  BindOptions?: (Omit<NonNullable<Mount['BindOptions']>, 'Propagation'> & { Propagation?: string }) | null;
};

/**
 * HostConfig of `POST /containers/create`: Docker's, with the restart policy, mounts and log
 * driver as the user wrote them (the daemon judges them, as Docker's does), and KernelMemory,
 * which API 1.51 dropped and the daemon refuses with a reason rather than ignore.
 */
export type HostConfigBody = Omit<HostConfig, 'RestartPolicy' | 'Mounts' | 'LogConfig'> & {
  RestartPolicy?: { Name: string; MaximumRetryCount?: number } | null;
  Mounts?: MountBody[] | null;
  LogConfig?: { Type?: string; Config?: Record<string, string> | null } | null;
  KernelMemory?: number;
};

/** Body of `POST /containers/create`: a container's Config with its HostConfig and networks. */
export type ContainerCreateBody = ContainerConfig & {
  HostConfig?: HostConfigBody;
  NetworkingConfig?: NetworkingConfig;
};

/** `X-Docker-Container-Path-Stat` of `HEAD|GET /containers/{id}/archive` (base64 of this JSON; a header the swagger does not define). */
export interface ContainerPathStat {
  name: string;
  size: number;
  /** Go's os.FileMode: permission bits, and type bits above them (dir 1<<31, symlink 1<<27). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** `GET /containers/{id}/stats`: Docker's, with the per-interface values the swagger leaves untyped given their type. */
export type ContainerStats = Omit<ContainerStatsResponse, 'networks'> & { networks?: Record<string, ContainerNetworkStats> | null };

export type ContainerPruneResponse = OperationResponses['ContainerPrune'];

/** Body of `POST /containers/{id}/exec` (the swagger defines it inline, so it is not generated). */
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
export type ExecInspect = OperationResponses['ExecInspect'];

export type ImageHistoryItem = OperationResponses['ImageHistory'][number];

export type ImagePruneResponse = OperationResponses['ImagePrune'];

export type VolumePruneResponse = OperationResponses['VolumePrune'];

export type BuildPruneResponse = OperationResponses['BuildPrune'];

/**
 * A component of `GET /version` (the engine, containerd, runc...): Docker's, with the values of
 * Details typed as its Go type has them (ComponentVersion.Details, map[string]string), which
 * the swagger leaves untyped.
 */
export type VersionComponent = Omit<NonNullable<WireSystemVersion['Components']>[number], 'Details'> & { Details?: Record<string, string> | null };

/** `GET /version`: Docker's, its components' Details typed. */
export type SystemVersion = Omit<WireSystemVersion, 'Components'> & { Components?: VersionComponent[] | null };

/**
 * One message of a JSON progress stream (pull, push, load, import, build): any of the
 * generated BuildInfo / CreateImageInfo / PushImageInfo, with the fields of moby's
 * jsonmessage.JSONMessage the swagger leaves out (`from`, `time`, `timeNano`) and the loose
 * `aux` the build and push streams carry (a digest, a build-kit trace, not only an image ID).
 */
export type JsonMessage = Omit<BuildInfo, 'aux'> & {
  aux?: unknown;
  from?: string;
  time?: number;
  timeNano?: number;
};

/**
 * Body of `POST /networks/create`: Docker's request is the answer's configuration fields
 * (the swagger defines it inline, so it is not generated), all but the name optional.
 */
export type NetworkCreateBody = Pick<Network, 'Name'> &
  Partial<Pick<Network, 'Driver' | 'Scope' | 'Internal' | 'Attachable' | 'Ingress' | 'ConfigOnly' | 'ConfigFrom' | 'EnableIPv4' | 'EnableIPv6' | 'IPAM' | 'Options' | 'Labels'>>;

/** An endpoint's settings for `POST /networks/{id}/connect`. */
export type NetworkEndpointConfig = Pick<EndpointConfig, 'IPAMConfig' | 'Aliases' | 'Links' | 'DriverOpts'>;

/**
 * One message of `GET /events`: Docker's, with the fields of API < 1.52 the swagger no longer
 * lists but Docker 28 still sends (`status`, `id`, `from`; `docker events` templates read them).
 */
export type EventMessage = WireEventMessage & { status?: string; id?: string; from?: string };

/** `GET /system/df`. */
export type SystemDf = OperationResponses['SystemDataUsage'];
