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
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { formatViolations, responseChecker, startSchemaProxy, type SchemaProxy } from './schema-proxy.js';
import type { Violation } from './schema/validator.js';
import { cleanUp, daemonPaths } from './cleanup.js';
import { message, run, tail, type RunOptions, type RunResult } from './process.js';

export { cleanUp, daemonPaths, mountsUnder, RUNTIME_ROOT, type DaemonPaths } from './cleanup.js';
export { run, type RunOptions, type RunResult } from './process.js';

/** The repository root: the nearest ancestor of this file with a package.json (test/ or dist/test/). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** The docker CLI the tests drive: PIER_TEST_DOCKER, else the preinstalled /usr/local/bin/docker. */
export const dockerCli = process.env.PIER_TEST_DOCKER ?? (existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker');

/** Where the runtime part keeps the OCI runtime's own state (`runc|crun --root`), under the exec-root. */


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
  /**
   * Put the schema-checking proxy in front of the daemon (default true). Benchmarks turn it
   * off: it is a Node process on every request's path, and clients then talk to the daemon's
   * own socket (`socket` and `daemonSocket` are the same path).
   */
  schemaProxy?: boolean;
}

export interface Daemon {
  /** The temporary directory holding everything below. */
  readonly dir: string;
  readonly root: string;
  readonly execRoot: string;
  /** The socket clients use: the schema-checking proxy in front of the daemon's (the daemon's own without it). */
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
  const checkSchema = opts.schemaProxy ?? true;
  const socket = checkSchema ? join(dir, 'api.sock') : daemonSocket;
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
        if (!checkSchema) return;
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

function findRepoRoot(start: string): string {
  for (let dir = start; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
  }
  throw new Error(`no repository root above ${start}`);
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
