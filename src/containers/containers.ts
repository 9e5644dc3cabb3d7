import type { Readable } from 'node:stream';
import type { EndpointConfig } from '../networks/networks.js';
import type { AttachStreams } from '../runtime/runtime.js';
import type { LogEntry } from './logs.js';
import type { ContainerRecord, CreateBody, HealthState, HostConfig } from './types.js';

/**
 * The containers part: what the rest of pier (the API routes, the builder's commit, the
 * daemon) may ask of containers, as narrow roles in the manner of moby's container backend
 * (`router/container/backend.go`). Each role is implemented in a file of its own beside this
 * one; `service.ts` wires them around one store and one lock per container.
 *
 * Every operation takes a reference as Docker does (full ID, name with or without `/`, or a
 * unique ID prefix) and fails with `notFound` ("No such container: x") when nothing matches.
 * Operations on one container are serialised by the part; a caller never holds a record
 * across an await and never writes one.
 */

/** A container as the part shows it: a record the caller reads and never changes. */
export type ContainerView = Readonly<ContainerRecord>;

/** Reading containers: lookups, `docker ps`, `docker inspect`. */
export interface ContainerReader {
  /** The container a reference names (notFound otherwise). */
  get(ref: string): ContainerView;
  /** As `get`, undefined when nothing matches. */
  find(ref: string): ContainerView | undefined;
  /** Every container, newest first. */
  all(): ContainerView[];
  /** `GET /containers/json`: summaries of the containers the query selects (filters checked: `invalid`). */
  list(query: ListQuery): Promise<Array<Record<string, unknown>>>;
  /** `GET /containers/{id}/json` in Docker's shape; `size` adds SizeRw and SizeRootFs. */
  inspect(ref: string, opts?: { size?: boolean }): Promise<Record<string, unknown>>;
}

export interface ListQuery {
  all: boolean;
  /** At most this many, newest first; 0 or less: no limit. */
  limit: number;
  size: boolean;
  filters: Map<string, string[]>;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

export interface StopOptions {
  /** Default: the container's StopSignal, else SIGTERM. */
  signal?: string;
  /** Seconds before SIGKILL; default: the container's StopTimeout, else 10; negative: wait for ever. */
  timeout?: number;
}

/** The state machine: every change of a container's state goes through here. */
export interface ContainerLifecycle {
  /** Resolve the image, prepare the writable layer and network files, save the record (`create` event). */
  create(body: CreateBody, name?: string): Promise<{ Id: string; Warnings: string[] }>;
  /** notModified when running; conflict when paused or being removed. */
  start(ref: string): Promise<void>;
  /** notModified when not running. A user's stop keeps `always` and `unless-stopped` from restarting it. */
  stop(ref: string, opts?: StopOptions): Promise<void>;
  restart(ref: string, opts?: StopOptions): Promise<void>;
  /** conflict when not running; invalid for what is no signal. */
  kill(ref: string, signal?: string): Promise<void>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  /**
   * Settles when the condition is met; the caller sends its headers before awaiting it. A
   * container that is removed while waited for `not-running`/`next-exit` settles too.
   */
  wait(ref: string, condition?: WaitCondition): Promise<WaitResult>;
  /**
   * Remove a container (conflict while it runs, unless `force`, which kills it). Once begun, a
   * removal is finished even across a crash of pierd: its state is saved first, every step
   * accepts that its object is gone already, and pierd's start completes it. `volumes` removes
   * the container's anonymous volumes.
   */
  remove(ref: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
  /**
   * Remove the legacy link `/<parent>/<alias>` (`docker rm --link`); both containers stay.
   * `notFound` when there is no such parent or link; `invalid` for a name without a parent.
   */
  removeLink(name: string): Promise<void>;
  rename(ref: string, name: string): Promise<void>;
  /** `docker update`: resources and the restart policy, applied to a running container's cgroups too. */
  update(ref: string, changes: HostConfig): Promise<{ Warnings: string[] }>;
  /** Remove the stopped containers `keep` does not keep; the space their layers held. */
  prune(keep: (c: ContainerView) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
}

/** A client attached to a container's streams, before or after it starts. */
export interface AttachSink {
  /** Called with the container's streams once it runs (at once if it runs already). */
  connect(streams: AttachStreams): void;
  /** The container will not run (removed, or its start failed). */
  abort(message: string): void;
}

/** `docker attach`, and the TTY of the container's own process. */
export interface ContainerAttach {
  /**
   * Attach a client. A running container connects at once; a created one connects when it
   * starts, before its process runs, so no output is lost.
   */
  attach(ref: string, sink: AttachSink): Promise<void>;
  /** The client went before the container started. */
  detachPending(ref: string, sink: AttachSink): void;
  /** conflict when not running. */
  resize(ref: string, height: number, width: number): Promise<void>;
}

/** What `POST /containers/{id}/exec` asks for. */
export interface ExecConfig {
  Cmd: string[];
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Privileged?: boolean;
  DetachKeys?: string;
  ConsoleSize?: [number, number] | null;
}

/** `GET /exec/{id}/json`, in Docker's shape. */
export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  CanRemove: boolean;
  ContainerID: string;
  DetachKeys: string;
  Pid: number;
}

/** A started exec the API streams: the process's streams, and its end. */
export interface ExecStarted {
  tty: boolean;
  /** Absent for a detached start. */
  streams?: AttachStreams;
  /** Settles with the exit code once the process ended (and its record says so). */
  exited: Promise<number>;
}

/** `docker exec`: processes started in a running container. */
export interface ContainerExec {
  /** conflict when the container does not run; invalid without a command. `exec_create` event. */
  createExec(ref: string, config: ExecConfig): Promise<{ Id: string }>;
  /**
   * Start an exec once (conflict when started already, or when its container no longer runs).
   * The process has a terminal when the exec was created with `Tty`, whatever the start asks.
   * `exec_start` now, `exec_die` with its exit code when it ends.
   */
  startExec(execId: string, opts: { detach: boolean; consoleSize?: [number, number] | null }): Promise<ExecStarted>;
  resizeExec(execId: string, height: number, width: number): Promise<void>;
  inspectExec(execId: string): ExecInspect;
}

/** What `HEAD /containers/{id}/archive` tells of a path (the `X-Docker-Container-Path-Stat` header). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits: permission bits plus type bits (dir 1<<31, symlink 1<<27, ...). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/**
 * The mount points pier makes in a container's writable layer: the empty files its runtime
 * binds the container's hostname, hosts, resolv.conf and init onto. Docker keeps these in an
 * init layer, so neither `docker diff` nor `docker commit` shows them; pier leaves them out
 * of both (snapshots' `DiffOptions.placeholders`).
 */
export const MOUNT_POINTS: readonly string[] = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sbin/docker-init'];

/** `docker cp`, `docker export`, `docker diff`: a container's files. */
export interface ContainerArchive {
  /** notFound ("Could not find the file X in container Y") when the path is not there. */
  statPath(ref: string, path: string): Promise<PathStat>;
  /** A tar of the path (its contents only when it ends in `/.`), and its stat. */
  getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }>;
  /**
   * Unpack a tar into the folder `path` of the container. Every entry stays inside the
   * container's root, whatever its name or the symlinks on its way.
   */
  putArchive(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void>;
  /** The container's whole filesystem as a tar. */
  export(ref: string): Promise<Readable>;
  /** Files added (1), changed (0) and deleted (2) since the container was created. */
  changes(ref: string): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>>;
}

/** `docker top`. */
export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Observing containers: `top`, `stats`, the log. */
export interface ContainerMonitor {
  /** conflict when not running; `psArgs` as `ps` takes them (default `-ef`). */
  top(ref: string, psArgs?: string): Promise<TopResult>;
  /**
   * Docker's stats JSON, one sample now, with `precpu_stats` of the previous sample when one
   * was taken in the last seconds. `precpu`: when there is none, take one first, a tenth of a
   * second before (Docker's `stream=false` waits a second between its two).
   */
  stats(ref: string, opts?: { precpu?: boolean }): Promise<Record<string, unknown>>;
  /** Whether more output may come to the container's log (it runs, or will restart). */
  isLive(ref: string): boolean;
}

/** What `docker logs` asks for. */
export interface LogQuery {
  follow: boolean;
  /** Entries at or after, in ns since the epoch. */
  sinceNs?: bigint;
  /** Entries before, in ns since the epoch. */
  untilNs?: bigint;
  /** The last N entries only. */
  tail?: number;
  stdout: boolean;
  stderr: boolean;
  timestamps: boolean;
  /** Each entry prefixed with the attributes its log options pick (`--log-opt labels=,env=`). */
  details: boolean;
}

/**
 * A container's output as its log driver keeps it (`json-file`, `local`; `none` keeps none).
 * Both calls check before anything is read: notFound, conflict for a container being removed,
 * notImplemented ("configured logging driver does not support reading") for `none`.
 */
export interface ContainerLogs {
  /**
   * `GET /containers/{id}/logs`: Docker's bytes (multiplexed frames, raw bytes for a TTY),
   * read to the end, and with follow on until the container stops or the signal aborts.
   */
  logs(ref: string, query: LogQuery, signal?: AbortSignal): { tty: boolean; chunks: AsyncGenerator<Buffer> };
  /** What attach's `logs=1` replays: every entry so far. */
  history(ref: string): AsyncGenerator<LogEntry>;
}

/** A container's membership of networks: `docker network connect|disconnect`. */
export interface ContainerNetworking {
  /** forbidden for a container in mode host, none or container:x, or one connected already. */
  connect(ref: string, network: string, config: EndpointConfig): Promise<void>;
  /** forbidden when the container is not on the network. */
  disconnect(ref: string, network: string, force: boolean): Promise<void>;
}

/** The daemon's hold on its containers: at start and at shutdown. */
export interface ContainerDaemon {
  /** After pierd starts: watch running containers again, record exits, finish removals, apply restart policies. */
  reconcile(): Promise<void>;
  /** Stop timers and watches; containers keep running. */
  shutdown(): void;
}

/** The whole part, role by role: a caller takes the roles it needs. */
export interface Containers {
  reader: ContainerReader;
  lifecycle: ContainerLifecycle;
  attach: ContainerAttach;
  exec: ContainerExec;
  archive: ContainerArchive;
  monitor: ContainerMonitor;
  logs: ContainerLogs;
  networking: ContainerNetworking;
  daemon: ContainerDaemon;
}

/** What containers need of the image store: an image's ID, run config and top layer. */
export interface ImageLookup {
  resolve(nameOrId: string): Promise<{ id: string; runConfig: ImageRunConfig; topChainId: string | null }>;
  /** The image ID a name refers to, undefined when there is none (the `ancestor` filter). */
  idOf(name: string): Promise<string | undefined>;
}

/** The parts of an image's config a container inherits. */
export interface ImageRunConfig {
  User?: string;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, unknown> | null;
  Volumes?: Record<string, unknown> | null;
  StopSignal?: string;
  Healthcheck?: unknown;
  Shell?: string[] | null;
}

export type { HealthState };
