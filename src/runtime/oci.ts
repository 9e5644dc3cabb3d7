import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { Socket } from 'node:net';
import { access, mkdir, open, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, EngineError, errnoCode, internal, invalid, notFound, unavailable } from '../errors.js';
import { log } from '../log.js';
import { parseSignal } from '../util/signals.js';
import { openAttach } from './attach.js';
import { checkCommand } from './command.js';
import { canUseCrun, detectCgroupLayout, readCgroupProcs, readCgroupStats, readOomKills, type CgroupLayout, type CgroupStats, DEFAULT_CGROUP_ROOT } from './cgroups.js';
import { createError, runConmon, runConmonExec, runtimeMessage } from './conmon.js';
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
import { devicesFromPath, hostDevices, parseDeviceCgroupRule, throttleDevices, type OciDevice, type OciDeviceRule } from './devices.js';
import { applyCgroupLimits, resourceLimits, type Throttles } from './resources.js';
import { buildExecProcess, buildOciConfig, parseOciConfig, readHostInfo, serializeOciConfig, type HostInfo } from './spec.js';
import { resolveUser } from './user.js';
import { daemonMigrationWarmer, type MigrationWarmer } from './migration-warmer.js';

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

const RUNC = '/usr/sbin/runc';
const CRUN = '/usr/bin/crun';
const CONMON = '/usr/bin/conmon';
const TINI = '/usr/bin/tini-static';

/** Poll period when fs.watch cannot see the exit file appear. */
const EXIT_POLL_MS = 2000;

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
  readonly name: 'crun' | 'runc';
  readonly path: string;
  /**
   * What is executed as the runtime (by conmon and by pierd): the runtime itself, or, for crun
   * on a hybrid cgroup layout, a wrapper that runs it in a mount namespace of its own without
   * the cgroup2 mount (see canUseCrun).
   */
  private readonly command: string;
  private readonly withoutUnified: string | undefined;
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

    const crun = canUseCrun(this.layout);
    if (opts.runtime === 'auto') {
      this.name = crun.ok ? 'crun' : 'runc';
      this.reason = crun.ok ? `auto: crun can run here (${crun.reason})` : `auto: runc, as crun cannot run here: ${crun.reason}`;
    } else {
      this.name = opts.runtime;
      this.reason = `configured: ${opts.runtime}`;
      if (opts.runtime === 'crun' && !crun.ok) log.warn({ reason: crun.reason }, 'crun was chosen but is expected to fail here');
    }
    this.path = this.name === 'crun' ? (opts.crunPath ?? CRUN) : (opts.runcPath ?? RUNC);
    this.withoutUnified = this.name === 'crun' ? crun.withoutUnified : undefined;
    this.command = this.withoutUnified ? join(this.execRoot, 'crun-v1') : this.path;
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
    await mkdir(join(this.execRoot, 'containers'), { recursive: true, mode: 0o700 });
    await mkdir(this.runtimeRoot, { recursive: true, mode: 0o700 });
    if (this.withoutUnified) await writeUnifiedlessWrapper(this.command, this.path, this.withoutUnified);
  }

  /** The container's cgroup (cgroupfs path) `/pier/<id>`. */
  cgroupsPath(id: string): string {
    return `/${this.cgroupParent}/${id}`;
  }

  /** The folder holding everything of container `id`. */
  containerDir(id: string): string {
    return join(this.execRoot, 'containers', checkId(id));
  }

  async create(spec: ContainerSpec, logPath: string): Promise<CreatedContainer> {
    await this.reaping.get(spec.id);
    const p = this.paths(spec.id);
    if (existsSync(p.dir)) await this.delete(spec.id);
    // Behind an init the runtime looks up the init, not the command: check the command here.
    if (spec.init && spec.args[0] !== undefined) checkCommand(spec.rootfs, spec.args[0], spec.env, spec.cwd, spec.mounts.map((m) => m.destination));
    const [user] = await Promise.all([
      resolveUser(spec.rootfs, spec.user, spec.groupAdd),
      mkdir(p.dir, { recursive: true }).then(() => Promise.all([mkdir(p.bundle), mkdir(p.exitDir), mkdir(p.persistDir)])),
    ]);
    const [devices, throttles] = await Promise.all([containerDevices(spec), specThrottles(spec)]);
    const { config, warnings } = buildOciConfig(spec, {
      user,
      host: this.host,
      cgroupsPath: this.cgroupsPath(spec.id),
      initPath: this.initPath,
      seccomp: this.seccomp,
      devices,
      throttles,
    });
    for (const w of warnings) log.warn({ container: spec.id }, w);
    // Not atomic on purpose: the bundle is read once, by the create below; a crash leaves a
    // bundle no one uses, replaced by the next create.
    writeFileSync(p.config, serializeOciConfig(config));
    const warm = this.warmer.hold();
    const created = await runConmon({
      conmonPath: this.conmonPath,
      runtimePath: this.command,
      runtimeArgs: this.globalArgs(),
      id: spec.id,
      bundle: p.bundle,
      pidFile: p.pidFile,
      conmonPidFile: p.conmonPidFile,
      exitDir: p.exitDir,
      persistDir: p.persistDir,
      logPath,
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
    if (this.name === 'runc' && (await this.startThroughFifo(checkId(id)))) return;
    const r = await this.run(['start', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'start', r.stderr, true);
  }

  /**
   * Start a created runc container without spawning runc: what `runc start` does is read the
   * byte that the container's init writes into `exec.fifo` (which lets it exec the process) and
   * remove the fifo (runc then reports it running). This takes about 10 ms off every run. The
   * fifo is opened non-blocking and read as a pipe handle of the event loop, so the byte is
   * taken the moment it comes and an init that died never holds a thread; false (the caller
   * runs `runc start`) when the fifo is not there or no byte comes within 2 s.
   */
  private async startThroughFifo(id: string): Promise<boolean> {
    const fifo = join(this.runtimeRoot, id, 'exec.fifo');
    let fd: number;
    try {
      fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return false;
    }
    const got = await new Promise<boolean>((resolve) => {
      const pipe = new Socket({ fd, readable: true, writable: false });
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        pipe.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 2000);
      pipe.once('data', () => done(true));
      pipe.once('end', () => done(false));
      pipe.once('error', () => done(false));
    });
    if (got) rmSync(fifo, { force: true });
    return got;
  }

  async kill(id: string, signal: string | number): Promise<void> {
    const p = this.paths(id);
    if (existsSync(p.exitFile)) throw conflict(`container ${id} is not running`);
    const r = await this.run(['kill', id, runtimeSignal(signal)]);
    if (r.code !== 0) throw this.commandError(id, 'kill', r.stderr);
  }

  async pause(id: string): Promise<void> {
    const r = await this.run(['pause', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'pause', r.stderr);
  }

  async resume(id: string): Promise<void> {
    const r = await this.run(['resume', checkId(id)]);
    if (r.code !== 0) throw this.commandError(id, 'resume', r.stderr);
  }

  async state(id: string): Promise<RuntimeState> {
    if (this.reaping.has(id)) throw notFound(`no such container in ${this.name}: ${id}`);
    const p = this.paths(id);
    if (existsSync(p.exitFile)) return { status: 'stopped', pid: 0 };
    const r = await this.run(['state', id]);
    if (r.code !== 0) {
      const err = this.commandError(id, 'state', r.stderr);
      // Exited between the check above and the runtime's answer.
      if (err.kind === 'notFound' && existsSync(p.exitFile)) return { status: 'stopped', pid: 0 };
      throw err;
    }
    let v: { status?: unknown; pid?: unknown };
    try {
      v = JSON.parse(r.stdout) as { status?: unknown; pid?: unknown };
    } catch (err) {
      throw internal(`${this.name} state ${id}: bad JSON`, err);
    }
    const known = ['created', 'running', 'paused', 'stopped'] as const;
    const status = known.find((s) => s === v.status) ?? 'unknown';
    return { status, pid: typeof v.pid === 'number' ? v.pid : 0 };
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const p = this.paths(id);
    let text: string;
    let finishedAt: Date;
    // A few bytes conmon wrote: read without the thread pool (this is on the path of every exit).
    let fd: number | undefined;
    try {
      fd = openSync(p.exitFile, 'r');
      text = readFileSync(fd, 'utf8');
      finishedAt = fstatSync(fd).mtime;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const exitCode = Number.parseInt(text.trim(), 10);
    if (Number.isNaN(exitCode)) throw internal(`exit file of ${id} holds ${JSON.stringify(text)}`);
    let oomKilled = existsSync(join(p.persistDir, 'oom'));
    if (!oomKilled) oomKilled = ((await readOomKills(this.layout, this.cgroupsPath(id))) ?? 0) > 0;
    return { exitCode, finishedAt, oomKilled };
  }

  watchExit(id: string, onExit: (status: ExitStatus) => void): () => void {
    const p = this.paths(id);
    let done = false;
    let watcher: FSWatcher | undefined;
    let checking = false;
    const stop = () => {
      done = true;
      watcher?.close();
      clearInterval(timer);
    };
    const check = () => {
      if (done || checking) return;
      checking = true;
      this.exitStatus(id).then(
        (status) => {
          checking = false;
          if (done) return;
          if (status) {
            stop();
            onExit(status);
          } else if (!existsSync(p.dir)) {
            // Deleted before it exited: no exit will come.
            stop();
          }
        },
        (err: unknown) => {
          checking = false;
          log.warn({ container: id, err }, 'reading exit status failed; will retry');
        },
      );
    };
    const timer = setInterval(check, EXIT_POLL_MS);
    try {
      watcher = watch(p.exitDir, { persistent: true }, (_event, name) => {
        if (name === id) check();
      });
      watcher.on('error', (err) => {
        log.warn({ container: id, err }, 'exit dir watch failed; polling');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.warn({ container: id, err }, 'cannot watch exit dir; polling');
    }
    check();
    return stop;
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
    const p = this.paths(id);
    if (existsSync(p.exitFile)) throw conflict(`container ${id} is not running`);
    let config;
    try {
      config = parseOciConfig(await readFile(p.config, 'utf8'));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`no such container: ${id}`);
      throw err;
    }
    const execId = randomBytes(8).toString('hex');
    const dir = join(p.dir, 'exec', execId);
    const user = proc.user === '' ? undefined : await resolveUser(config.root.path, proc.user, []);
    const execProcess = buildExecProcess(
      config,
      proc,
      user ?? { uid: config.process.user.uid, gid: config.process.user.gid, additionalGids: config.process.user.additionalGids ?? [], home: homeOf(config.process.env) },
      this.host.caps,
    );
    await mkdir(join(dir, 'exits'), { recursive: true });
    await writeFile(join(dir, 'process.json'), serializeOciConfig(execProcess));
    let streams: AttachStreams | undefined;
    let handle;
    const warm = this.warmer.hold();
    try {
      handle = await runConmonExec({
        conmonPath: this.conmonPath,
        runtimePath: this.command,
        runtimeArgs: this.globalArgs(),
        id,
        execId,
        dir,
        processSpec: join(dir, 'process.json'),
        pidFile: join(dir, 'pidfile'),
        conmonPidFile: join(dir, 'conmon.pid'),
        exitDir: join(dir, 'exits'),
        logLevel: this.conmonLogLevel,
        stdin: proc.attach && proc.openStdin,
        tty: proc.tty,
        beforeStart: proc.attach
          ? () => {
              streams = openAttach(join(dir, 'attach'));
            }
          : undefined,
      }).finally(warm);
    } catch (err) {
      streams?.close();
      await rm(dir, { recursive: true, force: true });
      if (err instanceof EngineError && /cannot exec in a stopped|container not running|is not running/i.test(err.message)) {
        throw conflict(`container ${id} is not running`, err);
      }
      throw err;
    }
    const exited = handle.exit.then(
      (exitCode) => ({ exitCode }),
      (err: unknown) => ({ exitCode: -1, error: err instanceof Error ? err.message : String(err) }),
    ).then(async (result) => {
      // conmon is done with the session folder once it reported the exit.
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) => {
        log.warn({ container: id, exec: execId, err }, 'removing exec session folder failed');
      });
      return result;
    });
    return {
      pid: handle.pid,
      streams,
      exited,
      resize: (height, width) => writeResize(join(dir, 'ctl'), `exec ${execId}`, height, width),
    };
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
      if (keep.has(id) || !RUNTIME_ID.test(id) || !existsSync(this.paths(id).exitFile)) continue;
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
      const r = await this.run(force ? ['delete', '--force', id] : ['delete', id]);
      if (r.code !== 0) {
        const err = this.commandError(id, 'delete', r.stderr);
        if (err.kind !== 'notFound') throw err;
      }
    }
    await this.waitConmonGone(id);
    await rm(p.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /**
   * Delete a container whose process has exited without spawning the runtime: what
   * `runc delete` does for a stopped container (no hooks are configured) is to remove its
   * cgroups and its state folder. This is on the path of every `run --rm`, where a runc spawn
   * costs about 13 ms. Returns false (the caller runs the runtime) for anything unexpected:
   * another runtime, a state file it cannot read, a cgroup that stays busy.
   */
  private async deleteExited(id: string): Promise<boolean> {
    if (this.name !== 'runc') return false;
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

  /** `<runtime> --root ... <args>`; never rejects for a non-zero exit. */
  private run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, [...this.globalArgs(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', (err) => {
        reject(internal(`run ${this.path}: ${err.message}`, err));
      });
      child.once('close', (code, signal) => {
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  private globalArgs(): string[] {
    return [`--root=${this.runtimeRoot}`, '--log-format=json'];
  }

  /** The runtime's failure as an EngineError of the right kind. */
  private commandError(id: string, op: string, stderr: string, isStart = false): EngineError {
    const msg = runtimeMessage(stderr) || `${this.name} ${op} failed`;
    const lower = msg.toLowerCase();
    if (lower.includes('does not exist') || (lower.includes('no such file or directory') && lower.includes(`/${id}`))) {
      return notFound(`no such container in ${this.name}: ${id}`);
    }
    // runc: `... is not running`, `... is not stopped`; crun: `the container ... is not in `created` or `stopped` state`.
    if (lower.includes('not running') || lower.includes('not stopped') || lower.includes('is running') || lower.includes('not paused') || lower.includes('cannot start') || /is not in `[a-z]+`( or `[a-z]+`)? state/.test(lower)) {
      return conflict(`${this.name} ${op} ${id}: ${msg}`);
    }
    if (isStart) return createError(stderr);
    return internal(`${this.name} ${op} ${id}: ${msg}`);
  }

  /** SIGKILL the container and wait (bounded) for conmon to record its exit. */
  private async killAndWait(id: string): Promise<void> {
    const r = await this.run(['kill', id, 'KILL']);
    if (r.code !== 0) {
      const err = this.commandError(id, 'kill', r.stderr);
      if (err.kind !== 'notFound' && err.kind !== 'conflict') throw err;
    }
    if (!this.conmonAlive(id)) return;
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

  private conmonPid(id: string): number | undefined {
    try {
      const n = Number(readFileSync(this.paths(id).conmonPidFile, 'utf8').trim());
      return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  private conmonAlive(id: string): boolean {
    const pid = this.conmonPid(id);
    if (pid === undefined) return false;
    try {
      // A live conmon for this container has its bundle on its command line.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes(this.paths(id).bundle);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return false;
      throw err;
    }
  }

  /**
   * conmon writes its last files after the exit file: wait (bounded) until it is gone. The
   * close of its sync pipe says so for every conmon this daemon started; one started before
   * (pierd restarted since) is looked for in /proc.
   */
  private async waitConmonGone(id: string): Promise<void> {
    const gone = this.conmonGone.get(id);
    if (gone) {
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([gone.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 5000)))]);
      clearTimeout(timer);
      if (!late) return;
    }
    const deadline = Date.now() + 5000;
    while (this.conmonAlive(id)) {
      if (Date.now() > deadline) {
        log.warn({ container: id }, 'conmon still running after delete');
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private paths(id: string) {
    const dir = this.containerDir(id);
    const bundle = join(dir, 'bundle');
    const exitDir = join(dir, 'exits');
    return {
      dir,
      bundle,
      config: join(bundle, 'config.json'),
      attach: join(bundle, 'attach'),
      ctl: join(bundle, 'ctl'),
      pidFile: join(dir, 'pidfile'),
      conmonPidFile: join(dir, 'conmon.pid'),
      exitDir,
      exitFile: join(exitDir, id),
      persistDir: join(dir, 'persist'),
    };
  }
}

/** Container ids become paths and runtime ids: letters, digits, `_.-`, not starting with a symbol. */
/** What the runtimes take as a container ID. */
const RUNTIME_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkId(id: string): string {
  if (!RUNTIME_ID.test(id)) throw invalid(`invalid container id: ${JSON.stringify(id)}`);
  return id;
}

/** A signal as runc and crun take it: its number (`parseSignal` refuses what is no signal). */
export function runtimeSignal(signal: string | number): string {
  return String(parseSignal(signal).number);
}

function conmonLogLevel(l: string): 'debug' | 'info' | 'warn' | 'error' {
  if (l === 'trace' || l === 'debug') return 'debug';
  if (l === 'info') return 'info';
  if (l === 'warn') return 'warn';
  return 'error';
}

/** HOME from an environment, '/' without one. */
function homeOf(env: string[]): string {
  const e = env.find((x) => x.startsWith('HOME='));
  return e ? e.slice(5) : '/';
}

/** Tell conmon (through its `ctl` fifo) to resize the TTY. */
async function writeResize(ctl: string, what: string, height: number, width: number): Promise<void> {
  let fh;
  try {
    // Non-blocking: with no conmon reading, the open fails (ENXIO) instead of hanging.
    fh = await open(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw notFound(`no such ${what}`);
    if (code === 'ENXIO') throw conflict(`${what} is not running`);
    throw err;
  }
  try {
    await fh.write(`1 ${Math.trunc(height)} ${Math.trunc(width)}\n`);
  } finally {
    await fh.close();
  }
}

/**
 * A script that runs `runtime` with its arguments in a new mount namespace (private: nothing
 * it unmounts is seen outside) from which the cgroup2 mount `unifiedMount` is gone, so that
 * crun sees a pure v1 layout. The namespace is made anew for each call: it sees the host's
 * mounts as they are then (the container's rootfs pierd just mounted among them). Written
 * at `path` (under the exec root), mode 0700.
 */
async function writeUnifiedlessWrapper(path: string, runtime: string, unifiedMount: string): Promise<void> {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    '# Written by pierd: crun in a mount namespace without the cgroup2 mount beside the v1 hierarchies.',
    `exec unshare --mount --propagation private /bin/sh -c 'umount -l "$0" && exec "$@"' ${q(unifiedMount)} ${q(runtime)} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
}

/** rmdir a cgroup, retrying while the kernel still tears its last processes down; false when it stays busy or fails. */
async function removeCgroup(path: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(path);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= 20) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * The host devices of a container: every device of /dev when privileged; else its `--device`
 * nodes and their rules, then its `--device-cgroup-rule`s.
 */
async function containerDevices(spec: ContainerSpec): Promise<{ devices: OciDevice[]; rules: OciDeviceRule[] }> {
  if (spec.privileged) {
    const all = await hostDevices();
    const extra = await Promise.all(spec.devices.filter((d) => d.pathInContainer && d.pathInContainer !== d.pathOnHost).map((d) => devicesFromPath({ ...d, cgroupPermissions: 'rwm' })));
    return { devices: [...all, ...extra.flatMap((e) => e.devices)], rules: [] };
  }
  const found = await Promise.all(spec.devices.map((d) => devicesFromPath(d)));
  return {
    devices: found.flatMap((f) => f.devices),
    rules: [...found.flatMap((f) => f.rules), ...spec.deviceCgroupRules.map(parseDeviceCgroupRule)],
  };
}

/** The spec's block device limits by device numbers. */
async function specThrottles(spec: ContainerSpec): Promise<Throttles> {
  const r = spec.resources;
  const [readBps, writeBps, readIOps, writeIOps] = await Promise.all([
    throttleDevices(r.blkioDeviceReadBps),
    throttleDevices(r.blkioDeviceWriteBps),
    throttleDevices(r.blkioDeviceReadIOps),
    throttleDevices(r.blkioDeviceWriteIOps),
  ]);
  return { readBps, writeBps, readIOps, writeIOps };
}
