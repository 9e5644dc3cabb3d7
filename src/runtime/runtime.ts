import type { Readable, Writable } from 'node:stream';
import { EngineError } from '../errors.js';
import type { IdMap } from '../util/idmap.js';
import type { CgroupStats } from './cgroups.js';

/**
 * The runtime runs one container: it writes the OCI bundle (`config.json`) under
 * `<exec-root>/containers/<id>/`, launches conmon, which runs the OCI runtime's `create`
 * (crun, or runc where crun cannot run), then `start`s it on request. conmon keeps the log
 * (k8s-file format) and writes the exit code, so a container keeps running and logging while
 * pierd is down, and pierd finds it again by `state()`.
 *
 * The runtime holds no policy: whether an operation is legal (start a running container,
 * remove one that runs) is decided by containers/, its caller.
 */

export interface Mount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** What the networks part hands the runtime for one container. */
export interface NetworkAttachment {
  /** `new`: a private namespace the runtime creates (loopback only); `host`: the host's; `path`: join this one. */
  netns: { kind: 'new' } | { kind: 'host' } | { kind: 'path'; path: string };
  /** Files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname (absent: not mounted). */
  hostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
}

/** Everything the runtime needs to build `config.json` for one container. */
export interface ContainerSpec {
  id: string;
  /** The OCI runtime to run it with (one of `runtimes()`); absent: the default, `name`. */
  runtime?: 'crun' | 'runc';
  /** The mounted root filesystem. */
  rootfs: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  /** `user`, `user:group`, `uid`, `uid:gid`: resolved against the rootfs's /etc/passwd and /etc/group. */
  user: string;
  groupAdd: string[];
  hostname: string;
  domainname?: string;
  tty: boolean;
  /** The TTY's size at start (the client's terminal), before any resize. */
  consoleSize?: { height: number; width: number };
  openStdin: boolean;
  /** Close the container's stdin when the first attached client ends its input (`docker run -i`); otherwise keep it open (conmon --leave-stdin-open). */
  stdinOnce: boolean;
  /** Run /usr/bin/tini-static as PID 1 (pier's default: zombies are reaped). */
  init: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  /**
   * Seccomp: `default` (Docker's default profile, resolved against the container's
   * capabilities), `unconfined`, or a profile in Docker's format (its JSON text).
   */
  seccomp: 'default' | 'unconfined' | { profile: string };
  /** An AppArmor profile to run under (where the host has AppArmor); absent: none. */
  apparmorProfile?: string;
  /** Host devices made in the container (`--device`), and device cgroup rules (`c 1:3 rwm`). */
  devices: DeviceRequest[];
  deviceCgroupRules: string[];
  /** Masked and read-only paths instead of Docker's defaults (`--security-opt systempaths=unconfined` sends empty lists). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** The OOM killer's score adjustment of the container's processes (-1000..1000). */
  oomScoreAdj?: number;
  shmSize: number;
  mounts: Mount[];
  network: NetworkAttachment;
  /** IPC and PID namespace modes: private (default), host. */
  ipcMode: 'private' | 'host' | 'shareable';
  pidMode: 'private' | 'host';
  resources: Resources;
  /** Requested rlimits; clamped to the daemon's own hard limits. */
  ulimits: Array<{ Name: string; Soft: number; Hard: number }>;
  sysctls: Record<string, string>;
  /** Annotations recorded in config.json. */
  annotations?: Record<string, string>;
  /**
   * A user namespace of its own with this mapping (container root is `userns.uid` on the
   * host); absent: the host's. The rootfs, already mounted, shows the image's files owned
   * inside the range (the caller mounted it idmapped), and every folder on the way to it is
   * searchable by the mapped root.
   */
  userns?: IdMap;
}

/** A host device to make in the container, as Docker's `DeviceMapping`. */
export interface DeviceRequest {
  pathOnHost: string;
  /** Empty: the same path as on the host. */
  pathInContainer: string;
  /** `r`, `w`, `m` in any combination. */
  cgroupPermissions: string;
}

/** A block device limit by the device's path on the host (`--device-read-bps /dev/sda:1mb`). */
export interface ThrottleDevice {
  path: string;
  rate: number;
}

export interface Resources {
  memory?: number; // bytes
  /** Memory plus swap (-1: unlimited swap). */
  memorySwap?: number;
  memoryReservation?: number;
  /** 0..100 (cgroup v1 only). */
  memorySwappiness?: number;
  oomKillDisable?: boolean;
  nanoCpus?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  /** cgroup v1's real-time scheduling budget (microseconds), as `--cpu-rt-period/-runtime`. */
  cpuRealtimePeriod?: number;
  cpuRealtimeRuntime?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Undefined: no limit set; -1: unlimited (an update lifting a limit). */
  pidsLimit?: number;
  blkioWeight?: number;
  blkioDeviceReadBps?: ThrottleDevice[];
  blkioDeviceWriteBps?: ThrottleDevice[];
  blkioDeviceReadIOps?: ThrottleDevice[];
  blkioDeviceWriteIOps?: ThrottleDevice[];
}

/**
 * A process the runtime could not start because of its command: not found (Docker's exit code
 * 127) or not executable (126). Kind `invalid`: the request named a command that cannot run.
 */
export class CommandError extends EngineError {
  constructor(
    readonly reason: 'notFound' | 'notExecutable',
    message: string,
  ) {
    super('invalid', message);
    this.name = 'CommandError';
  }

  /** The exit code Docker gives a container whose command cannot run. */
  get exitCode(): 126 | 127 {
    return this.reason === 'notFound' ? 127 : 126;
  }
}

export interface ExitStatus {
  exitCode: number;
  /** When conmon wrote the exit file. */
  finishedAt: Date;
  oomKilled: boolean;
}

export interface CreatedContainer {
  /** PID of the container's first process on the host. */
  pid: number;
  conmonPid: number;
}

export interface RuntimeState {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'unknown';
  pid: number;
}

/**
 * Connection to conmon's attach socket. Output packets arrive on stdout/stderr (with a TTY,
 * everything arrives on stdout); ending `stdin` closes the container's stdin (unless the
 * container keeps it open: `stdinOnce` false). stdin reaches the container only when it was
 * created with `openStdin`. stdout and stderr end when the container exits (after its last
 * output) or on `close()`; from then on, writes to stdin are discarded. A reader that does not
 * read holds conmon back (and with it the container's output), as a full pipe would.
 */
export interface AttachStreams {
  stdout: Readable;
  stderr: Readable;
  stdin: Writable;
  close(): void;
}

/** A process to run in a running container. */
export interface ExecProcess {
  args: string[];
  /** The whole environment (Docker: the container's env, then the exec's); PATH and HOME get defaults. */
  env: string[];
  /** Empty: the container's working directory. */
  cwd: string;
  /** Resolved in the container's rootfs like the container's user; empty: the container's user. */
  user: string;
  tty: boolean;
  /** Connect stdin (conmon -i); ending it closes the process's stdin. */
  openStdin: boolean;
  /** Connect the streams (`AttachStreams`); false: detached, output discarded. */
  attach: boolean;
  /** Every capability instead of the container's. */
  privileged?: boolean;
}

export interface ExecSession {
  /** PID of the process on the host. */
  pid: number;
  /** Present when the process was started with `attach`. */
  streams?: AttachStreams;
  /**
   * Settles once, with the exit code (128+signal when killed). Never rejects: when conmon fails
   * to report, `exitCode` is -1 and `error` says why.
   */
  exited: Promise<{ exitCode: number; error?: string }>;
  /** Resize the process's TTY. */
  resize(height: number, width: number): Promise<void>;
}

export interface ContainerRuntime {
  /** The default OCI runtime: the one of a container whose spec names none (for `info` and the log). */
  readonly name: 'crun' | 'runc';
  readonly path: string;
  /** The runtimes a container's spec can name, the default first (absent: the default alone). */
  runtimes?(): Array<{ name: 'crun' | 'runc'; path: string }>;

  /**
   * Write the bundle and run conmon → `<runtime> create`. Resolves once the container exists
   * (created, not started) and its attach socket is ready; rejects with the runtime's own
   * message when create fails: kind `invalid` for a command that cannot run (runc 1.1 looks the
   * command up at create: `exec: "x": executable file not found in $PATH`), a bad user
   * (`unable to find user x: no matching entries in passwd file`), an unknown capability or
   * ulimit; `internal` otherwise. A leftover of an exited container with the same id is
   * removed first; a running one is a `conflict`. The output goes to `logPath` in conmon's
   * k8s-file format (none is kept when it is null); with `logSizeMax`, conmon goes on in a
   * new file before one would grow past that many bytes (opening `<logPath>.tmp` and renaming
   * it over `logPath`).
   */
  create(spec: ContainerSpec, logPath: string | null, opts?: { logSizeMax?: number }): Promise<CreatedContainer>;
  /**
   * Connect to the attach socket. Call after create and before start to lose no output: conmon
   * sends output only to the clients connected when it reads it (the log gets everything).
   * Rejects with `conflict` when the container is not running (no socket).
   */
  attach(id: string): Promise<AttachStreams>;
  start(id: string): Promise<void>;
  kill(id: string, signal: string | number): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** The runtime's view (runtime `state`), for reconciliation after pierd restarts. */
  state(id: string): Promise<RuntimeState>;
  /**
   * The exit written by conmon, if the container has exited: its code (128+signal for a
   * process killed by a signal), when, and whether the kernel OOM-killed in the container.
   */
  exitStatus(id: string): Promise<ExitStatus | undefined>;
  /**
   * Call `onExit` once when the container exits (conmon's exit file appears). The returned
   * function cancels the watch. Safe to call for a container that already exited. Call after
   * create: the watch ends without a call when the container's state is deleted first.
   */
  watchExit(id: string, onExit: (status: ExitStatus) => void): () => void;
  /** Resize the TTY through conmon's control fifo. */
  resize(id: string, height: number, width: number): Promise<void>;
  /**
   * Delete the runtime's container and the bundle (force: SIGKILL it first and wait for its
   * exit). Idempotent. Without force, a running container is a `conflict`. Once it resolves
   * the container is no longer the runtime's to run; the files and cgroups of one that had
   * exited may still be going (a create of the same ID waits for them; `drain` too).
   */
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Settles when what `delete` left to finish in the background is done (daemon shutdown). */
  drain(): Promise<void>;
  /**
   * Delete every exited container of the runtime whose ID is not in `keep`: what a removal
   * left when the daemon died before its background cleanup ended. Running ones stay.
   */
  removeLeftovers(keep: ReadonlySet<string>): Promise<void>;
  /**
   * The container's counters from its cgroup (`docker stats`); fields are undefined once the
   * cgroup is gone.
   */
  stats?(id: string): Promise<CgroupStats>;
  /** The PIDs (host view) of the container's processes, from its cgroup (`docker top`). */
  processes?(id: string): number[];
  /**
   * Change the resources of a running container's cgroups (`docker update`); conflict when it
   * does not run. Fields left undefined keep their value.
   */
  update?(id: string, resources: Resources): Promise<void>;
  /**
   * Run a process in a running container (`docker exec`) under its own conmon. With `attach`,
   * the streams are connected before the process starts, so no output is lost. Rejects like
   * `create` when the process cannot start (`invalid` for a command that cannot run), with
   * `conflict` when the container is not running.
   */
  exec?(id: string, process: ExecProcess): Promise<ExecSession>;
}

/**
 * A spec with a plain process's defaults (no TTY, no init, Docker's default capabilities and
 * seccomp, a private network namespace with loopback only, no limits), completed by `fields`.
 * For callers that build a spec by hand: the builder's RUN steps, tests.
 */
export function containerSpec(fields: Pick<ContainerSpec, 'id' | 'rootfs' | 'args'> & Partial<ContainerSpec>): ContainerSpec {
  return {
    readonlyRootfs: false,
    env: [],
    cwd: '/',
    user: '',
    groupAdd: [],
    hostname: fields.id.slice(0, 12),
    tty: false,
    openStdin: false,
    stdinOnce: false,
    init: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    noNewPrivileges: false,
    seccomp: 'default',
    devices: [],
    deviceCgroupRules: [],
    shmSize: 64 * 1024 * 1024,
    mounts: [],
    network: { netns: { kind: 'new' } },
    ipcMode: 'private',
    pidMode: 'private',
    resources: {},
    ulimits: [],
    sysctls: {},
    ...fields,
  };
}
