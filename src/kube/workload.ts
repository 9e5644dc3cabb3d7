/**
 * What pier knows of one thing to run on Kubernetes, in Docker's terms: a compose service
 * (src/compose/kube.ts) or a container (container.ts) described the same way, so that one
 * generator (objects.ts) turns either into Kubernetes objects. Units are the Engine API's:
 * nanoseconds, bytes, CPUs as a fraction.
 *
 * Contract: a `Workload` holds only what its source said; nothing here is Kubernetes yet
 * (names are Docker's, not DNS labels; ports are Docker's bindings).
 */

export interface WorkloadPort {
  /** The container's port. */
  target: number;
  protocol: 'tcp' | 'udp';
  /** Published on the host (`-p`, compose `ports:`); false for a port only exposed (`EXPOSE`, `expose:`). */
  published: boolean;
  /** The host's port, when one was named (a published port without one gets a random host port in Docker). */
  hostPort?: number;
  /** The host address it was bound to, when one was named (`127.0.0.1:8080:80`). */
  hostIp?: string;
}

export interface WorkloadHealth {
  /** Docker's form: `['CMD', ...]` or `['CMD-SHELL', 'cmd']` (`NONE` and an empty test never reach here). */
  test: string[];
  /** Nanoseconds; undefined for Docker's default. */
  interval?: number;
  timeout?: number;
  retries?: number;
  startPeriod?: number;
}

export interface WorkloadMount {
  /** `volume` with a source: a named volume; without one: an anonymous volume. */
  type: 'volume' | 'bind' | 'tmpfs';
  /** The engine's volume name (`app_data`), a bind's host path. */
  source?: string;
  target: string;
  readOnly: boolean;
  /** tmpfs: its size in bytes. */
  sizeBytes?: number;
  /** A named volume made outside (compose `external: true`): the cluster must already have its claim. */
  external?: boolean;
}

export interface EnvFile {
  /** Absolute path of the file as read. */
  path: string;
  /** Its variables, interpolated. */
  values: Record<string, string>;
}

export interface Workload {
  /** Docker's name: the service's, or the container's. */
  name: string;
  /** The compose project it belongs to, when there is one (`app.kubernetes.io/part-of`). */
  project?: string;
  replicas: number;
  image: string;
  /** Docker's Entrypoint (Kubernetes' `command`); undefined: the image's. */
  entrypoint?: string[];
  /** Docker's Cmd (Kubernetes' `args`); undefined: the image's. */
  cmd?: string[];
  /** Variables set on the container itself; those equal to an env file's value come from its ConfigMap instead. */
  env: Record<string, string>;
  envFiles: EnvFile[];
  workingDir?: string;
  /** Docker's `user[:group]`. */
  user?: string;
  ports: WorkloadPort[];
  health?: WorkloadHealth;
  limits: { cpus?: number; memory?: number };
  reservations: { cpus?: number; memory?: number };
  mounts: WorkloadMount[];
  /** Docker's restart policy name (`no`, `always`, `on-failure`, `unless-stopped`); a Pod's restartPolicy. */
  restart?: string;
  /** Seconds. */
  stopGracePeriod?: number;
  privileged?: boolean;
  readOnlyRootfs?: boolean;
  capAdd: string[];
  capDrop: string[];
  /** `host:ip` entries (`--add-host`, `extra_hosts`). */
  extraHosts: string[];
  /** Docker's network mode, when it is not a network of its own (`host`, `none`, `container:x`, `service:x`). */
  networkMode?: string;
  tty?: boolean;
  stdinOpen?: boolean;
  /** compose `deploy.update_config`: how replicas are replaced. */
  update?: { order: 'stop-first' | 'start-first'; parallelism: number };
  /** What the source could not carry over, for the user (stderr). */
  notes: string[];
}
