/**
 * Integration-test harness: a private pierd per test file (or per test), driven by the real
 * docker CLI and by `bin/pier`, and a clean-up that leaves the machine as it was even when the
 * daemon or a test failed half-way.
 *
 *   const d = await startDaemon();
 *   t.after(() => d.stop());
 *   await importBusybox(d);
 *   const r = await d.docker(['run', '--rm', 'busybox', 'echo', 'hi']);
 *
 * Everything a daemon creates lives under one temporary directory `/tmp/pt-XXXXXX` (short:
 * a unix socket path holds at most 107 bytes): `root/` (--root), `run/` (--exec-root, with the
 * daemon's API socket `run/pier.sock`), `api.sock` (the socket the tests' clients use: a proxy
 * that checks every JSON answer against the Engine API's schema, test/schema-proxy.ts),
 * `docker/` (DOCKER_CONFIG), `pierd.log` (the daemon's output). stop() fails, listing them, when
 * an answer did not match the schema.
 * The clean-up only ever touches what lies under that directory, processes whose command line
 * names it, and cgroups named after the containers recorded under it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { networkTag, removeDaemonNetworking } from '../src/networks/bridge.js';
import { formatViolations, responseChecker, startSchemaProxy, type SchemaProxy } from './schema-proxy.js';
import type { Violation } from './schema/validator.js';

/** The repository root: the nearest ancestor of this file with a package.json (test/ or dist/test/). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** The docker CLI the tests drive: PIER_TEST_DOCKER, else the preinstalled /usr/local/bin/docker. */
export const dockerCli = process.env.PIER_TEST_DOCKER ?? (existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker');

/** Where the runtime part keeps the OCI runtime's own state (`runc|crun --root`), under the exec-root. */
export const RUNTIME_ROOT = 'runtime-root';

const CONTAINER_ID = /^[0-9a-f]{64}$/;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed (closed at once when absent). */
  input?: string | Buffer | Readable;
  /** Kill the command and reject after this long (default 60 s). */
  timeoutMs?: number;
  /** Added to the command's environment. */
  env?: Record<string, string>;
}

export interface DaemonOptions {
  /** --runtime; default PIER_TEST_RUNTIME, else the daemon's own choice. */
  runtime?: 'crun' | 'runc';
  /** daemon.json contents: written beside the daemon's root and passed with --config. */
  config?: Record<string, unknown>;
  /** --log-level; default PIER_TEST_LOG_LEVEL, else the daemon's default. */
  logLevel?: string;
  /** More daemon flags. */
  args?: string[];
  /** How long to wait for /_ping at start and restart (default 20 s). */
  startTimeoutMs?: number;
  /** The daemon executable (default bin/pierd). */
  pierd?: string;
  /** More environment variables for the daemon (benchmarks compare settings with it). */
  env?: NodeJS.ProcessEnv;
}

export interface Daemon {
  /** The temporary directory holding everything below. */
  readonly dir: string;
  readonly root: string;
  readonly execRoot: string;
  /** The socket clients use: the schema-checking proxy in front of the daemon's. */
  readonly socket: string;
  /** The daemon's own socket (what --host names), behind the proxy. */
  readonly daemonSocket: string;
  /** `unix://<socket>`, as DOCKER_HOST takes it. */
  readonly host: string;
  /** The environment docker() and pier() run with (DOCKER_HOST, DOCKER_CONFIG, PIER_HOST). */
  readonly env: NodeJS.ProcessEnv;
  /** The running daemon's pid (undefined after kill9() or stop()). */
  readonly pid: number | undefined;
  /** Run the docker CLI against this daemon. Output is collected in memory: keep it small. */
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Run bin/pier against this daemon. */
  pier(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** What the daemon printed so far (all its runs). */
  log(): Promise<string>;
  /** The answers so far that did not match the Engine API's schema (stop() fails on any). */
  schemaViolations(): Array<Violation & { count: number }>;
  /** SIGKILL the daemon, as a crash would; containers and their monitors keep running. */
  kill9(): Promise<void>;
  /** Stop the daemon if it runs (SIGTERM), then start it again on the same paths. */
  restart(): Promise<void>;
  /**
   * Remove every container (through the API, force), stop the daemon, then clean up whatever
   * is left (see cleanUp) and remove the temporary directory. Idempotent. Rejects when
   * something could not be cleaned up, or when an answer did not match the schema.
   */
  stop(): Promise<void>;
}

/** Start a private pierd and wait until it answers /_ping. Rejects with the daemon's output. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const dir = await mkdtemp('/tmp/pt-');
  const paths = daemonPaths(dir);
  const { root, execRoot, socket: daemonSocket } = paths;
  const socket = join(dir, 'api.sock');
  const host = `unix://${socket}`;
  const logPath = join(dir, 'pierd.log');
  const dockerConfig = join(dir, 'docker');
  await mkdir(dockerConfig);

  const args = ['--root', root, '--exec-root', execRoot, '--host', `unix://${daemonSocket}`];
  const runtime = opts.runtime ?? process.env.PIER_TEST_RUNTIME;
  if (runtime) args.push('--runtime', runtime);
  const logLevel = opts.logLevel ?? process.env.PIER_TEST_LOG_LEVEL;
  if (logLevel) args.push('--log-level', logLevel);
  if (opts.config) {
    const configPath = join(dir, 'daemon.json');
    await writeFile(configPath, JSON.stringify(opts.config, null, 2));
    args.push('--config', configPath);
  }
  args.push(...(opts.args ?? []));
  const pierd = opts.pierd ?? join(repoRoot, 'bin', 'pierd');
  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;

  const env: NodeJS.ProcessEnv = {
    ...withoutDockerVariables(process.env),
    DOCKER_HOST: host,
    DOCKER_CONFIG: dockerConfig,
    DOCKER_CLI_HINTS: 'false',
    PIER_HOST: host,
  };

  let child: ChildProcess | undefined;
  let exited: Promise<string> | undefined;
  let stopped = false;
  let proxy: SchemaProxy | undefined;

  const readLog = async (): Promise<string> => readFile(logPath, 'utf8').catch(() => '');

  async function launch(): Promise<void> {
    const fd = openSync(logPath, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(pierd, args, { stdio: ['ignore', fd, fd], env: { ...withoutDockerVariables(process.env), ...opts.env } });
    } finally {
      closeSync(fd);
    }
    child = proc;
    exited = new Promise((resolve) => {
      proc.once('error', (err) => { resolve(`could not start ${pierd}: ${err.message}`); });
      proc.once('exit', (code, signal) => { resolve(signal ? `killed by ${signal}` : `exit code ${code}`); });
    });
    const gone = exited.then((how) => ({ how }));
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      const result = await Promise.race([ping(daemonSocket).then((ok) => ({ ok })), gone]);
      if ('how' in result) {
        child = undefined;
        throw new Error(`pierd (${dir}) stopped before answering /_ping (${result.how}); its output:\n${tail(await readLog())}`);
      }
      if (result.ok) {
        if (proxy) await proxy.resume();
        else proxy = await startSchemaProxy(socket, daemonSocket, responseChecker(repoRoot));
        return;
      }
      await sleep(50);
    }
    throw new Error(`pierd (${dir}) did not answer /_ping within ${startTimeoutMs} ms; its output:\n${tail(await readLog())}`);
  }

  /** Stop the running daemon: `signal`, then SIGKILL if it is still there after `graceMs`. */
  async function terminate(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const proc = child;
    const done = exited;
    child = undefined;
    await proxy?.pause();
    if (!proc || !done || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
  }

  const daemon: Daemon = {
    dir, root, execRoot, socket, daemonSocket, host, env,
    get pid() { return child?.pid; },
    docker: (cmdArgs, runOpts) => run(dockerCli, cmdArgs, env, runOpts),
    pier: (cmdArgs, runOpts) => run(join(repoRoot, 'bin', 'pier'), cmdArgs, env, runOpts),
    log: readLog,
    schemaViolations: () => proxy?.violations() ?? [],
    kill9: () => terminate('SIGKILL', 0),
    async restart() {
      await terminate('SIGTERM', 20_000);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const notes: string[] = [];
      if (child) {
        await removeAllContainers(daemonSocket).catch((err: unknown) => {
          notes.push(`removing the containers through the API failed: ${message(err)}`);
        });
      }
      await terminate('SIGTERM', 20_000);
      await proxy?.close();
      const violations = proxy?.violations() ?? [];
      const schema = violations.length > 0 ? `answers that do not match the Engine API's schema (${dir}):\n${formatViolations(violations)}` : undefined;
      try {
        await cleanUp(paths);
      } catch (err) {
        throw new Error([message(err), ...notes, ...(schema ? [schema] : []), `pierd's output:\n${tail(await readLog())}`].join('\n'));
      }
      if (notes.length > 0) process.stderr.write(`harness: ${notes.join('\n')}\n`);
      if (schema) throw new Error(schema);
    },
  };

  try {
    await launch();
  } catch (err) {
    stopped = true;
    await terminate('SIGKILL', 0);
    await proxy?.close();
    try {
      await cleanUp(paths);
    } catch (cleanUpError) {
      throw new Error(`${message(err)}\n${message(cleanUpError)}`);
    }
    throw err;
  }
  return daemon;
}

export interface DaemonPaths {
  dir: string;
  root: string;
  execRoot: string;
  socket: string;
}

/** The layout of a harness directory. */
export function daemonPaths(dir: string): DaemonPaths {
  const execRoot = join(dir, 'run');
  return { dir, root: join(dir, 'root'), execRoot, socket: join(execRoot, 'pier.sock') };
}

/**
 * Clean up after a daemon that is no longer running, whatever it left: delete the OCI runtime's
 * containers under `<execRoot>/runtime-root`, kill the processes whose command line names `dir`
 * (pierd, conmon, runtimes) or whose cgroup is named after a container recorded under `dir`,
 * unmount everything under `dir` (deepest first, lazily), remove the containers' cgroups, and
 * remove `dir`. Touches nothing else. Rejects, keeping `dir`, when a mount, process or cgroup
 * stays.
 */
export async function cleanUp(paths: DaemonPaths): Promise<void> {
  const { dir, execRoot } = paths;
  const ids = await containerIds(paths);
  const problems: string[] = [];

  const runtimeRoot = join(execRoot, RUNTIME_ROOT);
  for (const id of await listDir(runtimeRoot)) {
    for (const runtime of ['/usr/sbin/runc', '/usr/bin/crun']) {
      if (!existsSync(runtime)) continue;
      // One of the two does not know the other's state format: its failure says nothing.
      await run(runtime, ['--root', runtimeRoot, 'delete', '--force', id], process.env, { timeoutMs: 30_000 }).catch(() => undefined);
    }
  }

  let left = await ownedProcesses(dir, ids);
  for (let round = 0; left.length > 0 && round < 50; round++) {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    await sleep(100);
    left = await ownedProcesses(dir, ids);
  }
  if (left.length > 0) problems.push(`processes still running: ${left.join(', ')}`);

  const umountErrors = new Map<string, string>();
  for (let round = 0; round < 5; round++) {
    const mounts = (await mountsUnder(dir)).sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const mountPoint of mounts) {
      const result = await run('umount', ['-l', mountPoint], process.env, { timeoutMs: 30_000 });
      if (result.code !== 0) umountErrors.set(mountPoint, result.stderr.trim());
    }
  }
  for (const mountPoint of await mountsUnder(dir)) {
    problems.push(`still mounted: ${mountPoint} ${umountErrors.get(mountPoint) ?? ''}`);
  }

  for (const cgroup of await cgroupsOf(ids)) {
    try {
      await removeCgroup(cgroup);
    } catch (err) {
      problems.push(`cgroup ${cgroup}: ${message(err)}`);
    }
  }

  // The daemon's bridges, veths, namespaces and netfilter chains (named after its root).
  await removeDaemonNetworking(networkTag(paths.root), execRoot).catch((err: unknown) => {
    problems.push(`networking: ${message(err)}`);
  });

  if (problems.length > 0) throw new Error(`clean-up of ${dir} is incomplete (${dir} kept):\n${problems.join('\n')}`);
  await rm(dir, { recursive: true, force: true });
}

/** Container ids recorded under the daemon's directories (state, bundles, runtime state). */
async function containerIds(paths: DaemonPaths): Promise<Set<string>> {
  const places = [join(paths.root, 'containers'), join(paths.execRoot, 'containers'), join(paths.execRoot, RUNTIME_ROOT)];
  const ids = new Set<string>();
  for (const place of places) {
    for (const name of await listDir(place)) if (CONTAINER_ID.test(name)) ids.add(name);
  }
  return ids;
}

/** Pids of live processes whose command line names `dir` or whose cgroup path holds one of `ids`. */
async function ownedProcesses(dir: string, ids: Set<string>): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await listDir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // gone, or a zombie awaiting its parent
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg === dir || arg.includes(`${dir}/`))) {
      pids.push(pid);
      continue;
    }
    if (ids.size === 0) continue;
    const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if ([...ids].some((id) => cgroups.includes(id))) pids.push(pid);
  }
  return pids;
}

/** One line of /proc/self/mountinfo: the mount point (unescaped) and the filesystem type. */
async function mountTable(): Promise<Array<{ mountPoint: string; fsType: string }>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter(Boolean).map((line) => {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    return { mountPoint: unescapeMountPath(fields[4] ?? ''), fsType: fields[separator + 1] ?? '' };
  });
}

/** Mount points at or under `dir`, as this process sees them. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return (await mountTable())
    .map((m) => m.mountPoint)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Cgroup directories (in every cgroup hierarchy) whose name holds one of `ids`. */
async function cgroupsOf(ids: Set<string>): Promise<string[]> {
  if (ids.size === 0) return [];
  const hierarchies = (await mountTable()).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint);
  const found: string[] = [];
  const walk = async (path: string, depth: number): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const child = join(path, entry.name);
      if ([...ids].some((id) => entry.name.includes(id))) found.push(child);
      else if (depth < 6) await walk(child, depth + 1);
    }
  };
  for (const hierarchy of new Set(hierarchies)) await walk(hierarchy, 1);
  return found;
}

/** rmdir a cgroup and the cgroups below it, deepest first (each must be empty of processes). */
async function removeCgroup(path: string): Promise<void> {
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) await removeCgroup(join(path, entry.name));
  }
  await rmdir(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}

/** Remove every container of the daemon on `socket`, forcibly, through the API. */
async function removeAllContainers(socket: string): Promise<void> {
  const list = await api(socket, 'GET', '/containers/json?all=1');
  if (list.status !== 200) throw new Error(`GET /containers/json: ${list.status} ${list.body}`);
  const containers = JSON.parse(list.body) as Array<{ Id: string }>;
  const failures: string[] = [];
  for (const { Id } of containers) {
    const res = await api(socket, 'DELETE', `/containers/${Id}?force=1&v=1`);
    if (res.status !== 204 && res.status !== 404) failures.push(`DELETE /containers/${Id}: ${res.status} ${res.body}`);
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

/** True when the daemon on `socket` answers /_ping with 200; false when nothing listens yet. */
async function ping(socket: string): Promise<boolean> {
  try {
    return (await api(socket, 'GET', '/_ping', 2_000)).status === 200;
  } catch {
    return false; // not listening yet (ENOENT, ECONNREFUSED) or not answering: asked again
  }
}

function api(socket: string, method: string, path: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }); });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Run a command with the environment `env` (plus `opts.env`) to completion and collect its
 * output. Resolves with its exit code (128 + the
 * signal's number when killed by one); rejects when it cannot start or runs past its timeout.
 */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const shown = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let inputError: Error | undefined;
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE: the command exited without reading all its input; its exit code tells why
      if (err.code !== 'EPIPE') inputError = err;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${shown}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${shown}: still running after ${timeoutMs} ms\nstdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`));
      } else if (inputError) {
        reject(new Error(`${shown}: writing its input: ${inputError.message}`));
      } else {
        resolve(result);
      }
    });
    const input = opts.input;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else {
      input.once('error', (err) => {
        inputError = err;
        child.stdin.destroy();
      });
      input.pipe(child.stdin);
    }
  });
}

let busyboxTar: Promise<string> | undefined;

/**
 * The busybox rootfs tar (scripts/busybox-rootfs.sh), made once per test process in a
 * temporary directory that is removed when the process exits.
 */
export function busyboxTarPath(): Promise<string> {
  busyboxTar ??= (async () => {
    const dir = await mkdtemp('/tmp/pb-');
    process.once('exit', () => { rmSync(dir, { recursive: true, force: true }); });
    const out = join(dir, 'busybox.tar');
    const result = await run('bash', [join(repoRoot, 'scripts', 'busybox-rootfs.sh'), out], process.env);
    if (result.code !== 0) throw new Error(`scripts/busybox-rootfs.sh: exit ${result.code}: ${result.stderr}`);
    return out;
  })();
  return busyboxTar;
}

/**
 * Import the busybox rootfs into the daemon as `ref` with `docker import` (Cmd ["sh"], as the
 * busybox image on Docker Hub has). Resolves with the image id the CLI printed.
 */
export async function importBusybox(d: Pick<Daemon, 'docker'>, ref = 'busybox:latest'): Promise<string> {
  const tar = await busyboxTarPath();
  const result = await d.docker(['import', '--change', 'CMD ["sh"]', '-', ref], { input: createReadStream(tar) });
  if (result.code !== 0) throw new Error(`docker import - ${ref}: exit ${result.code}: ${result.stderr}`);
  return result.stdout.trim();
}

function withoutDockerVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('DOCKER_')));
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function findRepoRoot(start: string): string {
  for (let dir = start; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
  }
  throw new Error(`no repository root above ${start}`);
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A raw HTTP request over the daemon's socket. */
export async function fetchSocket(socket: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
