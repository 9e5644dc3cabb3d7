import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, EngineError, invalid, notModified, withContext } from '../errors.js';
import type { EmitFn } from '../events/events.js';
import { log } from '../log.js';
import type { EndpointRequest, NetworkService } from '../networks/networks.js';
import type { ContainerRuntime, ContainerSpec, ExitStatus, Mount } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { KeyedMutex } from '../util/mutex.js';
import { generateName } from './names.js';
import type { ContainerStore } from './store.js';
import { type ContainerRecord, type CreateBody, type HostConfig, ZERO_TIME } from './types.js';

/** What containers need of the image store: an image's ID, run config and top layer. */
export interface ImageLookup {
  resolve(nameOrId: string): Promise<{ id: string; runConfig: ImageRunConfig; topChainId: string | null }>;
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

export interface ContainerServiceOptions {
  /** Run an init (tini) as PID 1 unless the container says otherwise. pier's default: true. */
  defaultInit: boolean;
  defaultUlimits: Array<{ Name: string; Soft: number; Hard: number }>;
  defaultShmSize: number;
}

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** A client attached to a container, before or after it starts. See attach.ts. */
export interface AttachSink {
  /** Called with the container's streams once it runs (at once if it runs already). */
  connect(streams: import('../runtime/runtime.js').AttachStreams): void;
  /** The container will not run (removed, or its start failed). */
  abort(message: string): void;
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const MIN_MEMORY = 6 * 1024 * 1024;

const nowIso = (): string => new Date().toISOString().replace(/Z$/, '000000Z').replace(/\.(\d{9})\d*Z$/, '.$1Z');

/**
 * The container lifecycle: create, start, stop, kill, restart, wait, remove; exits,
 * restart policies and auto-removal. It decides what is legal; the runtime only does it.
 * Operations on one container are serialised; exits are handled apart so that a stop that
 * holds the container's lock can wait for the exit.
 */
export class ContainerService {
  private readonly mutex = new KeyedMutex();
  private readonly signals = new EventEmitter();
  private readonly pendingAttach = new Map<string, Set<AttachSink>>();
  private readonly exitWatches = new Map<string, () => void>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private shuttingDown = false;

  constructor(
    readonly store: ContainerStore,
    private readonly images: ImageLookup,
    private readonly snapshots: Snapshotter,
    private readonly runtime: ContainerRuntime,
    private readonly networks: NetworkService,
    private readonly emit: EmitFn,
    private readonly opts: ContainerServiceOptions,
  ) {
    this.signals.setMaxListeners(0);
  }

  // ---- create ----------------------------------------------------------------------------

  async create(body: CreateBody, requestedName?: string): Promise<{ Id: string; Warnings: string[] }> {
    if (requestedName !== undefined && requestedName !== '' && !NAME_RE.test(requestedName)) {
      throw invalid(`Invalid container name (${requestedName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    if (!body.Image) throw invalid('config cannot be empty in order to create a container');
    const hostConfig: HostConfig = body.HostConfig ?? {};
    validateHostConfig(hostConfig);
    const image = await this.images.resolve(body.Image);
    const imageConfig = image.runConfig;

    const id = randomBytes(32).toString('hex');
    const name = requestedName ? requestedName.replace(/^\//, '') : this.uniqueName();
    this.store.reserveName(name, id);
    const dir = this.store.containerDir(id);
    let prepared = false;
    let layer: Promise<void> | undefined;
    try {
      const config = mergeConfig(body, imageConfig, id);
      const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
      if (args.length === 0) throw invalid('no command specified');
      await mkdir(dir, { recursive: true });
      // The writable layer and the network files (hosts, resolv.conf) are made side by side.
      layer = this.snapshots.prepare(id, image.topChainId).then(() => {
        prepared = true;
      });
      const rec: ContainerRecord = {
        Id: id,
        Name: name,
        Created: nowIso(),
        Path: args[0]!,
        Args: args.slice(1),
        Config: config,
        HostConfig: { ...hostConfig, NetworkMode: hostConfig.NetworkMode || 'bridge' },
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
      };
      const [endpoint] = await Promise.all([this.networks.prepare(this.endpointRequest(rec)), layer]);
      rec.NetworkSettings = endpoint.settings;
      rec.Warnings = endpoint.warnings;
      await this.store.save(rec);
      this.emit('container', 'create', id, this.eventAttributes(rec));
      return { Id: id, Warnings: rec.Warnings };
    } catch (err) {
      this.store.releaseName(name, id);
      await layer?.catch(() => undefined);
      if (prepared) await this.snapshots.removeActive(id).catch((e: unknown) => log.warn({ err: e, id }, 'cleanup of a failed create'));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private uniqueName(): string {
    for (;;) {
      const name = generateName();
      if (!this.store.hasName(name)) return name;
    }
  }

  // ---- start -----------------------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status === 'running') throw notModified();
      if (rec.State.Status === 'paused') throw conflict(`cannot start a paused container, try unpause instead`);
      if (rec.State.Status === 'removing' || rec.State.Status === 'dead') throw conflict(`container ${rec.Id} is marked for removal and cannot be started`);
      this.cancelRestart(rec.Id);
      rec.State.StoppedByUser = false;
      try {
        await this.startLocked(rec);
      } catch (err) {
        // A `run --rm` whose start fails is removed, as Docker does: its client waits for that.
        if (rec.HostConfig.AutoRemove) {
          await this.removeLocked(rec).catch((e: unknown) => log.error({ err: e, id: rec.Id }, 'removing a container whose start failed'));
        }
        throw err;
      }
    });
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    const endpoint = await this.networks.connect(this.endpointRequest(rec));
    rec.NetworkSettings = endpoint.settings;
    await mkdir(rec.RootfsPath, { recursive: true });
    // A restart comes here before the last run's cleanup: never stack a second mount.
    await this.snapshots.unmount(rec.RootfsPath);
    await this.snapshots.mount(rec.SnapshotKey, rec.RootfsPath);
    let created = false;
    const previousStart = rec.State.StartedAt;
    try {
      // A previous run may have left the runtime's container behind (daemon killed mid-way).
      await this.runtime.delete(rec.Id, { force: true });
      const spec = this.specOf(rec, endpoint.attachment);
      const c = await this.runtime.create(spec, rec.LogPath);
      created = true;
      // Attach clients that came before start get their streams now, before any output.
      const sinks = this.pendingAttach.get(rec.Id);
      this.pendingAttach.delete(rec.Id);
      for (const sink of sinks ?? []) {
        try {
          sink.connect(await this.runtime.attach(rec.Id));
        } catch (err) {
          sink.abort(`attach: ${(err as Error).message}`);
        }
      }
      // The state says running before the process can exit, so that an exit seen during
      // `runtime.start` (a `true` ends at once) is recorded after it, never overwritten by it.
      rec.State = {
        ...rec.State,
        Status: 'running',
        Pid: c.pid,
        ConmonPid: c.conmonPid,
        ExitCode: 0,
        Error: '',
        OOMKilled: false,
        StartedAt: nowIso(),
      };
      this.emit('container', 'start', rec.Id, this.eventAttributes(rec));
      this.watchExit(rec);
      // The record says running while the process starts: both go to disk and the runtime at once.
      const [started, saved] = await Promise.allSettled([this.runtime.start(rec.Id), this.store.save(rec, { durable: false })]);
      if (started.status === 'rejected') throw started.reason;
      if (saved.status === 'rejected') throw saved.reason;
    } catch (err) {
      const message = (err as Error).message;
      this.exitWatches.get(rec.Id)?.();
      this.exitWatches.delete(rec.Id);
      for (const sink of this.pendingAttach.get(rec.Id) ?? []) sink.abort(message);
      this.pendingAttach.delete(rec.Id);
      if (created) await this.runtime.delete(rec.Id, { force: true }).catch(() => undefined);
      await this.snapshots.unmount(rec.RootfsPath).catch(() => undefined);
      await this.networks.disconnect(this.endpointRequest(rec)).catch(() => undefined);
      rec.State.Error = message;
      // Docker's exit codes for a command that cannot run: 127 not found, 126 not executable.
      if (/executable file not found|no such file or directory/i.test(message)) rec.State.ExitCode = 127;
      else if (/permission denied/i.test(message)) rec.State.ExitCode = 126;
      else rec.State.ExitCode = 128;
      rec.State.Pid = 0;
      rec.State.ConmonPid = 0;
      rec.State.StartedAt = previousStart;
      rec.State.Status = previousStart === ZERO_TIME ? 'created' : 'exited';
      await this.store.save(rec);
      const kind = rec.State.ExitCode === 127 || rec.State.ExitCode === 126 ? 'invalid' : 'internal';
      throw new EngineError(err instanceof EngineError ? err.kind : kind, `failed to create task for container: ${message}`, { cause: err });
    }
  }

  private watchExit(rec: ContainerRecord): void {
    this.exitWatches.get(rec.Id)?.();
    const cancel = this.runtime.watchExit(rec.Id, (status) => {
      this.exitWatches.delete(rec.Id);
      this.onExit(rec.Id, status);
    });
    this.exitWatches.set(rec.Id, cancel);
  }

  /**
   * The container's process ended. The exit is recorded and told to waiters at once (a stop
   * that holds the container's lock is waiting for it); cleanup, restart and auto-removal
   * follow under the lock, after whatever operation holds it now.
   */
  private onExit(id: string, status: ExitStatus): void {
    const rec = this.store.find(id);
    if (!rec) return;
    rec.State = {
      ...rec.State,
      Status: 'exited',
      Pid: 0,
      ConmonPid: 0,
      ExitCode: status.exitCode,
      OOMKilled: status.oomKilled,
      FinishedAt: status.finishedAt.toISOString(),
    };
    this.emit('container', 'die', id, { ...this.eventAttributes(rec), exitCode: String(status.exitCode) });
    if (status.oomKilled) this.emit('container', 'oom', id, this.eventAttributes(rec));
    this.signals.emit(`exit:${id}`, status.exitCode);
    this.mutex
      .run(id, async () => {
        // Removed meanwhile (a forced remove cleans up itself), or started again already.
        if (this.store.find(id) !== rec || rec.State.Status !== 'exited') return;
        await this.cleanupAfterExit(rec);
        if (!this.shuttingDown && this.shouldRestart(rec)) this.scheduleRestart(rec);
        else if (!this.shuttingDown && rec.HostConfig.AutoRemove) return this.removeLocked(rec);
        await this.store.save(rec, { durable: false });
      })
      .catch((err: unknown) => log.error({ err, id }, 'handling a container exit failed'));
  }

  private async cleanupAfterExit(rec: ContainerRecord): Promise<void> {
    // Independent of each other: the process is gone, so its runtime state, its rootfs mount
    // and its network endpoint go side by side.
    await Promise.all([
      this.runtime.delete(rec.Id, { force: true }).catch((err: unknown) => log.warn({ err, id: rec.Id }, 'runtime delete after exit')),
      this.snapshots.unmount(rec.RootfsPath).catch((err: unknown) => log.warn({ err, id: rec.Id }, 'unmount after exit')),
      this.networks.disconnect(this.endpointRequest(rec)).catch((err: unknown) => log.warn({ err, id: rec.Id }, 'network disconnect after exit')),
    ]);
  }

  private shouldRestart(rec: ContainerRecord): boolean {
    const policy = rec.HostConfig.RestartPolicy;
    if (!policy || rec.State.StoppedByUser) return false;
    switch (policy.Name) {
      case 'always':
      case 'unless-stopped':
        return true;
      case 'on-failure':
        return rec.State.ExitCode !== 0 && (policy.MaximumRetryCount === 0 || rec.RestartCount < policy.MaximumRetryCount);
      default:
        return false;
    }
  }

  private scheduleRestart(rec: ContainerRecord): void {
    // Docker's back-off: 100 ms, doubling, at most a minute; reset after 10 s of running.
    const ranMs = Date.parse(rec.State.FinishedAt) - Date.parse(rec.State.StartedAt);
    const attempt = ranMs > 10_000 ? 0 : Math.min(rec.RestartCount, 10);
    const delay = Math.min(100 * 2 ** attempt, 60_000);
    rec.State.Status = 'restarting';
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.Id);
      this.mutex
        .run(rec.Id, async () => {
          if (rec.State.Status !== 'restarting' || !this.store.find(rec.Id)) return;
          rec.RestartCount++;
          await this.startLocked(rec);
          this.emit('container', 'restart', rec.Id, this.eventAttributes(rec));
        })
        .catch((err: unknown) => log.error({ err, id: rec.Id }, 'restart by policy failed'));
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.Id, timer);
  }

  private cancelRestart(id: string): void {
    const timer = this.restartTimers.get(id);
    if (timer) clearTimeout(timer);
    this.restartTimers.delete(id);
  }

  // ---- stop, kill, restart, pause ------------------------------------------------------------

  async stop(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status === 'restarting') {
        this.cancelRestart(rec.Id);
        rec.State.Status = 'exited';
        rec.State.StoppedByUser = true;
        await this.store.save(rec);
        return;
      }
      if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') throw notModified();
      rec.State.StoppedByUser = true;
      await this.stopLocked(rec, opts);
      this.emit('container', 'stop', rec.Id, this.eventAttributes(rec));
    });
  }

  private async stopLocked(rec: ContainerRecord, opts: { signal?: string; timeout?: number }): Promise<void> {
    const signal = opts.signal || rec.Config.StopSignal || 'SIGTERM';
    const timeout = opts.timeout ?? rec.Config.StopTimeout ?? 10;
    const exited = this.nextExit(rec.Id);
    if (rec.State.Status === 'paused') await this.runtime.resume(rec.Id).catch(() => undefined);
    await this.killQuietly(rec, signal);
    if (timeout < 0) {
      await exited;
      return;
    }
    if (await within(exited, timeout * 1000)) return;
    await this.killQuietly(rec, 'SIGKILL');
    if (!(await within(exited, 30_000))) throw new EngineError('internal', `container ${rec.Id} did not exit after SIGKILL`);
  }

  private async killQuietly(rec: ContainerRecord, signal: string): Promise<void> {
    this.emit('container', 'kill', rec.Id, { ...this.eventAttributes(rec), signal: signalNumberName(signal) });
    try {
      await this.runtime.kill(rec.Id, signal);
    } catch (err) {
      // It may have exited between our check and the signal; the exit handler records it.
      log.debug({ err, id: rec.Id, signal }, 'kill failed');
    }
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') throw conflict(`Container ${rec.Id} is not running`);
      validateSignal(signal);
      const sig = normalizeSignal(signal);
      if (sig === 'SIGKILL' || sig === 'SIGTERM' || sig === 'SIGINT') rec.State.StoppedByUser = true;
      this.emit('container', 'kill', rec.Id, { ...this.eventAttributes(rec), signal: signalNumberName(signal) });
      try {
        await this.runtime.kill(rec.Id, sig);
      } catch (err) {
        throw withContext(`cannot kill container ${rec.Id}`, err);
      }
    });
  }

  async restart(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      this.cancelRestart(rec.Id);
      if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
        rec.State.StoppedByUser = true;
        await this.stopLocked(rec, opts);
      }
      rec.State.StoppedByUser = false;
      await this.startLocked(rec);
      this.emit('container', 'restart', rec.Id, this.eventAttributes(rec));
    });
  }

  async pause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status !== 'running') throw conflict(`Container ${rec.Id} is not running`);
      await this.runtime.pause(rec.Id);
      rec.State.Status = 'paused';
      await this.store.save(rec);
      this.emit('container', 'pause', rec.Id, this.eventAttributes(rec));
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status !== 'paused') throw conflict(`Container ${rec.Id} is not paused`);
      await this.runtime.resume(rec.Id);
      rec.State.Status = 'running';
      await this.store.save(rec);
      this.emit('container', 'unpause', rec.Id, this.eventAttributes(rec));
    });
  }

  // ---- wait, remove, rename ---------------------------------------------------------------

  /** Resolves with the exit code of the next exit of the container. */
  private nextExit(id: string): Promise<number> {
    return new Promise((resolve) => this.signals.once(`exit:${id}`, resolve));
  }

  /**
   * Docker's wait conditions. The returned promise settles when the condition is met; the
   * caller sends headers before awaiting it.
   */
  wait(ref: string, condition: WaitCondition = 'not-running'): Promise<WaitResult> {
    const rec = this.store.get(ref);
    const id = rec.Id;
    const result = (code: number): WaitResult => ({ StatusCode: code, Error: null });
    const running = (): boolean => ['running', 'paused', 'restarting'].includes(rec.State.Status);
    if (condition === 'removed') {
      return new Promise((resolve) => {
        this.signals.once(`removed:${id}`, () => resolve(result(rec.State.ExitCode)));
      });
    }
    if (condition === 'not-running' && !running()) return Promise.resolve(result(rec.State.ExitCode));
    return this.nextExit(id).then(result);
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.store.get(ref);
    await this.mutex.run(rec.Id, async () => {
      if (this.store.find(rec.Id) !== rec) return;
      this.cancelRestart(rec.Id);
      if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
        if (!opts.force) {
          throw conflict(
            `cannot remove container "/${rec.Name}": container is running: stop the container before removing or force remove`,
          );
        }
        rec.State.StoppedByUser = true;
        const exited = this.nextExit(rec.Id);
        if (rec.State.Status === 'paused') await this.runtime.resume(rec.Id).catch(() => undefined);
        await this.killQuietly(rec, 'SIGKILL');
        if (!(await within(exited, 30_000))) throw new EngineError('internal', `container ${rec.Id} did not exit after SIGKILL`);
      }
      await this.removeLocked(rec);
    });
  }

  /** Remove a container that does not run; the caller holds its lock. */
  private async removeLocked(rec: ContainerRecord): Promise<void> {
    rec.State.Status = 'removing';
    this.exitWatches.get(rec.Id)?.();
    this.exitWatches.delete(rec.Id);
    for (const sink of this.pendingAttach.get(rec.Id) ?? []) sink.abort('container removed');
    this.pendingAttach.delete(rec.Id);
    // The process first (a forced remove kills it): its writable layer goes after it.
    await this.runtime.delete(rec.Id, { force: true });
    await Promise.all([
      this.snapshots.unmount(rec.RootfsPath).then(() => this.snapshots.removeActive(rec.SnapshotKey)),
      this.networks.disconnect(this.endpointRequest(rec)),
    ]);
    await this.store.remove(rec);
    this.emit('container', 'destroy', rec.Id, this.eventAttributes(rec));
    this.signals.emit(`removed:${rec.Id}`);
    this.afterRemove?.();
  }

  /** Called after a container is removed (images frees layers of images deleted while in use). */
  afterRemove: (() => void) | undefined;

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.store.get(ref);
    if (!newName) throw invalid('Neither old nor new names may be empty');
    if (!NAME_RE.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const name = newName.replace(/^\//, '');
    if (name === rec.Name) throw invalid(`Renaming a container with the same name as its current name`);
    await this.mutex.run(rec.Id, async () => {
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
      this.emit('container', 'rename', rec.Id, { ...this.eventAttributes(rec), oldName: `/${old}` });
    });
  }

  /** Remove every stopped container; returns their IDs. */
  async prune(keep: (rec: ContainerRecord) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of this.store.all()) {
      if (rec.State.Status !== 'exited' && rec.State.Status !== 'created' && rec.State.Status !== 'dead') continue;
      if (keep(rec)) continue;
      reclaimed += await this.snapshots.activeUsage(rec.SnapshotKey).catch(() => 0);
      await this.remove(rec.Id, {});
      deleted.push(rec.Id);
    }
    this.emit('container', 'prune', '', { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---- attach -------------------------------------------------------------------------

  /**
   * Attach a client. A running container connects at once; a created one connects when it
   * starts, before its process runs, so no output is lost.
   */
  async attach(ref: string, sink: AttachSink): Promise<void> {
    const rec = this.store.get(ref);
    this.emit('container', 'attach', rec.Id, this.eventAttributes(rec));
    await this.mutex.run(rec.Id, async () => {
      if (rec.State.Status === 'running' || rec.State.Status === 'paused') {
        sink.connect(await this.runtime.attach(rec.Id));
        return;
      }
      let set = this.pendingAttach.get(rec.Id);
      if (!set) this.pendingAttach.set(rec.Id, (set = new Set()));
      set.add(sink);
    });
  }

  detachPending(id: string, sink: AttachSink): void {
    this.pendingAttach.get(id)?.delete(sink);
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const rec = this.store.get(ref);
    if (rec.State.Status !== 'running') throw conflict(`Container ${rec.Id} is not running`);
    await this.runtime.resize(rec.Id, height, width);
  }

  // ---- daemon start and stop ----------------------------------------------------------------

  /**
   * After pierd starts: find each container that was running again. Running ones get their
   * exit watched; ones that exited while pierd was down get their exit recorded (and their
   * restart policy applied); `always` containers that are not running are started.
   */
  async reconcile(): Promise<void> {
    for (const rec of this.store.all()) {
      try {
        await this.mutex.run(rec.Id, () => this.reconcileOne(rec));
      } catch (err) {
        log.error({ err, id: rec.Id }, 'reconcile failed');
      }
    }
    await this.runtime.removeLeftovers(new Set(this.store.all().map((r) => r.Id))).catch((err: unknown) => log.warn({ err }, 'removing leftover runtime state'));
  }

  private async reconcileOne(rec: ContainerRecord): Promise<void> {
    const wasLive = ['running', 'paused', 'restarting', 'removing'].includes(rec.State.Status);
    if (!wasLive) return;
    if (rec.State.Status === 'removing') {
      // A removal that the daemon's death interrupted: finish it.
      setImmediate(() => void this.remove(rec.Id, { force: true }).catch((err: unknown) => log.error({ err, id: rec.Id }, 'finishing a removal')));
      return;
    }
    const state = await this.runtime.state(rec.Id);
    if (state.status === 'running' || state.status === 'paused') {
      log.info({ id: rec.Id, pid: state.pid }, 'container still running: watching it again');
      rec.State.Status = state.status;
      this.watchExit(rec);
      return;
    }
    const status = (await this.runtime.exitStatus(rec.Id)) ?? { exitCode: 255, finishedAt: new Date(), oomKilled: false };
    log.info({ id: rec.Id, exitCode: status.exitCode }, 'container exited while pierd was down');
    this.onExit(rec.Id, status);
  }

  /** On daemon shutdown: stop restart timers and watches. Containers keep running. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const id of this.restartTimers.keys()) this.cancelRestart(id);
    for (const cancel of this.exitWatches.values()) cancel();
    this.exitWatches.clear();
  }

  // ---- helpers --------------------------------------------------------------------------------

  eventAttributes(rec: ContainerRecord): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image, name: rec.Name };
  }

  /** What the networks part needs to know of a container (also used by the /networks routes). */
  endpointRequest(rec: ContainerRecord): EndpointRequest {
    return {
      containerId: rec.Id,
      containerName: rec.Name,
      hostname: rec.Config.Hostname ?? rec.Id.slice(0, 12),
      domainname: rec.Config.Domainname ?? '',
      networkMode: rec.HostConfig.NetworkMode ?? '',
      extraHosts: rec.HostConfig.ExtraHosts ?? [],
      dns: rec.HostConfig.Dns ?? [],
      dnsSearch: rec.HostConfig.DnsSearch ?? [],
      dnsOptions: rec.HostConfig.DnsOptions ?? [],
      containerDir: this.store.containerDir(rec.Id),
      endpointsConfig: (rec.NetworkingConfig?.EndpointsConfig ?? undefined) as EndpointRequest['endpointsConfig'],
      portBindings: rec.HostConfig.PortBindings ?? undefined,
      exposedPorts: Object.keys(rec.Config.ExposedPorts ?? {}),
      publishAllPorts: rec.HostConfig.PublishAllPorts ?? false,
      macAddress: rec.Config.MacAddress ?? undefined,
    };
  }

  private specOf(rec: ContainerRecord, network: ContainerSpec['network']): ContainerSpec {
    const hc = rec.HostConfig;
    const securityOpt = hc.SecurityOpt ?? [];
    return {
      id: rec.Id,
      rootfs: rec.RootfsPath,
      readonlyRootfs: hc.ReadonlyRootfs ?? false,
      args: [rec.Path, ...rec.Args],
      env: rec.Config.Env,
      cwd: rec.Config.WorkingDir || '/',
      user: rec.Config.User ?? '',
      groupAdd: hc.GroupAdd ?? [],
      hostname: rec.Config.Hostname ?? rec.Id.slice(0, 12),
      domainname: rec.Config.Domainname ?? '',
      tty: rec.Config.Tty ?? false,
      consoleSize: consoleSize(hc.ConsoleSize),
      openStdin: rec.Config.OpenStdin ?? false,
      stdinOnce: rec.Config.StdinOnce ?? false,
      init: hc.Init ?? this.opts.defaultInit,
      privileged: hc.Privileged ?? false,
      capAdd: hc.CapAdd ?? [],
      capDrop: hc.CapDrop ?? [],
      noNewPrivileges: securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
      seccomp: securityOpt.some((o) => /^seccomp[:=]unconfined$/.test(o)) ? 'unconfined' : 'default',
      shmSize: hc.ShmSize || this.opts.defaultShmSize,
      mounts: bindMounts(hc),
      network,
      ipcMode: hc.IpcMode === 'host' ? 'host' : hc.IpcMode === 'shareable' ? 'shareable' : 'private',
      pidMode: hc.PidMode === 'host' ? 'host' : 'private',
      resources: {
        memory: hc.Memory || undefined,
        memorySwap: hc.MemorySwap || undefined,
        memoryReservation: hc.MemoryReservation || undefined,
        nanoCpus: hc.NanoCpus || undefined,
        cpuShares: hc.CpuShares || undefined,
        cpuPeriod: hc.CpuPeriod || undefined,
        cpuQuota: hc.CpuQuota || undefined,
        cpusetCpus: hc.CpusetCpus || undefined,
        pidsLimit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
        blkioWeight: hc.BlkioWeight || undefined,
      },
      ulimits: hc.Ulimits ?? this.opts.defaultUlimits,
      sysctls: hc.Sysctls ?? {},
      annotations: { 'io.pier.container.name': rec.Name },
    };
  }
}

// ---- pure helpers (exported for tests) ------------------------------------------------------------

function asList(v: string[] | string | undefined | null): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? ['/bin/sh', '-c', v] : v;
}

/** A create request's Config, completed from the image as Docker does. */
export function mergeConfig(body: CreateBody, image: ImageRunConfig, id: string): ContainerRecord['Config'] {
  const env = new Map<string, string>();
  for (const e of [...(image.Env ?? []), ...(body.Env ?? [])]) {
    const i = e.indexOf('=');
    env.set(i < 0 ? e : e.slice(0, i), e);
  }
  const entrypointGiven = body.Entrypoint !== undefined;
  const entrypoint = entrypointGiven ? asList(body.Entrypoint) : (image.Entrypoint ?? undefined);
  // An entrypoint given on create drops the image's Cmd unless Cmd is given too.
  const cmd = body.Cmd !== undefined && !(Array.isArray(body.Cmd) && body.Cmd.length === 0 && !entrypointGiven)
    ? asList(body.Cmd)
    : entrypointGiven
      ? undefined
      : (image.Cmd ?? undefined);
  const entry = entrypoint && entrypoint.length === 1 && entrypoint[0] === '' ? undefined : entrypoint;
  const { HostConfig: _hostConfig, NetworkingConfig: _networkingConfig, Platform: _platform, ...config } = body;
  return {
    ...config,
    Hostname: body.Hostname || id.slice(0, 12),
    Domainname: body.Domainname ?? '',
    User: body.User || image.User || '',
    Env: [...env.values()],
    Cmd: cmd && cmd.length > 0 ? cmd : undefined,
    Entrypoint: entry && entry.length > 0 ? entry : undefined,
    Image: body.Image ?? '',
    WorkingDir: body.WorkingDir || image.WorkingDir || '',
    Labels: { ...(image.Labels ?? {}), ...(body.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(body.Volumes ?? {}) },
    StopSignal: body.StopSignal || image.StopSignal || undefined,
    Healthcheck: body.Healthcheck ?? (image.Healthcheck as ContainerRecord['Config']['Healthcheck']),
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
  };
}

export function validateHostConfig(hc: HostConfig): void {
  const policy = hc.RestartPolicy?.Name ?? '';
  if (hc.AutoRemove && policy !== '' && policy !== 'no') {
    throw invalid('conflicting options: cannot specify both --restart and --rm');
  }
  if (policy !== 'on-failure' && (hc.RestartPolicy?.MaximumRetryCount ?? 0) > 0) {
    throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (hc.Memory && hc.Memory > 0 && hc.Memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (hc.NanoCpus && hc.CpuQuota) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (hc.CpuShares !== undefined && hc.CpuShares !== 0 && hc.CpuShares < 2) throw invalid('minimum allowed cpu-shares is 2');
}

/** `-v /host:/ctr[:ro]` binds with an absolute host path (named volumes come with the volumes issue). */
function bindMounts(hc: HostConfig): Mount[] {
  const mounts: Mount[] = [];
  for (const bind of hc.Binds ?? []) {
    const [source, target, mode = ''] = bind.split(':');
    if (!source || !target || !source.startsWith('/')) continue;
    const options = ['rbind', mode.split(',').includes('ro') ? 'ro' : 'rw'];
    mounts.push({ destination: target, type: 'bind', source, options });
  }
  for (const m of hc.Mounts ?? []) {
    if ((m.Type ?? 'volume') === 'bind' && m.Source) {
      mounts.push({ destination: m.Target, type: 'bind', source: m.Source, options: ['rbind', m.ReadOnly ? 'ro' : 'rw'] });
    } else if (m.Type === 'tmpfs') {
      mounts.push({ destination: m.Target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
    }
  }
  for (const [target, opts] of Object.entries(hc.Tmpfs ?? {})) {
    mounts.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(opts ? opts.split(',') : [])] });
  }
  return mounts;
}

/** HostConfig.ConsoleSize is [height, width]; [0, 0] means unknown. */
function consoleSize(size: number[] | undefined): ContainerSpec['consoleSize'] {
  const [height = 0, width = 0] = size ?? [];
  return height > 0 && width > 0 ? { height, width } : undefined;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** `TERM`, `sigterm`, `15` → `SIGTERM` (numbers stay numbers). */
export function normalizeSignal(signal: string): string {
  if (/^\d+$/.test(signal)) return signal;
  const up = signal.toUpperCase();
  return up.startsWith('SIG') ? up : `SIG${up}`;
}

function validateSignal(signal: string): void {
  const s = normalizeSignal(signal);
  if (/^\d+$/.test(s) ? Number(s) < 1 || Number(s) > 64 : !(s in SIGNALS) && !/^SIGRTM(IN|AX)([+-]\d+)?$/.test(s)) {
    throw invalid(`Invalid signal: ${signal}`);
  }
}

/** The number of a signal as a string, as Docker puts it in kill events. */
function signalNumberName(signal: string): string {
  const s = normalizeSignal(signal);
  return /^\d+$/.test(s) ? s : String(SIGNALS[s] ?? s);
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
