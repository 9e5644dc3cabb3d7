import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { invalid } from '../errors.js';
import { log } from '../log.js';
import type { NetworkService } from '../networks/networks.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { devicesFromPath } from '../runtime/devices.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { mergeConfig, validateConfig, validateHostConfig } from './config.js';
import type { ImageLookup } from './containers.js';
import { nowIso, type ContainerCore } from './core.js';
import { checkResources, type HostFacts } from './limits.js';
import { linksAtCreate } from './links.js';
import { generateName } from './names.js';
import { validateSecurity } from './security.js';
import { type ContainerRecord, type CreateBody, type HostConfig, ZERO_TIME } from './types.js';
import type { Userns } from './userns.js';
import { mark } from '../util/trace.js';

export const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** What a new container's record gets from other parts before it is saved. */
export interface CreateHooks {
  /**
   * Check and complete the container's mounts (named and anonymous volumes created, binds
   * checked) before the record is saved; throws `invalid` for a bad mount.
   */
  prepareMounts?(rec: ContainerRecord): Promise<void>;
  /** A create failed after prepareMounts: give back what it made. */
  discardMounts?(rec: ContainerRecord): Promise<void>;
}

/** The log driver of a new container: its LogConfig merged with the daemon's and checked (`invalid`). */
export interface CreateLogs {
  configFor(asked: HostConfig['LogConfig']): { Type: string; Config: Record<string, string> };
}

/**
 * `POST /containers/create`: a new container's record, its writable layer and network files.
 * Either everything is made and the record saved (`create` event), or nothing is left.
 */
export async function createContainer(
  deps: {
    core: ContainerCore;
    images: ImageLookup;
    snapshots: Snapshotter;
    networks: NetworkService;
    hooks: CreateHooks;
    logs: CreateLogs;
    host?: HostFacts;
    userns?: Userns;
    /** The OCI runtimes a container can name (HostConfig.Runtime), the default one `name`. */
    runtime?: Pick<ContainerRuntime, 'name' | 'runtimes'>;
  },
  body: CreateBody,
  requestedName?: string,
): Promise<{ Id: string; Warnings: string[] }> {
  const { core, snapshots, networks, hooks } = deps;
  if (requestedName !== undefined && requestedName !== '' && !NAME_RE.test(requestedName)) {
    throw invalid(`Invalid container name (${requestedName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (!body.Image) throw invalid('config cannot be empty in order to create a container');
  validateHostConfig(body.HostConfig ?? {});
  validateSecurity(body.HostConfig ?? {}, deps.host);
  deps.userns?.validate(body.HostConfig ?? {});
  const { hostConfig, warnings } = checkResources(body.HostConfig ?? {}, deps.host);
  const runtimeName = runtimeOf(hostConfig.Runtime || knownRuntime(body.Runtime, deps.runtime), deps.runtime);
  const logConfig = deps.logs.configFor(hostConfig.LogConfig);
  // A device that is not there is refused now rather than at start (Docker fails the start).
  await Promise.all((hostConfig.Devices ?? []).map((d) => devicesFromPath({ pathOnHost: d.PathOnHost, pathInContainer: d.PathInContainer, cgroupPermissions: d.CgroupPermissions })));
  const image = await deps.images.resolve(body.Image);

  const id = randomBytes(32).toString('hex');
  mark(id, 'create: checked, image resolved');
  const legacyLinks = linksAtCreate(core.store, hostConfig, id);
  const config = mergeConfig(body, image.runConfig, id, hostname());
  validateConfig(config);
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length === 0) throw invalid('no command specified');

  const name = requestedName ? requestedName.replace(/^\//, '') : uniqueName(core);
  core.store.reserveName(name, id);
  const dir = core.store.containerDir(id);
  let prepared = false;
  let mountsPrepared = false;
  let layer: Promise<void> | undefined;
  let mounts: Promise<void> | undefined;
  const rec: ContainerRecord = {
    Id: id,
    Name: name,
    Created: nowIso(),
    Path: args[0]!,
    Args: args.slice(1),
    Config: config,
    HostConfig: { ...hostConfig, NetworkMode: hostConfig.NetworkMode || 'bridge', LogConfig: logConfig, ...(runtimeName ? { Runtime: runtimeName } : {}) },
    NetworkingConfig: body.NetworkingConfig,
    Image: image.id,
    State: {
      Status: 'created',
      Pid: 0,
      ExitCode: 0,
      Error: '',
      StartedAt: ZERO_TIME,
      FinishedAt: ZERO_TIME,
      OOMKilled: false,
      ConmonPid: 0,
      StoppedByUser: false,
    },
    RestartCount: 0,
    LogPath: join(dir, 'ctr.log'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    ResolvConfPath: join(dir, 'resolv.conf'),
    SnapshotKey: id,
    RootfsPath: join(dir, 'rootfs'),
    Warnings: [],
    NetworkSettings: { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} },
    ...(legacyLinks.length > 0 ? { LegacyLinks: legacyLinks } : {}),
  };
  try {
    rec.Userns = await deps.userns?.assign(id, rec.HostConfig);
    await mkdir(dir, { recursive: true });
    // The writable layer, the mounts and the network files (hosts, resolv.conf) are made side by side.
    layer = snapshots.prepare(id, image.topChainId).then(() => {
      prepared = true;
    });
    mounts = hooks.prepareMounts?.(rec).then(() => {
      mountsPrepared = true;
    });
    const [endpoint] = await Promise.all([networks.prepare(core.endpointRequest(rec)), layer, mounts]);
    rec.NetworkSettings = endpoint.settings;
    rec.Warnings = [...warnings, ...endpoint.warnings];
    mark(id, 'create: layer, mounts, network files');
    await core.store.save(rec);
    mark(id, 'create: saved');
    core.emit('create', rec);
    return { Id: id, Warnings: rec.Warnings };
  } catch (err) {
    core.store.releaseName(name, id);
    deps.userns?.release(id);
    await Promise.all([layer?.catch(() => undefined), mounts?.catch(() => undefined)]);
    if (prepared) await snapshots.removeActive(id).catch((e: unknown) => log.warn({ err: e, id }, 'cleanup of a failed create'));
    if (mountsPrepared) await hooks.discardMounts?.(rec).catch((e: unknown) => log.warn({ err: e, id }, 'cleanup of the mounts of a failed create'));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The runtime a new container runs with: the one it names, if the daemon has it (Docker's 400 otherwise), or the default. */
function runtimeOf(asked: string | undefined, runtime: Pick<ContainerRuntime, 'name' | 'runtimes'> | undefined): string | undefined {
  if (!runtime) return asked || undefined;
  if (!asked) return runtime.name;
  const known = runtime.runtimes?.().map((r) => r.name) ?? [runtime.name];
  if (!known.some((n) => n === asked)) throw invalid(`Unknown runtime specified ${asked}`);
  return asked;
}

/**
 * A top-level `Runtime` (docker-py's `create_container(runtime=)`, which Docker's Config has no
 * field for): taken when it names a runtime pier has, as its user means; ignored otherwise, as
 * Docker ignores it, so that the create goes on with the default.
 */
function knownRuntime(asked: string | undefined, runtime: Pick<ContainerRuntime, 'name' | 'runtimes'> | undefined): string | undefined {
  const known = runtime?.runtimes?.().map((r) => r.name) ?? (runtime ? [runtime.name] : []);
  return asked && known.some((n) => n === asked) ? asked : undefined;
}

function uniqueName(core: ContainerCore): string {
  for (;;) {
    const name = generateName();
    if (!core.store.hasName(name)) return name;
  }
}
