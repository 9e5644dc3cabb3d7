/**
 * The Compose model pier works from: a project as the Compose specification describes it,
 * after files are merged, variables interpolated, `extends` and `include` resolved, profiles
 * applied and every short syntax expanded to its long form. The loader (`load.ts`) produces
 * it; the engine side (`up.ts`, `down.ts`, ...) reads it and never sees raw YAML.
 *
 * Contract: a `Project` is valid. Every relative path in it is already absolute; every
 * named volume and network a service uses is declared; `depends_on` has no cycle.
 */

/** A problem in the user's files, worded for them: the file, the line when known, the key. */
export class ComposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeError';
  }
}

/** Compose's label keys: docker-compose and `docker compose` find projects by them. */
export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  configHash: 'com.docker.compose.config-hash',
  oneoff: 'com.docker.compose.oneoff',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  image: 'com.docker.compose.image',
  dependsOn: 'com.docker.compose.depends_on',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
} as const;

export interface BuildSpec {
  /** Absolute directory. */
  context: string;
  /** Relative to the context, as the build API takes it. */
  dockerfile?: string;
  args: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
}

export interface EnvFileSpec {
  /** Absolute. */
  path: string;
  values: Record<string, string>;
}

export interface PortSpec {
  target: number;
  published?: string;
  host_ip?: string;
  protocol: 'tcp' | 'udp';
}

export interface MountSpec {
  type: 'volume' | 'bind' | 'tmpfs';
  /** A volume's name in the file (`data`), a bind's absolute host path; none for anonymous volumes and tmpfs. */
  source?: string;
  target: string;
  read_only: boolean;
  nocopy?: boolean;
  tmpfs_size?: number;
}

export interface HealthSpec {
  test: string[];
  /** Nanoseconds, as the Engine API takes them. */
  interval?: number;
  timeout?: number;
  retries?: number;
  start_period?: number;
  start_interval?: number;
}

export type Condition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface DependsOn {
  condition: Condition;
  /** Restart this service when the dependency is restarted by compose. */
  restart: boolean;
  required: boolean;
}

export interface UpdateConfig {
  parallelism: number;
  /** Nanoseconds between batches. */
  delay: number;
  order: 'stop-first' | 'start-first';
  failure_action?: string;
}

export interface Deploy {
  replicas?: number;
  limits: { cpus?: number; memory?: number; pids?: number };
  /** What the service is guaranteed (Kubernetes' requests); pier's own containers use only the memory. */
  reservations: { cpus?: number; memory?: number };
  update_config: UpdateConfig;
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4_address?: string;
}

export interface Service {
  name: string;
  image?: string;
  build?: BuildSpec;
  command?: string[];
  entrypoint?: string[];
  /** After env_file and environment; a null value is taken from the shell, or left out. */
  environment: Record<string, string>;
  /** The env files read, in order, with their variables (already merged into `environment`). */
  env_file: EnvFileSpec[];
  ports: PortSpec[];
  expose: string[];
  volumes: MountSpec[];
  tmpfs: string[];
  /** Network name in the file -> attachment; empty when network_mode is set. */
  networks: Record<string, ServiceNetwork>;
  network_mode?: string;
  depends_on: Record<string, DependsOn>;
  healthcheck?: HealthSpec;
  /** Docker's policy as written: no, always, on-failure[:N], unless-stopped. */
  restart?: string;
  init?: boolean;
  user?: string;
  working_dir?: string;
  labels: Record<string, string>;
  deploy: Deploy;
  stop_signal?: string;
  /** Seconds. */
  stop_grace_period?: number;
  profiles: string[];
  container_name?: string;
  hostname?: string;
  privileged?: boolean;
  read_only?: boolean;
  tty?: boolean;
  stdin_open?: boolean;
  cap_add: string[];
  cap_drop: string[];
  extra_hosts: string[];
  dns: string[];
  sysctls: Record<string, string>;
  pull_policy?: string;
}

export interface NetworkDef {
  /** The engine's name: `<project>_<key>` unless `name:` or external says otherwise. */
  name: string;
  external: boolean;
  driver?: string;
  internal: boolean;
  labels: Record<string, string>;
  driver_opts: Record<string, string>;
  ipam?: { subnet?: string; gateway?: string };
}

export interface VolumeDef {
  name: string;
  external: boolean;
  driver?: string;
  labels: Record<string, string>;
  driver_opts: Record<string, string>;
}

export interface Project {
  name: string;
  /** Absolute project directory (relative paths were resolved against it). */
  workingDir: string;
  /** Absolute paths of the files read, in order. */
  configFiles: string[];
  services: Record<string, Service>;
  /** Services left out by their profiles (names only: `down` still finds their containers). */
  disabled: string[];
  networks: Record<string, NetworkDef>;
  volumes: Record<string, VolumeDef>;
}
