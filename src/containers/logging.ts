import { conflict, isKind, notImplemented } from '../errors.js';
import { log } from '../log.js';
import { FolderWatcher } from '../util/inotify.js';
import type { ContainerLogs, ContainerView, LogQuery } from './containers.js';
import { isLive, type ContainerCore } from './core.js';
import { logAttributes, logPolicy, mergeLogConfig, type LogConfig, type LogPolicy } from './log-config.js';
import { FLOOR_SIZE, LogRotation } from './log-rotation.js';
import { logBytes, readLog, type LogEntry } from './logs.js';
import type { ContainerRecord } from './types.js';

/**
 * A container's log, from create to removal: the driver its create asked for (merged with
 * the daemon's default), its files made ready before each run and rotated while it runs
 * (log-rotation.ts), and reading it back (`docker logs`, attach's `logs=1`).
 */
export class Logging implements ContainerLogs {
  private readonly watcher = new FolderWatcher();
  private readonly rotations = new Map<string, LogRotation>();

  constructor(
    private readonly core: ContainerCore,
    /** The daemon's `log-driver` and `log-opts` (checked already). */
    private readonly defaults: LogConfig,
  ) {}

  /** A create's log config, as Docker stores it: merged with the daemon's default, checked (`invalid`). */
  configFor(asked: ContainerRecord['HostConfig']['LogConfig']): LogConfig {
    return mergeLogConfig(asked, this.defaults);
  }

  /**
   * The log config a container has. One whose stored config pier refuses (created before
   * drivers were checked) gets the daemon's; any other failure reaches the caller.
   */
  configOf(c: ContainerView): LogConfig {
    try {
      return mergeLogConfig(c.HostConfig.LogConfig, this.defaults);
    } catch (err) {
      if (!isKind(err, 'invalid')) throw err;
      return { Type: this.defaults.Type, Config: { ...this.defaults.Config } };
    }
  }

  /**
   * Before conmon starts a run: the log's files made ready and watched. What conmon is to be
   * given: the log's path and the size at which it rotates, or no log at all (`none`).
   */
  prepareRun(rec: ContainerRecord): { path: string | null; sizeMax?: number } {
    const policy = logPolicy(this.configOf(rec));
    if (!policy.readable) return { path: null };
    const rotation = this.rotationOf(rec, policy);
    rotation.prepare();
    rotation.watch();
    return { path: rec.LogPath, sizeMax: Math.max(policy.maxSize, FLOOR_SIZE) };
  }

  /** A container runs (or was found running at pierd's start): its rotations are followed. */
  started(rec: ContainerRecord): void {
    const policy = logPolicy(this.configOf(rec));
    if (!policy.readable) return;
    try {
      this.rotationOf(rec, policy).watch();
    } catch (err) {
      log.warn({ err, id: rec.Id }, 'log rotation: cannot watch the log');
    }
  }

  /** Its run ended: what conmon wrote last is named and tidied (log-rotation.ts), and the watch ends. */
  exited(id: string): void {
    const rotation = this.rotations.get(id);
    if (!rotation) return;
    rotation.finish();
  }

  forget(id: string): void {
    this.rotations.get(id)?.unwatch();
    this.rotations.delete(id);
  }

  shutdown(): void {
    for (const r of this.rotations.values()) r.unwatch();
    this.watcher.close();
  }

  logs(ref: string, query: LogQuery, signal?: AbortSignal): { tty: boolean; chunks: AsyncGenerator<Buffer> } {
    const rec = this.readable(ref);
    const cfg = this.configOf(rec);
    const chunks = logBytes(rec.LogPath, {
      follow: query.follow,
      sinceNs: query.sinceNs,
      untilNs: query.untilNs,
      tail: query.tail,
      stdout: query.stdout,
      stderr: query.stderr,
      timestamps: query.timestamps,
      details: query.details ? logAttributes(cfg, rec) : undefined,
      multiplexed: !(rec.Config.Tty ?? false),
      isRunning: () => this.live(rec.Id),
      signal,
    });
    return { tty: rec.Config.Tty ?? false, chunks };
  }

  history(ref: string): AsyncGenerator<LogEntry> {
    const rec = this.readable(ref);
    return readLog(rec.LogPath, { follow: false, isRunning: () => false });
  }

  /** The container, if its log can be read (Docker's refusals otherwise). */
  private readable(ref: string): ContainerRecord {
    const rec = this.core.store.get(ref);
    if (rec.State.Status === 'removing' || rec.State.Status === 'dead') throw conflict('can not get logs from container which is dead or marked for removal');
    if (!logPolicy(this.configOf(rec)).readable) throw notImplemented('configured logging driver does not support reading');
    return rec;
  }

  private live(id: string): boolean {
    const rec = this.core.store.find(id);
    return rec !== undefined && isLive(rec.State.Status);
  }

  private rotationOf(rec: ContainerRecord, policy: LogPolicy): LogRotation {
    let rotation = this.rotations.get(rec.Id);
    if (!rotation) {
      rotation = new LogRotation(rec.LogPath, policy, this.watcher);
      this.rotations.set(rec.Id, rotation);
    }
    return rotation;
  }
}
