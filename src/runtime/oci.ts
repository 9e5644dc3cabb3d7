import { constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { conflict, EngineError, errnoCode, internal, invalid, notFound, unavailable } from '../errors.js';
import { log } from '../log.js';
import { parseSignal } from '../util/signals.js';
import { openAttach } from './attach.js';
import { checkCommand } from './command.js';
import { detectCgroupLayout, readCgroupProcs, readCgroupStats, readOomKills, type CgroupLayout, type CgroupStats, DEFAULT_CGROUP_ROOT } from './cgroups.js';
import { createError, runConmon, runtimeMessage } from './conmon.js';
import type {
  AttachStreams,
  ContainerRuntime,
  ContainerSpec,
  CreatedContainer,
  ExecProcess,
  ExecSession,
  ExitStatus,
  Resources,
  RuntimeState,
} from './runtime.js';
import { applyCgroupLimits, resourceLimits } from './resources.js';
import { readHostInfo, type HostInfo } from './host-info.js';
import { kernelState, parseStateOutput } from './kernel-state.js';
import { buildOciConfig, serializeOciConfig } from './spec.js';
import { resolveUser } from './user.js';
import { writeNetSysctls } from './netns-sysctls.js';
import { daemonMigrationWarmer, type MigrationWarmer } from './migration-warmer.js';
import { bundlePaths, checkId, isRuntimeId, type BundlePaths } from './bundle.js';
import { conmonAlive, conmonLogLevel, waitConmonGone, writeResize } from './conmon-ctl.js';
import { writeStdinWrapper, writeUnifiedlessWrapper } from './crun-wrapper.js';
import { chooseRuntimes, type RuntimeBinary, type RuntimeName } from './runtime-choice.js';
import { readExitFile, watchExitFile } from './exit-file.js';
import { execInContainer } from './oci-exec.js';
import { startCrunThroughFifo, startRuncThroughFifo } from './start-fifo.js';
import { containerDevices, removeCgroup, specThrottles } from './spec-devices.js';
import { type LightChild, readText, spawnLight } from '../util/spawn.js';
import { mark } from '../util/trace.js';

export interface OciRuntimeOptions {
  /** Runtime state root (`/run/pier`): containers live under `<execRoot>/containers/<id>/`. */
  execRoot: string;
  /** `auto`: crun where the cgroup layout allows it, runc otherwise. */
  runtime: 'crun' | 'runc' | 'auto';
  /** Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Containers' cgroups are `/<cgroupParent>/<id>` (default `pier`). */
  cgroupParent?: string;
  conmonPath?: string;
  runcPath?: string;
  crunPath?: string;
  /** Static init bound at /sbin/docker-init (default /usr/bin/tini-static). */
  initPath?: string;
  /** Apply pier's default seccomp profile to containers asking for `default` (default true). */
  seccomp?: boolean;
  /** conmon's --log-level (trace, debug, info, warn, error); default: from pier's log level. */
  logLevel?: string;
}

const CONMON = '/usr/bin/conmon';
const TINI = '/usr/bin/tini-static';

/**
 * ContainerRuntime on conmon + runc/crun. State of container `<id>`, all under
 * `<execRoot>/containers/<id>/`:
 *
 *   bundle/config.json   the OCI config (rootfs path from the spec)
 *   bundle/attach        conmon's attach socket; bundle/ctl, bundle/winsz: its fifos
 *   conmon.pid, pidfile  conmon's and the container's first process's PIDs
 *   exits/<id>           the exit code, written by conmon when the container exits
 *   persist/exit, oom    the exit code again; `oom` when the kernel OOM-killed in it
 *   exec/<session>/      one exec: process.json, its conmon's attach socket, ctl fifo and
 *                        exit dir; removed when the exec ends
 *
 * The OCI runtime keeps its own state under `<execRoot>/runtime-root` (`--root`), so two pierd
 * with different exec roots never see each other's containers. Everything survives pierd:
 * a new OciRuntime on the same exec root finds containers by id.
 */
export class OciRuntime implements ContainerRuntime {
  /** The default runtime: the one of a container that names none. */
  readonly name: 'crun' | 'runc';
  readonly path: string;
  /** The runtimes a container can name (`HostConfig.Runtime`), the default among them; those not installed go at init. */
  private readonly binaries = new Map<RuntimeName, RuntimeBinary>();
  /** The runtime of each container seen since start (also kept in its folder, file `runtime`). */
  private readonly runtimeOf = new Map<string, RuntimeBinary>();
  /** Why `name` was chosen (for `info` and the log). */
  readonly reason: string;
  readonly layout: CgroupLayout;

  private readonly execRoot: string;
  private readonly runtimeRoot: string;
  private readonly cgroupParent: string;
  private readonly conmonPath: string;
  private readonly initPath: string;
  /** What the host offers containers, read once at construction. */
  readonly host: HostInfo;
  private readonly seccomp: boolean;
  private readonly conmonLogLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Settles when the conmon of a container this daemon started has exited (its sync pipe closed). */
  private readonly conmonGone = new Map<string, Promise<void>>();
  /** Keeps runc's first write to cgroup.procs from waiting for an RCU grace period. */
  private readonly warmer: MigrationWarmer;
  /** Exited containers whose runtime state is being removed in the background. */
  private readonly reaping = new Map<string, Promise<void>>();

  constructor(opts: OciRuntimeOptions) {
    this.execRoot = opts.execRoot;
    this.runtimeRoot = join(opts.execRoot, 'runtime-root');
    this.cgroupParent = (opts.cgroupParent ?? 'pier').replace(/^\/+|\/+$/g, '');
    this.conmonPath = opts.conmonPath ?? CONMON;
    this.initPath = opts.initPath ?? TINI;
    this.layout = detectCgroupLayout(opts.cgroupRoot ?? DEFAULT_CGROUP_ROOT);
    this.host = readHostInfo(this.layout);
    this.warmer = daemonMigrationWarmer(this.layout);
    this.seccomp = opts.seccomp ?? true;
    this.conmonLogLevel = conmonLogLevel(opts.logLevel ?? log.level);

    const chosen = chooseRuntimes(opts, this.layout, this.execRoot);
    this.name = chosen.name;
    this.reason = chosen.reason;
    this.path = chosen.binaries.get(this.name)!.path;
    for (const [k, b] of chosen.binaries) this.binaries.set(k, b);
    log.info({ runtime: this.name, path: this.path, reason: this.reason, cgroups: this.layout.mode }, 'OCI runtime chosen');
  }

  /**
   * Check that conmon, the runtime and the init binary are there, and create the state folders.
   * Call once before use.
   */
  async init(): Promise<void> {
    for (const [what, path] of [
      ['conmon', this.conmonPath],
      [this.name, this.path],
      ['init', this.initPath],
    ] as const) {
      try {
        await access(path, constants.X_OK);
      } catch (err) {
        throw unavailable(`${what} not found or not executable at ${path}`, err);
      }
    }
    for (const b of [...this.binaries.values()]) {
      if (b.name === this.name) continue;
      await access(b.path, constants.X_OK).catch(() => this.binaries.delete(b.name));
    }
    await mkdir(join(this.execRoot, 'containers'), { recursive: true, mode: 0o700 });
    await mkdir(this.runtimeRoot, { recursive: true, mode: 0o700 });
    for (const b of this.binaries.values()) {
      if (b.execCommand !== b.path) await writeStdinWrapper(b.execCommand, b.path);
      if (b.withoutUnified) await writeUnifiedlessWrapper(b.command, b.path, b.withoutUnified);
    }
  }

  /** The runtimes containers can name (`info`'s Runtimes), the default first. */
  runtimes(): Array<{ name: RuntimeName; path: string }> {
    const all = [...this.binaries.values()].map((b) => ({ name: b.name, path: b.path }));
    return all.sort((a, b) => (a.name === this.name ? -1 : b.name === this.name ? 1 : 0));
  }

  /**
   * The runtime of container `id`: the one its create chose (kept in its folder), the
   * default for a container it does not know.
   */
  private binaryOf(id: string): RuntimeBinary {
    const known = this.runtimeOf.get(id);
    if (known) return known;
    let name: string | undefined;
    try {
      name = readFileSync(join(this.containerDir(id), 'runtime'), 'utf8').trim();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    const b = (name && this.binaries.get(name as RuntimeName)) || this.binaries.get(this.name)!;
    if (name) this.runtimeOf.set(id, b);
    return b;
  }

  /** The container's cgroup (cgroupfs path) `/pier/<id>`. */
  cgroupsPath(id: string): string {
    return `/${this.cgroupParent}/${id}`;
  }

  /** The folder holding everything of container `id`. */
  containerDir(id: string): string {
    return join(this.execRoot, 'containers', checkId(id));
  }

  async create(spec: ContainerSpec, logPath: string | null, opts: { logSizeMax?: number } = {}): Promise<CreatedContainer> {
    await this.reaping.get(spec.id);
    const p = this.paths(spec.id);
    if (existsSync(p.dir)) await this.delete(spec.id);
    const binary = this.binaries.get(spec.runtime ?? this.name);
    if (!binary) throw invalid(`Unknown runtime specified ${spec.runtime ?? ''}`);
    // Behind an init the runtime looks up the init, not the command: check the command here.
    if (spec.init && spec.args[0] !== undefined) checkCommand(spec.rootfs, spec.args[0], spec.env, spec.cwd, spec.mounts.map((m) => m.destination));
    const [user] = await Promise.all([
      resolveUser(spec.rootfs, spec.user, spec.groupAdd),
      mkdir(p.dir, { recursive: true }).then(() => Promise.all([mkdir(p.bundle), mkdir(p.exitDir), mkdir(p.persistDir)])),
    ]);
    const [devices, throttles] = await Promise.all([containerDevices(spec), specThrottles(spec)]);
    const { config, warnings, netSysctls } = buildOciConfig(spec, {
      user,
      host: this.host,
      cgroupsPath: this.cgroupsPath(spec.id),
      initPath: this.initPath,
      seccomp: this.seccomp,
      devices,
      throttles,
    });
    for (const w of warnings) log.warn({ container: spec.id }, w);
    if (netSysctls && spec.network.netns.kind === 'path') writeNetSysctls(spec.network.netns.path, netSysctls);
    // Not atomic on purpose: the bundle is read once, by the create below; a crash leaves a
    // bundle no one uses, replaced by the next create.
    writeFileSync(p.config, serializeOciConfig(config));
    writeFileSync(join(p.dir, 'runtime'), binary.name);
    mark(spec.id, 'runtime: bundle written');
    this.runtimeOf.set(spec.id, binary);
    const warm = this.warmer.hold();
    const created = await runConmon({
      conmonPath: this.conmonPath,
      runtimePath: binary.command,
      runtimeArgs: this.globalArgs(),
      id: spec.id,
      bundle: p.bundle,
      pidFile: p.pidFile,
      conmonPidFile: p.conmonPidFile,
      exitDir: p.exitDir,
      persistDir: p.persistDir,
      logPath,
      logSizeMax: opts.logSizeMax,
      logLevel: this.conmonLogLevel,
      stdin: spec.openStdin,
      // Docker closes a TTY container's stdin at no client's end (a detach is not an end of input).
      leaveStdinOpen: !spec.stdinOnce || spec.tty,
      tty: spec.tty,
      cwd: p.dir,
    }).finally(warm);
    const gone = created.gone.then(() => {
      if (this.conmonGone.get(spec.id) === gone) this.conmonGone.delete(spec.id);
    });
    this.conmonGone.set(spec.id, gone);
    return { pid: created.pid, conmonPid: created.conmonPid };
  }

  attach(id: string): Promise<AttachStreams> {
    const p = this.paths(id);
    try {
      return Promise.resolve(openAttach(p.attach));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        return Promise.reject(conflict(`container ${id} is not running (no attach socket)`, err));
      }
      return Promise.reject(internal(`attach ${id}: ${err instanceof Error ? err.message : String(err)}`, err));
    }
  }

  async start(id: string): Promise<void> {
    const fifo = join(this.runtimeRoot, checkId(id), 'exec.fifo');
    const started = this.binaryOf(id).name === 'runc' ? await startRuncThroughFifo(fifo) : startCrunThroughFifo(fifo);
    if (started) return;
    const r = await this.run(id, ['start', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'start', r.stderr, true);
  }

  async kill(id: string, signal: string | number): Promise<void> {
    const p = this.paths(id);
    if (existsSync(p.exitFile)) throw conflict(`container ${id} is not running`);
    const r = await this.run(id, ['kill', id, runtimeSignal(signal)]);
    if (r.code !== 0) throw this.commandError(id, 'kill', r.stderr);
  }

  async pause(id: string): Promise<void> {
    const r = await this.run(id, ['pause', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'pause', r.stderr);
  }

  async resume(id: string): Promise<void> {
    const r = await this.run(id, ['resume', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'resume', r.stderr);
  }

  async state(id: string): Promise<RuntimeState> {
    if (this.reaping.has(id)) throw notFound(`no such container in ${this.binaryOf(id).name}: ${id}`);
    const p = this.paths(id);
    if (existsSync(p.exitFile)) return { status: 'stopped', pid: 0 };
    const seen = kernelState(this.binaryOf(id).name, join(this.runtimeRoot, checkId(id)), this.layout, this.cgroupsPath(id));
    if (seen) return seen;
    const r = await this.run(id, ['state', id]);
    if (r.code !== 0) {
      const err = this.commandError(id, 'state', r.stderr);
      // Exited between the check above and the runtime's answer.
      if (err.kind === 'notFound' && existsSync(p.exitFile)) return { status: 'stopped', pid: 0 };
      throw err;
    }
    return parseStateOutput(r.stdout, `${this.name} state ${id}`);
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const p = this.paths(id);
    const exit = readExitFile(p.exitFile, id);
    if (!exit) return undefined;
    let oomKilled = existsSync(join(p.persistDir, 'oom'));
    if (!oomKilled) oomKilled = ((await readOomKills(this.layout, this.cgroupsPath(id))) ?? 0) > 0;
    return { ...exit, oomKilled };
  }

  watchExit(id: string, onExit: (status: ExitStatus) => void): () => void {
    const p = this.paths(id);
    return watchExitFile({ id, exitDir: p.exitDir, containerDir: p.dir }, () => this.exitStatus(id), onExit);
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const p = this.paths(id);
    // conmon may still hold the fifo open for a moment after the exit.
    if (existsSync(p.exitFile)) throw conflict(`container ${id} is not running`);
    await writeResize(p.ctl, `container ${id}`, height, width);
  }

  stats(id: string): Promise<CgroupStats> {
    return readCgroupStats(this.layout, this.cgroupsPath(checkId(id)));
  }

  async update(id: string, resources: Resources): Promise<void> {
    const p = this.paths(id);
    if (existsSync(p.exitFile) || !existsSync(p.dir)) throw conflict(`container ${id} is not running`);
    const warnings: string[] = [];
    const limits = resourceLimits(resources, this.host, warnings);
    for (const w of warnings) log.warn({ container: id }, w);
    await Promise.resolve().then(() => applyCgroupLimits(this.layout, this.cgroupsPath(checkId(id)), limits));
  }

  processes(id: string): number[] {
    return readCgroupProcs(this.layout, this.cgroupsPath(checkId(id)));
  }

  async exec(id: string, proc: ExecProcess): Promise<ExecSession> {
    return execInContainer(
      { paths: this.paths(id), host: this.host, runtimeName: this.binaryOf(id).name, conmonPath: this.conmonPath, runtimePath: this.binaryOf(id).execCommand, runtimeArgs: this.globalArgs(), conmonLogLevel: this.conmonLogLevel, warmer: this.warmer },
      id,
      proc,
    );
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const p = this.paths(id);
    const force = opts.force ?? false;
    // The folder is made before the runtime's create and removed after its delete: without
    // it the runtime has no such container (and pierd's start-time delete costs no spawn).
    if (this.reaping.has(id) || !existsSync(p.dir)) return;
    if (force && !existsSync(p.exitFile)) await this.killAndWait(id);
    if (!existsSync(p.exitFile)) return this.remove(id, force);
    // Exited: nothing of it runs any more. Its cgroups, runtime state and bundle go in the
    // background, off the path of every `run --rm`; a create of the same ID waits for them.
    const reap = this.remove(id, force)
      .catch((err: unknown) => log.warn({ err, container: id }, 'removing the runtime state of an exited container'))
      .finally(() => this.reaping.delete(id));
    this.reaping.set(id, reap);
  }

  async removeLeftovers(keep: ReadonlySet<string>): Promise<void> {
    for (const id of await readdir(join(this.execRoot, 'containers'))) {
      if (keep.has(id) || !isRuntimeId(id) || !existsSync(this.paths(id).exitFile)) continue;
      log.info({ container: id }, 'removing what is left of a deleted container');
      await this.delete(id, { force: true }).catch((err: unknown) => log.warn({ err, container: id }, 'removing a leftover container'));
    }
  }

  /** Settles when the runtime state of every deleted container is gone (at shutdown). */
  async drain(): Promise<void> {
    await Promise.all(this.reaping.values());
  }

  private async remove(id: string, force: boolean): Promise<void> {
    const p = this.paths(id);
    if (!(existsSync(p.exitFile) && (await this.deleteExited(id)))) {
      const r = await this.run(id, force ? ['delete', '--force', id] : ['delete', id]);
      if (r.code !== 0) {
        const err = this.commandError(id, 'delete', r.stderr);
        if (err.kind !== 'notFound') throw err;
      }
    }
    await this.waitConmonGone(id);
    await rm(p.dir, { recursive: true, force: true, maxRetries: 3 });
    this.runtimeOf.delete(id);
  }

  /**
   * Delete a container whose process has exited without spawning the runtime: what
   * `runc delete` does for a stopped container (no hooks are configured) is to remove its
   * cgroups and its state folder; this is on the path of every `run --rm`. Returns false (the caller runs the runtime) for anything unexpected:
   * another runtime, a state file it cannot read, a cgroup that stays busy.
   */
  private async deleteExited(id: string): Promise<boolean> {
    if (this.binaryOf(id).name !== 'runc') return false;
    const stateDir = join(this.runtimeRoot, id);
    let state: { cgroup_paths?: Record<string, string> };
    try {
      state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as typeof state;
    } catch (err) {
      return errnoCode(err) === 'ENOENT' && !existsSync(stateDir);
    }
    // Order does not matter here: runc makes one leaf per controller, so they go side by side.
    const paths = [...new Set(Object.values(state.cgroup_paths ?? {}))].filter((c) => c.startsWith('/sys/fs/cgroup/'));
    const removed = await Promise.all(paths.map(removeCgroup));
    if (removed.includes(false)) return false;
    await rm(stateDir, { recursive: true, force: true });
    return true;
  }

  /**
   * `<container id's runtime> --root ... <args>`; never rejects for a non-zero exit. `delete`
   * goes through the binary's create command (crun's wrapper); start, kill, pause, resume and
   * state run the runtime itself (stdin is /dev/null, which they leave alone).
   */
  private run(id: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const binary = this.binaryOf(id);
    const command = args[0] === 'delete' ? binary.command : binary.path;
    let child: LightChild;
    try {
      child = spawnLight(command, [...this.globalArgs(), ...args], { stdio: ['ignore', 'read', 'read'] });
    } catch (err) {
      return Promise.reject(internal(`run ${binary.path}: ${(err as Error).message}`, err));
    }
    return Promise.all([child.exit, readText(child.stdio[1] as Readable), readText(child.stdio[2] as Readable)]).then(([code, stdout, stderr]) => ({ code, stdout, stderr }));
  }

  private globalArgs(): string[] {
    return [`--root=${this.runtimeRoot}`, '--log-format=json'];
  }

  /** The runtime's failure as an EngineError of the right kind. */
  private commandError(id: string, op: string, stderr: string, isStart = false): EngineError {
    const name = this.binaryOf(id).name;
    const msg = runtimeMessage(stderr) || `${name} ${op} failed`;
    const lower = msg.toLowerCase();
    if (lower.includes('does not exist') || (lower.includes('no such file or directory') && lower.includes(`/${id}`))) {
      return notFound(`no such container in ${name}: ${id}`);
    }
    // runc: `... is not running`, `... is not stopped`; crun: `the container ... is not in `created` or `stopped` state`.
    if (lower.includes('not running') || lower.includes('not stopped') || lower.includes('is running') || lower.includes('not paused') || lower.includes('cannot start') || /is not in `[a-z]+`( or `[a-z]+`)? state/.test(lower)) {
      return conflict(`${name} ${op} ${id}: ${msg}`);
    }
    if (isStart) return createError(stderr);
    return internal(`${name} ${op} ${id}: ${msg}`);
  }

  /** SIGKILL the container and wait (bounded) for conmon to record its exit. */
  private async killAndWait(id: string): Promise<void> {
    const r = await this.run(id, ['kill', id, runtimeSignal('SIGKILL')]);
    if (r.code !== 0) {
      const err = this.commandError(id, 'kill', r.stderr);
      if (err.kind !== 'notFound' && err.kind !== 'conflict') throw err;
    }
    if (!conmonAlive(this.paths(id))) return;
    await new Promise<void>((resolve) => {
      const timeout = setTimeout(() => {
        cancel();
        log.warn({ container: id }, 'no exit recorded 10s after SIGKILL; deleting anyway');
        resolve();
      }, 10_000);
      const cancel = this.watchExit(id, () => {
        clearTimeout(timeout);
        resolve();
      });
    });
  }

  /**
   * conmon writes its last files after the exit file: wait (bounded) until it is gone. The
   * close of its sync pipe says so for every conmon this daemon started; one started before
   * (pierd restarted since) is looked for in /proc.
   */
  private waitConmonGone(id: string): Promise<void> {
    return waitConmonGone(this.paths(id), this.conmonGone.get(id));
  }

  private paths(id: string): BundlePaths {
    return bundlePaths(this.containerDir(id), id);
  }
}

/** A signal as runc and crun take it: its number (`parseSignal` refuses what is no signal). */
export function runtimeSignal(signal: string | number): string {
  return String(parseSignal(signal).number);
}
