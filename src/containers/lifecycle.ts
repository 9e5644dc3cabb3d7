import { mkdir } from 'node:fs/promises';
import { conflict, EngineError, invalid, notFound, notModified, withContext } from '../errors.js';
import { log } from '../log.js';
import type { NetworkService } from '../networks/networks.js';
import { CommandError, type ContainerRuntime, type ExitStatus, type Mount } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { parseSignal } from '../util/signals.js';
import type { Attachments } from './attach.js';
import { validateHostConfig } from './config.js';
import type { ContainerLifecycle, ContainerView, ImageLookup, StopOptions, WaitCondition, WaitResult } from './containers.js';
import { isLive, isRunning, nowIso, type ContainerCore } from './core.js';
import { createContainer, NAME_RE, type CreateHooks, type CreateLogs } from './create.js';
import { linkEnv, parseLinkName, withLinkEnv } from './links.js';
import { checkResources, KERNEL_MEMORY_UNSUPPORTED, type HostFacts } from './limits.js';
import { RestartPolicies } from './restart.js';
import { containerSpecOf, resourcesOf, type SpecDefaults } from './spec.js';
import type { Teardown } from './teardown.js';
import { prepareUsernsRun, type Userns } from './userns.js';
import { type ContainerRecord, type CreateBody, type HostConfig, HostConfigSchema, ZERO_TIME } from './types.js';
import { mark } from '../util/trace.js';

export interface LifecycleDeps {
  core: ContainerCore;
  images: ImageLookup;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  networks: NetworkService;
  attachments: Attachments;
  teardown: Teardown;
  defaults: SpecDefaults;
  /** Mounts: prepared at create; resolved into the runtime's mounts at start (none without it). */
  mounts?: CreateHooks & { mountsOf?(rec: ContainerRecord): Promise<Mount[]> };
  /** The log: its config at create, its files made ready before each run (logging.ts). */
  logs: CreateLogs & { prepareRun(rec: ContainerRecord): { path: string | null; sizeMax?: number } };
  /** What the host offers containers (limits and capabilities are checked against it). */
  host?: HostFacts;
  /** User namespaces: given at create; `root` is pier's root folder (the rootfs's way is made searchable under it). */
  userns?: Userns;
  root?: string;
}

/**
 * The container state machine: create, start, stop, kill, restart, pause, wait, remove,
 * rename, update; exits and what follows them (release, restart policy, auto-removal). It
 * decides what is legal; the runtime only does it. Every change is made under the
 * container's lock; an exit is recorded at once (a stop holding the lock waits for it) and
 * handled under the lock after.
 */
export class Lifecycle implements ContainerLifecycle {
  readonly restarts: RestartPolicies;
  private readonly exitWatches = new Map<string, () => void>();
  private shuttingDown = false;

  constructor(private readonly d: LifecycleDeps) {
    this.restarts = new RestartPolicies(d.core, (rec) => this.startLocked(rec));
  }

  private get store() {
    return this.d.core.store;
  }

  create(body: CreateBody, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    return createContainer({ ...this.d, hooks: this.d.mounts ?? {} }, body, name);
  }

  // ---- start -------------------------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.d.core.locked(rec, async () => {
      if (rec.State.Status === 'running') throw notModified();
      if (rec.State.Status === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
      if (rec.State.Status === 'removing' || rec.State.Status === 'dead') throw conflict(`container ${rec.Id} is marked for removal and cannot be started`);
      this.restarts.cancel(rec.Id);
      rec.State.StoppedByUser = false;
      try {
        await this.startLocked(rec);
      } catch (err) {
        // A `run --rm` whose start fails is removed, as Docker does: its client waits for that.
        if (rec.HostConfig.AutoRemove) {
          await this.removeLocked(rec, false).catch((e: unknown) => log.error({ err: e, id: rec.Id }, 'removing a container whose start failed'));
        }
        throw err;
      }
    });
  }

  /** Start the container's process; the caller holds its lock. */
  async startLocked(rec: ContainerRecord): Promise<void> {
    const { runtime, snapshots, networks, core } = this.d;
    mark(rec.Id, 'start: begin');
    const linkVars = linkEnv(rec, core.store);
    // What the last run held goes before this one takes its place (a restart comes here
    // before the exit's own release); a start that died half-way may have left a mount.
    if (rec.State.StartedAt !== ZERO_TIME) await this.d.teardown.releaseRun(rec);
    else await snapshots.unmount(rec.RootfsPath);
    this.d.teardown.newRun(rec);
    const endpoint = await networks.connect(core.endpointRequest(rec));
    mark(rec.Id, 'start: network connected');
    rec.NetworkSettings = endpoint.settings;
    await mkdir(rec.RootfsPath, { recursive: true });
    const idmap = rec.Userns?.map;
    if (idmap) await prepareUsernsRun(rec, idmap, this.d.root ?? '/');
    await snapshots.mount(rec.SnapshotKey, rec.RootfsPath, { idmap });
    mark(rec.Id, 'start: rootfs mounted');
    let created = false;
    const previousStart = rec.State.StartedAt;
    try {
      const mounts = (await this.d.mounts?.mountsOf?.(rec)) ?? [];
      const logTarget = this.d.logs.prepareRun(rec);
      const spec = containerSpecOf(rec, endpoint.attachment, mounts, this.d.defaults);
      spec.env = withLinkEnv(linkVars, spec.env);
      const c = await runtime.create(spec, logTarget.path, { logSizeMax: logTarget.sizeMax });
      created = true;
      mark(rec.Id, 'start: runtime created');
      // Attach clients that came before start get their streams now, before any output.
      await this.d.attachments.connectPending(rec);
      mark(rec.Id, 'start: attach connected');
      // The state says running before the process can exit, so that an exit seen during
      // `runtime.start` (a `true` ends at once) is recorded after it, never overwritten by it.
      rec.State = { ...rec.State, Status: 'running', Pid: c.pid, ConmonPid: c.conmonPid, ExitCode: 0, Error: '', OOMKilled: false, StartedAt: nowIso(), Health: undefined };
      core.emit('start', rec);
      this.watchExit(rec);
      // The record says running while the process starts: both go to disk and the runtime at once.
      const [started, saved] = await Promise.allSettled([runtime.start(rec.Id), this.store.save(rec, { durable: false })]);
      if (started.status === 'rejected') throw started.reason;
      if (saved.status === 'rejected') throw saved.reason;
      mark(rec.Id, 'start: runtime started, record saved');
      core.started(rec);
    } catch (err) {
      const message = (err as Error).message;
      this.stopWatching(rec.Id);
      this.d.attachments.abortPending(rec, message);
      if (created) await runtime.delete(rec.Id, { force: true }).catch(() => undefined);
      await this.d.teardown.unmountVolumes(rec);
      await snapshots.unmount(rec.RootfsPath).catch(() => undefined);
      await networks.disconnect(core.endpointRequest(rec)).catch(() => undefined);
      // Docker's exit codes for a command that cannot run: 127 not found, 126 not executable.
      rec.State = {
        ...rec.State,
        Error: message,
        ExitCode: err instanceof CommandError ? err.exitCode : 128,
        Pid: 0,
        ConmonPid: 0,
        StartedAt: previousStart,
        Status: previousStart === ZERO_TIME ? 'created' : 'exited',
      };
      await this.store.save(rec);
      const kind = err instanceof EngineError ? err.kind : 'internal';
      throw new EngineError(kind, `failed to create task for container: ${message}`, { cause: err });
    }
  }

  // ---- exits -------------------------------------------------------------------------------

  /** Watch the running container's exit (after start, and when pierd finds it running again). */
  watchExit(rec: ContainerRecord): void {
    this.stopWatching(rec.Id);
    const cancel = this.d.runtime.watchExit(rec.Id, (status) => {
      this.exitWatches.delete(rec.Id);
      this.recordExit(rec, status);
    });
    this.exitWatches.set(rec.Id, cancel);
  }

  private stopWatching(id: string): void {
    this.exitWatches.get(id)?.();
    this.exitWatches.delete(id);
  }

  /**
   * The container's process ended. The exit is recorded and told to waiters at once (a stop
   * that holds the container's lock is waiting for it); the release, the restart policy and
   * the auto-removal follow under the lock, after whatever operation holds it now.
   */
  recordExit(rec: ContainerRecord, status: ExitStatus): void {
    const { core } = this.d;
    if (!core.current(rec)) return;
    mark(rec.Id, 'exit: seen');
    rec.State = { ...rec.State, Status: 'exited', Pid: 0, ConmonPid: 0, ExitCode: status.exitCode, OOMKilled: status.oomKilled, FinishedAt: status.finishedAt.toISOString() };
    if (status.oomKilled) core.emit('oom', rec);
    core.emit('die', rec, { exitCode: String(status.exitCode) });
    core.exited(rec.Id, status.exitCode);
    core
      .locked(rec, async () => {
        // Removed meanwhile (a forced remove cleans up itself), or started again already.
        if (!core.current(rec) || rec.State.Status !== 'exited') return;
        await this.d.teardown.releaseRun(rec);
        mark(rec.Id, 'exit: released');
        if (!this.shuttingDown && this.restarts.shouldRestart(rec)) this.restarts.schedule(rec);
        else if (!this.shuttingDown && rec.HostConfig.AutoRemove) return this.removeLocked(rec, true);
        await this.store.save(rec, { durable: false });
      })
      .catch((err: unknown) => log.error({ err, id: rec.Id }, 'handling a container exit failed'));
  }

  // ---- stop, kill, restart, pause ----------------------------------------------------------

  async stop(ref: string, opts: StopOptions = {}): Promise<void> {
    const rec = this.store.get(ref);
    if (opts.signal) parseSignal(opts.signal);
    await this.d.core.locked(rec, async () => {
      if (rec.State.Status === 'restarting') {
        this.restarts.cancel(rec.Id);
        rec.State.Status = 'exited';
        rec.State.StoppedByUser = true;
        await this.store.save(rec);
        return;
      }
      if (!isRunning(rec.State.Status)) throw notModified();
      rec.State.StoppedByUser = true;
      await this.stopLocked(rec, opts);
      this.d.core.emit('stop', rec);
    });
  }

  private async stopLocked(rec: ContainerRecord, opts: StopOptions): Promise<void> {
    const signal = opts.signal || rec.Config.StopSignal || 'SIGTERM';
    const timeout = opts.timeout ?? rec.Config.StopTimeout ?? 10;
    const exited = this.d.core.nextExit(rec.Id);
    if (rec.State.Status === 'paused') await this.d.runtime.resume(rec.Id).catch(() => undefined);
    await this.killQuietly(rec, signal);
    if (timeout < 0) {
      await exited;
      return;
    }
    if (await within(exited, timeout * 1000)) return;
    await this.killQuietly(rec, 'SIGKILL');
    if (!(await within(exited, KILL_WAIT_MS))) throw new EngineError('internal', `container ${rec.Id} did not exit after SIGKILL`);
  }

  private async killQuietly(rec: ContainerRecord, signal: string): Promise<void> {
    const sig = parseSignal(signal);
    this.d.core.emit('kill', rec, { signal: String(sig.number) });
    try {
      await this.d.runtime.kill(rec.Id, sig.number);
    } catch (err) {
      // It may have exited between our check and the signal; the exit handler records it.
      log.debug({ err, id: rec.Id, signal }, 'kill failed');
    }
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.store.get(ref);
    const sig = parseSignal(signal);
    await this.d.core.locked(rec, async () => {
      if (!isRunning(rec.State.Status)) throw conflict(`Container ${rec.Id} is not running`);
      if (sig.number === 9 || sig.number === 15 || sig.number === 2) rec.State.StoppedByUser = true;
      this.d.core.emit('kill', rec, { signal: String(sig.number) });
      const exited = this.d.core.nextExit(rec.Id);
      try {
        await this.d.runtime.kill(rec.Id, sig.number);
      } catch (err) {
        throw withContext(`cannot kill container ${rec.Id}`, err);
      }
      // A frozen process takes its SIGKILL once thawed.
      if (sig.number === 9 && rec.State.Status === 'paused') await this.d.runtime.resume(rec.Id).catch(() => undefined);
      // As moby's: a SIGKILL answers once the exit is recorded, so an inspect right after it
      // sees the container stopped.
      if (sig.number === 9 && !(await within(exited, KILL_WAIT_MS))) {
        throw new EngineError('internal', `container ${rec.Id} did not exit after SIGKILL`);
      }
    });
  }

  async restart(ref: string, opts: StopOptions = {}): Promise<void> {
    const rec = this.store.get(ref);
    if (opts.signal) parseSignal(opts.signal);
    await this.d.core.locked(rec, async () => {
      if (rec.State.Status === 'removing' || rec.State.Status === 'dead') throw conflict(`container ${rec.Id} is marked for removal and cannot be started`);
      this.restarts.cancel(rec.Id);
      if (isRunning(rec.State.Status)) {
        rec.State.StoppedByUser = true;
        await this.stopLocked(rec, opts);
      }
      rec.State.StoppedByUser = false;
      await this.startLocked(rec);
      this.d.core.emit('restart', rec);
    });
  }

  async pause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.d.core.locked(rec, async () => {
      if (rec.State.Status === 'paused') throw conflict(`Container ${rec.Id} is already paused`);
      if (rec.State.Status !== 'running') throw conflict(`Container ${rec.Id} is not running`);
      await this.d.runtime.pause(rec.Id);
      rec.State.Status = 'paused';
      await this.store.save(rec);
      this.d.core.emit('pause', rec);
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.d.core.locked(rec, async () => {
      if (rec.State.Status !== 'paused') throw conflict(`Container ${rec.Id} is not paused`);
      await this.d.runtime.resume(rec.Id);
      rec.State.Status = 'running';
      await this.store.save(rec);
      this.d.core.emit('unpause', rec);
    });
  }

  // ---- wait, remove, rename, update ---------------------------------------------------------

  wait(ref: string, condition: WaitCondition = 'not-running'): Promise<WaitResult> {
    const rec = this.store.get(ref);
    const { core } = this.d;
    const result = (): WaitResult => ({ StatusCode: rec.State.ExitCode, Error: null });
    if (condition === 'removed') return core.nextRemoval(rec.Id).then(result);
    if (condition === 'not-running' && !isLive(rec.State.Status)) return Promise.resolve(result());
    return Promise.race([core.nextExit(rec.Id), core.nextRemoval(rec.Id)]).then(result);
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.d.core.locked(rec, async () => {
      if (!this.d.core.current(rec)) return;
      const status = rec.State.Status;
      if (!opts.force && (isRunning(status) || status === 'restarting')) {
        throw conflict(`cannot remove container "/${rec.Name}": container is ${status}: stop the container before removing or force remove`);
      }
      this.restarts.cancel(rec.Id);
      if (isRunning(status)) {
        rec.State.StoppedByUser = true;
        const exited = this.d.core.nextExit(rec.Id);
        if (rec.State.Status === 'paused') await this.d.runtime.resume(rec.Id).catch(() => undefined);
        await this.killQuietly(rec, 'SIGKILL');
        if (!(await within(exited, KILL_WAIT_MS))) throw new EngineError('internal', `container ${rec.Id} did not exit after SIGKILL`);
      }
      await this.removeLocked(rec, opts.volumes ?? false);
    });
  }

  async removeLink(name: string): Promise<void> {
    const { parent: parentRef, alias } = parseLinkName(name);
    const parent = this.store.find(parentRef);
    if (!parent) throw notFound(`Cannot get parent /${parentRef} for link /${parentRef}/${alias}`);
    await this.d.core.locked(parent, async () => {
      const links = parent.LegacyLinks ?? [];
      if (!links.some((l) => l.Alias === alias)) throw notFound(`No such container: /${parent.Name}/${alias}`);
      parent.LegacyLinks = links.filter((l) => l.Alias !== alias);
      await this.store.save(parent);
    });
  }

  /** Remove a container that does not run; the caller holds its lock. */
  async removeLocked(rec: ContainerRecord, volumes: boolean): Promise<void> {
    this.stopWatching(rec.Id);
    this.d.attachments.abortPending(rec, 'container removed');
    await this.d.teardown.remove(rec, { volumes });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.store.get(ref);
    if (!newName) throw invalid('Neither old nor new names may be empty');
    if (!NAME_RE.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const name = newName.replace(/^\//, '');
    if (name === rec.Name) throw invalid(`Renaming a container with the same name as its current name`);
    await this.d.core.locked(rec, async () => {
      const old = rec.Name;
      this.store.reserveName(name, rec.Id);
      rec.Name = name;
      try {
        await this.store.save(rec);
      } catch (err) {
        rec.Name = old;
        this.store.releaseName(name, rec.Id);
        throw err;
      }
      this.store.releaseName(old, rec.Id);
      this.d.core.emit('rename', rec, { oldName: `/${old}` });
    });
  }

  async update(ref: string, changes: HostConfig): Promise<{ Warnings: string[] }> {
    const rec = this.store.get(ref);
    return this.d.core.locked(rec, async () => {
      if (rec.State.Status === 'removing' || rec.State.Status === 'dead') throw conflict(`container ${rec.Id} is marked for removal`);
      const merged = mergeUpdate(rec.HostConfig, changes);
      validateHostConfig(merged);
      const { hostConfig: next, warnings } = checkResources(merged, this.d.host, true);
      if (changes.RestartPolicy && rec.HostConfig.AutoRemove && !['', 'no'].includes(changes.RestartPolicy.Name)) {
        throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }
      if (isRunning(rec.State.Status) && this.d.runtime.update) {
        await this.d.runtime.update(rec.Id, resourcesOf(next));
      }
      rec.HostConfig = next;
      await this.store.save(rec);
      this.d.core.emit('update', rec);
      return { Warnings: warnings };
    });
  }

  async prune(keep: (c: ContainerView) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of this.store.all()) {
      if (!['exited', 'created', 'dead'].includes(rec.State.Status) || keep(rec)) continue;
      const usage = await this.d.snapshots.activeUsage(rec.SnapshotKey).catch(() => 0);
      await this.remove(rec.Id, {});
      reclaimed += usage;
      deleted.push(rec.Id);
    }
    this.d.core.emitOther('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** pierd stops: no restart and no auto-removal is begun from now on. */
  shutdown(): void {
    this.shuttingDown = true;
    this.restarts.shutdown();
    for (const id of [...this.exitWatches.keys()]) this.stopWatching(id);
  }
}

/** How long a SIGKILL waits for the exit it causes before it says the container did not die. */
const KILL_WAIT_MS = 30_000;

/** The fields of `docker update`; zero leaves a field as it is, as Docker's update does. */
const UPDATABLE = ['BlkioWeight', 'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'PidsLimit'] as const;

/** The body of `POST /containers/{id}/update`. */
export const UpdateBodySchema = HostConfigSchema.pick({
  BlkioWeight: true,
  CpuShares: true,
  CpuPeriod: true,
  CpuQuota: true,
  CpusetCpus: true,
  CpusetMems: true,
  KernelMemory: true,
  Memory: true,
  MemorySwap: true,
  MemoryReservation: true,
  NanoCpus: true,
  PidsLimit: true,
  RestartPolicy: true,
}).loose();

function mergeUpdate(current: HostConfig, changes: HostConfig): HostConfig {
  const next: Record<string, unknown> = { ...current };
  const given = changes as Record<string, unknown>;
  for (const field of UPDATABLE) {
    const v = given[field];
    if (v !== undefined && v !== null && v !== 0 && v !== '') next[field] = v;
  }
  if (given.KernelMemory) throw invalid(KERNEL_MEMORY_UNSUPPORTED);
  const merged = next as HostConfig;
  const mem = merged.Memory;
  const swap = merged.MemorySwap;
  if (changes.Memory && swap && swap > 0 && mem !== undefined && mem > swap && !changes.MemorySwap) {
    throw invalid('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  if (changes.NanoCpus && current.CpuQuota) throw invalid('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  if (changes.RestartPolicy) merged.RestartPolicy = changes.RestartPolicy;
  return merged;
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
