import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SystemFacts } from '../api/routes/system.js';
import { Builder } from '../build/builder.js';
import type { Containers, ImageRunConfig } from '../containers/containers.js';
import { validateLogConfig } from '../containers/log-config.js';
import { ContainerMounts } from '../containers/mounts.js';
import { containerService } from '../containers/service.js';
import { ContainerStore } from '../containers/store.js';
import { LocalContentStore } from '../content/local.js';
import { EventBus } from '../events/events.js';
import type { Distribution } from '../distribution/distribution.js';
import { registryKey } from '../distribution/auth.js';
import { LayerCache } from '../distribution/layer-cache.js';
import { RegistryDistribution } from '../distribution/service.js';
import type { ImageService } from '../images/images.js';
import { parseReference } from '../images/reference.js';
import { LocalImageService } from '../images/store.js';
import { log } from '../log.js';
import { BridgeNetworks } from '../networks/bridge.js';
import { detectCgroups } from '../runtime/cgroups.js';
import { OciRuntime } from '../runtime/oci.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { LocalPlugins } from '../plugins/local.js';
import type { Plugins } from '../plugins/plugins.js';
import { OverlaySnapshotter } from '../snapshots/overlay.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { invalid } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { LocalVolumes } from '../volumes/local.js';
import type { Volumes } from '../volumes/volumes.js';
import type { DaemonConfig } from './config.js';
import { diskUsage } from './disk-usage.js';
import { containerUserns } from './userns.js';
import { FlushBehind, repairPull } from './flush-behind.js';
import { lockRoot } from './lock.js';

/** The engine's parts, wired. Built by pierd's main, and by tests that need no socket. */
export interface Engine {
  events: EventBus;
  images: ImageService;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  containers: Containers;
  networks: BridgeNetworks;
  volumes: Volumes;
  /** Managed plugins: kept, never run. */
  plugins: Plugins;
  facts: SystemFacts;
  builder: Builder;
  distribution: Distribution;
  /** Pulls' writes flushed after them; the daemon waits for it as it stops. */
  flushBehind: FlushBehind;
}

export async function buildEngine(config: DaemonConfig): Promise<Engine> {
  const logDefaults = { Type: config.logDriver, Config: config.logOpts };
  try {
    validateLogConfig(logDefaults);
  } catch (err) {
    throw invalid(`failed to set log opts: ${(err as Error).message}`);
  }
  await mkdir(config.root, { recursive: true, mode: 0o710 });
  await mkdir(config.execRoot, { recursive: true, mode: 0o700 });
  await lockRoot(config.root);
  const events = new EventBus();
  const content = new LocalContentStore(config.root);
  const snapshots = new OverlaySnapshotter(config.root, { usernsLayers: config.usernsLayers });
  // What a crash left half-written (ingests, snapshots being built) goes first.
  await content.cleanIngest();
  await snapshots.recover();
  const images = new LocalImageService({
    root: config.root,
    content,
    snapshots,
    emit: (e) => events.emit(e.Type, e.Action, e.Actor.ID, e.Actor.Attributes),
    versionsKept: config.versionsKept ?? 5,
  });
  await images.init();
  // A pull's writes that were not flushed when the daemon (or the machine) stopped.
  const flushBehind = new FlushBehind(join(config.root, 'unflushed.json'), {
    syncBlob: (digest) => content.sync(digest),
    syncSnapshot: (chain) => snapshots.sync(chain),
  });
  await flushBehind.recover((items) => repairPull(items, { images, content, snapshots }));
  const layerCache = new LayerCache(config.root);
  await layerCache.init();
  const distribution = new RegistryDistribution({ images, content, snapshots, layers: layerCache, insecure: config.insecureRegistries, flushLater: flushBehind });
  // The compressed blobs made for pushes go with the last image of their layer (and at start,
  // those an earlier run left).
  const collectLayers = (): void => {
    layerCache.collect({ images, content }).catch((err: unknown) => log.warn({ err }, 'collection of compressed layers failed'));
  };
  events.subscribe((e) => {
    if (e.Type === 'image' && e.Action === 'delete') collectLayers();
  });
  collectLayers();

  const cgroups = await detectCgroups();
  const runtime = new OciRuntime({ execRoot: config.execRoot, runtime: config.runtime, logLevel: config.logLevel });
  await runtime.init();

  const store = new ContainerStore(join(config.root, 'containers'));
  await store.load();
  const imageLookup = {
    async resolve(name: string) {
      const image = await images.resolve(name);
      const cfg = await images.config(image);
      return { id: image.id, runConfig: (cfg.config ?? {}) as ImageRunConfig, topChainId: images.topChainId(image) };
    },
    idOf: (name: string) => images.resolve(name).then((i) => i.id, () => undefined),
  };
  const networks = new BridgeNetworks({
    root: config.root,
    execRoot: config.execRoot,
    defaultSubnet: config.bip,
    defaultIPv6: config.ipv6 ? { subnet: config.fixedCidrV6 } : undefined,
    emit: events.emit,
    knownContainers: () => new Set(store.all().map((c) => c.Id)),
    findContainer: (ref) => {
      try {
        const c = store.get(ref);
        return { id: c.Id, running: c.State.Status === 'running' || c.State.Status === 'paused' };
      } catch {
        return undefined;
      }
    },
  });
  networks.usersOf = (net) =>
    store.all()
      .filter((c) => c.HostConfig.NetworkMode === net.Name || c.HostConfig.NetworkMode === net.Id || Object.keys(c.NetworkingConfig?.EndpointsConfig ?? {}).some((k) => k === net.Name || k === net.Id))
      .map((c) => c.Name);
  await networks.init();
  // Volumes: their references and the mounts of running containers come from the records.
  const volumes = new LocalVolumes(config.root, events.emit);
  await volumes.init(
    store.all().map((c) => ({
      id: c.Id,
      volumes: (c.MountPoints ?? []).flatMap((m) => (m.Type === 'volume' && m.Name ? [m.Name] : [])),
      running: c.State.Status === 'running' || c.State.Status === 'paused',
    })),
  );
  const plugins = new LocalPlugins(config.root, events.emit);
  await plugins.init();
  const userns = await containerUserns(config, () => store.all());
  const mounts = new ContainerMounts({ volumes, container: (ref) => store.get(ref) });
  const containers = containerService({
    store,
    images: imageLookup,
    snapshots,
    runtime,
    networks,
    emit: events.emit,
    defaults: { defaultInit: config.init, defaultUlimits: config.defaultUlimits, defaultShmSize: config.defaultShmSize, noNewPrivileges: config.noNewPrivileges },
    logDefaults,
    host: runtime.host,
    userns,
    root: config.root,
    mounts,
    removal: {
      releaseVolumes: (rec, anonymous) => mounts.releaseVolumes(rec, anonymous),
      unmountVolumes: (rec) => mounts.unmountVolumes(rec),
      afterRemove: () => {
        images.gc().catch((err: unknown) => log.warn({ err }, 'image layer collection failed'));
      },
    },
  });
  images.setUsage((imageId) => {
    const users = store.all().filter((c) => c.Image === imageId);
    const live = (s: string): boolean => s === 'running' || s === 'paused' || s === 'restarting';
    users.sort((a, b) => Number(live(b.State.Status)) - Number(live(a.State.Status)));
    return { any: users.length > 0, running: users.some((c) => live(c.State.Status)), containerIds: users.map((c) => c.Id) };
  });

  const builder = new Builder({ images, snapshots, runtime, networks, dir: join(config.root, 'build'), execDir: join(config.execRoot, 'build') });
  await builder.init();
  // FROM pulls a missing base image (and every base image with --pull), as Docker's builder does.
  builder.pull = async (reference, platform, onProgress, registryConfig) => {
    const auth = registryConfig?.get(registryKey(parseReference(reference).domain));
    await distribution.pull({ reference, platform, auth }, onProgress);
  };

  const warnings: string[] = [];
  if (cgroups.version === '1') warnings.push('WARNING: pier runs on cgroup v1 here; cgroup v2 hosts get the same limits');
  const facts: SystemFacts = {
    id: await daemonId(config.root),
    root: config.root,
    containers() {
      const all = store.all();
      const running = all.filter((c) => c.State.Status === 'running').length;
      const paused = all.filter((c) => c.State.Status === 'paused').length;
      return { total: all.length, running, paused, stopped: all.length - running - paused };
    },
    images: async () => (await images.list()).length,
    runtime: { name: runtime.name, path: runtime.path, why: runtime.reason, all: runtime.runtimes() },
    cgroupVersion: cgroups.version === '2' ? '2' : '1',
    cgroupDriver: 'cgroupfs',
    insecureRegistries: config.insecureRegistries,
    defaultInit: config.init,
    warnings,
    loggingDriver: logDefaults.Type,
    securityOptions: securityOptions(runtime.host.apparmor, cgroups.version, config.noNewPrivileges ?? false, userns.remapping),
    limits: {
      swapLimit: runtime.host.swapAccounting,
      oomKillDisable: runtime.host.cgroupMode !== 'v2',
      cpuset: runtime.layout.controllers.includes('cpuset'),
      blkioWeight: runtime.host.blkioWeight,
    },
    diskUsage: (types) => diskUsage({ images, containers: containers.reader, buildCache: () => builder.usage(), volumes: () => volumes.usage() }, types),
  };
  log.debug({ cgroups }, 'cgroup layout');
  return { events, images, snapshots, runtime, containers, networks, volumes, plugins, facts, builder, distribution, flushBehind };
}

/**
 * Docker's `SecurityOptions` in moby's order: AppArmor where the host has it, the seccomp
 * profile (pier's built-in copy of Docker's), user namespaces when the daemon remaps
 * containers by default, a cgroup namespace for containers (cgroup v2 only), and
 * no-new-privileges when the daemon sets it.
 */
function securityOptions(apparmor: boolean, cgroupVersion: '1' | '2', noNewPrivileges: boolean, userns: boolean): string[] {
  return [
    ...(apparmor ? ['name=apparmor'] : []),
    'name=seccomp,profile=builtin',
    ...(userns ? ['name=userns'] : []),
    ...(cgroupVersion === '2' ? ['name=cgroupns'] : []),
    ...(noNewPrivileges ? ['name=no-new-privileges'] : []),
  ];
}

/** A stable ID for this daemon's root (Docker's `ID` in /info). */
async function daemonId(root: string): Promise<string> {
  const path = join(root, 'engine-id');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const id = randomBytes(16).toString('hex');
    await writeFileAtomic(path, id);
    return id;
  }
}
