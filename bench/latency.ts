/**
 * Benchmark (not a test): how long `docker run --rm --network none busybox true` takes against
 * pierd, against the bare OCI runtime running an equivalent bundle, and against Docker's own
 * engine (when ../shared/reference-docker is there), all in one run on one machine; and how much
 * memory the daemons and their per-container monitors hold.
 *
 *   bash bench/run-latency.sh [--runs 30] [--warmup 3] [--idle 10] [--no-pier] [--no-raw] [--no-docker]
 *                             [--compare DIR]...
 *
 * `--compare DIR` (repeatable): another built pier checkout (a git worktree of an earlier commit, after its
 * `npm run build`), whose pierd runs in the same rounds, so that a change's effect is measured
 * on the same machine at the same moment.
 *
 * Each figure is the wall time of one command, spawned from here and waited for; the docker
 * CLI's own start-up is in both the pier and the Docker figures. All engines are up together
 * and their commands run in rounds (one of each per round, the order rotating), so a drift of
 * the machine's speed during the run falls on all of them alike. Needs root.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  busyboxTarPath, dockerCli, importBusybox, repoRoot, run, startDaemon, type Daemon, type RunOptions, type RunResult,
} from '../test/harness.js';
import { netfilterState, restoreNetfilter } from './netfilter.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    idle: { type: 'string', default: '10' },
    'no-pier': { type: 'boolean', default: false },
    'no-raw': { type: 'boolean', default: false },
    'no-docker': { type: 'boolean', default: false },
    compare: { type: 'string', multiple: true, default: [] },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
const IDLE = Number(opts.idle);
const RUN_ARGS = ['run', '--rm', '--network', 'none', 'busybox', 'true'];

interface Timing {
  name: string;
  ms: number[];
}

/**
 * Memory of a daemon, its own VmRSS: fresh (started, nothing done yet), idle (after the timed
 * runs) and busy (with IDLE containers running), each read SETTLE_MS after the last command,
 * as an idle daemon would be; and its monitors' per container.
 */
interface Memory {
  name: string;
  freshKiB: number;
  idleKiB: number;
  busyKiB: number;
  monitor: string;
  monitorKiB: number[];
}

/** An OCI config.json, as far as this benchmark compares them. */
interface OciConfig {
  process: { args: string[]; terminal?: boolean };
  root: { path: string; readonly?: boolean };
  linux?: { namespaces?: Array<{ type: string }>; seccomp?: { defaultAction?: string } };
}

const timings: Timing[] = [];
const memory: Memory[] = [];
const notes: string[] = [];


interface Command {
  name: string;
  once: () => Promise<void>;
}

/**
 * The timed phase. Each engine sets itself up, then hands in its commands (`join`) and waits;
 * once every engine has, each command runs WARMUP unrecorded times, then RUNS rounds of one
 * run of each command, in an order that rotates from round to round.
 */
class Rounds {
  private readonly commands: Command[] = [];
  private waiting: number;
  private allIn!: () => void;
  private readonly gathered = new Promise<void>((resolve) => (this.allIn = resolve));
  private finish!: (err?: unknown) => void;
  private readonly finished = new Promise<void>((resolve, reject) => (this.finish = (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error(JSON.stringify(err))))));

  constructor(engines: number) {
    this.waiting = engines;
    if (engines === 0) this.allIn();
    this.finished.catch(() => undefined); // each joiner gets the error; this one is the coordinator's
  }

  /** An engine's commands; resolves once the rounds have run. */
  async join(commands: Command[]): Promise<void> {
    this.commands.push(...commands);
    this.leave();
    await this.finished;
  }

  /** An engine that will hand in nothing (it failed, or cannot run here). */
  leave(): void {
    if (--this.waiting === 0) this.allIn();
  }

  async run(): Promise<void> {
    await this.gathered;
    try {
      for (const c of this.commands) for (let i = 0; i < WARMUP; i++) await c.once();
      const ms = this.commands.map((): number[] => []);
      for (let round = 0; round < RUNS; round++) {
        for (let k = 0; k < this.commands.length; k++) {
          const j = (round + k) % this.commands.length;
          ms[j]!.push(await wallMs(this.commands[j]!.once));
        }
      }
      for (const [j, c] of this.commands.entries()) {
        timings.push({ name: c.name, ms: ms[j]! });
        process.stderr.write(`bench: ${c.name}: median ${median(ms[j]!).toFixed(1)} ms\n`);
      }
      this.finish();
    } catch (err) {
      this.finish(err);
      throw err;
    }
  }
}



/** How long a daemon is left alone before its memory is read (pierd gives memory back after 2 s quiet). */
const SETTLE_MS = 3000;

async function settledRssKiB(read: () => Promise<number>): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return read();
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Pids of processes whose program's file name matches `program` and whose command line contains `marker`. */
async function processesOf(program: RegExp, marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const args = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (program.test((args[0] ?? '').split('/').pop() ?? '') && args.some((a) => a.includes(marker))) pids.push(Number(name));
  }
  return pids;
}

async function totalRssKiB(pids: number[]): Promise<number> {
  return (await Promise.all(pids.map(rssKiB))).reduce((a, b) => a + b, 0);
}

/** Start IDLE detached `sleep 1000` containers through `docker`; returns their ids. */
async function startIdle(docker: (args: string[]) => Promise<RunResult>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < IDLE; i++) {
    ids.push(check(await docker(['run', '-d', '--network', 'none', 'busybox', 'sleep', '1000']), 'docker run -d').trim());
  }
  return ids;
}

/** pierd on a private root; `bundle` gets the config.json of its containers before the rounds. */
async function benchPier(rounds: Rounds, bundle: (config: OciConfig | undefined) => void): Promise<void> {
  let joined = false;
  const d: Daemon = await startDaemon({ schemaProxy: false, logLevel: 'warn' }).catch((err: unknown) => {
    bundle(undefined);
    rounds.leave();
    throw err;
  });
  try {
    const freshKiB = await settledRssKiB(() => rssKiB(d.pid!));
    await importBusybox(d);
    const info = await d.docker(['info', '--format', '{{.DefaultRuntime}}']);
    const runtime = info.code === 0 ? info.stdout.trim() : 'unknown';
    const probe = check(await d.docker(['run', '-d', '--network', 'none', 'busybox', 'sleep', '1000']), 'docker run -d').trim();
    bundle(await bundleConfig(d.execRoot, probe));
    await d.docker(['rm', '-f', probe]);
    const commands: Command[] = [{ name: `pier (docker CLI, runtime ${runtime})`, once: async () => void check(await d.docker(RUN_ARGS), 'docker run against pierd') }];
    if (existsSync(join(repoRoot, 'bin', 'pier'))) commands.push({ name: 'pier (pier CLI)', once: async () => void check(await d.pier(RUN_ARGS), 'pier run') });
    joined = true;
    await rounds.join(commands);
    const pid = d.pid!;
    const idleKiB = await settledRssKiB(() => rssKiB(pid));
    await startIdle((args) => d.docker(args)); // d.stop() removes them
    const monitors = await processesOf(/^conmon$/, d.dir);
    memory.push({
      name: 'pierd', freshKiB, idleKiB, busyKiB: await settledRssKiB(() => rssKiB(pid)),
      monitor: 'conmon', monitorKiB: await Promise.all(monitors.map(rssKiB)),
    });
  } finally {
    if (!joined) {
      bundle(undefined);
      rounds.leave();
    }
    await d.stop();
  }
}

/** The pierd of another built checkout (`--compare DIR`), in the same rounds; no memory figures. */
async function benchCompare(rounds: Rounds, dir: string): Promise<void> {
  let joined = false;
  try {
    const label = (await run('git', ['-C', dir, 'log', '-1', '--format=%h'], process.env)).stdout.trim() || dir;
    const d: Daemon = await startDaemon({ schemaProxy: false, logLevel: 'warn', pierd: join(dir, 'bin', 'pierd') });
    try {
      await importBusybox(d);
      const info = await d.docker(['info', '--format', '{{.DefaultRuntime}}']);
      const runtime = info.code === 0 ? info.stdout.trim() : 'unknown';
      joined = true;
      await rounds.join([{ name: `pier @${label} (docker CLI, runtime ${runtime})`, once: async () => void check(await d.docker(RUN_ARGS), `docker run against pierd @${label}`) }]);
    } finally {
      await d.stop();
    }
  } finally {
    if (!joined) rounds.leave();
  }
}

/** The config.json pier wrote for container `id`: the first one found under its exec-root folder. */
async function bundleConfig(execRoot: string, id: string): Promise<OciConfig | undefined> {
  const walk = async (dir: string, depth: number): Promise<string | undefined> => {
    if (existsSync(join(dir, 'config.json'))) return join(dir, 'config.json');
    if (depth === 0) return undefined;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const found = await walk(join(dir, entry.name), depth - 1);
      if (found) return found;
    }
    return undefined;
  };
  const path = await walk(join(execRoot, 'containers', id), 2);
  return path ? (JSON.parse(await readFile(path, 'utf8')) as OciConfig) : undefined;
}

/**
 * The bare runtime: `runc spec`, adjusted to run `true` without a terminal on a writable copy
 * of the busybox rootfs, with runc spec's namespaces (pid, net with loopback only, ipc, uts,
 * mount) and pier's seccomp filter when pier ran first: crun (the ratios' raw baseline) and runc.
 */
async function benchRaw(rounds: Rounds, pierBundle: Promise<OciConfig | undefined>): Promise<OciConfig> {
  const dir = await mkdtemp('/tmp/pr-');
  const state = join(dir, 'state');
  let n = 0;
  let joined = false;
  try {
    const pier = await pierBundle;
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs);
    check(await run('tar', ['-xf', await busyboxTarPath(), '-C', rootfs], process.env), 'tar -x busybox');
    check(await run('runc', ['spec', '--bundle', dir], process.env), 'runc spec');
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as OciConfig & { process: { args: string[]; terminal: boolean } };
    config.process.terminal = false;
    config.process.args = ['true'];
    config.root = { path: 'rootfs', readonly: false };
    // The same seccomp filter as pier's containers, so both sides pay for the same filter.
    if (pier?.linux?.seccomp) config.linux = { ...config.linux, seccomp: pier.linux.seccomp };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));

    const once = (runtime: string[]): Promise<RunResult> => run(runtime[0]!, [...runtime.slice(1), '--root', state, 'run', '--bundle', dir, `bench-${n++}`], process.env);
    const tryOnce = (runtime: string[]): Promise<RunResult> => once(runtime).catch((err: unknown) => ({ code: -1, stdout: '', stderr: String(err) }));
    // crun as it is; where it refuses the hybrid cgroup layout of these machines, crun as pier
    // runs it there: in a mount namespace of its own without the cgroup2 mount (one more
    // unshare, sh and umount per run, which pier's create pays too). runc beside it.
    const commands: Command[] = [];
    const bare = await tryOnce(['crun']);
    if (bare.code === 0) commands.push({ name: 'raw crun run (bundle from runc spec)', once: async () => void check(await once(['crun']), 'crun run') });
    else {
      const unified = '/sys/fs/cgroup/unified';
      const unshared = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount -l "$0" && exec "$@"', unified, 'crun'];
      const trial = existsSync(unified) ? await tryOnce(unshared) : bare;
      if (trial.code === 0) {
        notes.push(`crun refuses this cgroup layout as it is (${bare.stderr.trim() || `exit ${bare.code}`}): raw crun runs without the cgroup2 mount, as pier runs it`);
        commands.push({ name: 'raw crun run, no cgroup2 mount (runc spec)', once: async () => void check(await once(unshared), 'crun run') });
      } else notes.push(`crun cannot run here (${trial.stderr.trim() || `exit ${trial.code}`}): the raw figure is runc's`);
    }
    commands.push({ name: 'raw runc run (bundle from runc spec)', once: async () => void check(await once(['runc']), 'runc run') });
    joined = true;
    await rounds.join(commands);
    return config;
  } finally {
    if (!joined) rounds.leave();
    for (const runtime of ['crun', 'runc']) {
      for (const id of await readdir(state).catch(() => [])) {
        await run(runtime, ['--root', state, 'delete', '--force', id], process.env).catch(() => undefined);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Docker's own engine, started and stopped by ../shared/reference-docker. */
async function benchDocker(rounds: Rounds): Promise<void> {
  const scripts = [join(repoRoot, '..', 'shared', 'reference-docker'), '/work/shared/reference-docker'].find((dir) => existsSync(join(dir, 'start.sh')));
  if (!scripts) {
    notes.push('no shared/reference-docker/start.sh here: no Docker figures');
    rounds.leave();
    return;
  }
  let joined = false;
  const netfilter = await netfilterState();
  try {
    const started = check(await run('bash', [join(scripts, 'start.sh')], process.env, { timeoutMs: 600_000 }), 'reference-docker start.sh');
    const host = /DOCKER_HOST=(\S+)/.exec(started)?.[1];
    if (!host) throw new Error(`reference-docker start.sh printed no DOCKER_HOST: ${started}`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')));
    const docker = (args: string[], runOpts?: RunOptions): Promise<RunResult> =>
      run(dockerCli, args, { ...env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' }, runOpts);
    const version = check(await docker(['version', '--format', '{{.Server.Version}}']), 'docker version').trim();
    const dockerdPid = Number((await readFile('/run/reference-docker/dockerd.pid', 'utf8')).trim());
    const daemons = async (): Promise<number> =>
      totalRssKiB([dockerdPid, ...(await processesOf(/^containerd$/, '/run/reference-docker'))]);
    const freshKiB = await settledRssKiB(daemons);
    await importBusybox({ docker });
    joined = true;
    await rounds.join([{ name: `Docker ${version} (docker CLI)`, once: async () => void check(await docker(RUN_ARGS), 'docker run against Docker') }]);
    const idleKiB = await settledRssKiB(daemons);
    const ids = await startIdle(docker);
    try {
      const shims = await processesOf(/^containerd-shim/, '/run/reference-docker');
      memory.push({
        name: 'dockerd + containerd', freshKiB, idleKiB, busyKiB: await settledRssKiB(daemons),
        monitor: 'containerd-shim', monitorKiB: await Promise.all(shims.map(rssKiB)),
      });
    } finally {
      await docker(['rm', '-f', ...ids]);
    }
  } finally {
    if (!joined) rounds.leave();
    await run('bash', [join(scripts, 'stop.sh')], process.env, { timeoutMs: 120_000 });
    await restoreNetfilter(netfilter);
  }
}

/** What differs between pier's bundle and the raw one, in what costs time at start. */
function differences(pier: OciConfig, raw: OciConfig): string[] {
  const namespaces = (c: OciConfig): string => (c.linux?.namespaces ?? []).map((n) => n.type).sort().join(',');
  const seccomp = (c: OciConfig): string => (c.linux?.seccomp ? `a profile (default action ${c.linux.seccomp.defaultAction ?? '?'})` : 'none');
  return [
    `namespaces: pier ${namespaces(pier)}; raw ${namespaces(raw)}`,
    `seccomp: pier ${seccomp(pier)}; raw ${seccomp(raw)}`,
    `PID 1: pier ${pier.process.args[0] ?? '?'}; raw ${raw.process.args[0] ?? '?'}`,
  ];
}

function table(): string {
  const lines: string[] = [];
  const raw = timings.find((t) => t.name.startsWith('raw crun')) ?? timings.find((t) => t.name.startsWith('raw'));
  const docker = timings.find((t) => t.name.startsWith('Docker'));
  lines.push(`run --rm --network none busybox true: ${RUNS} rounds (one run of each, order rotating) after ${WARMUP} warm-ups each, wall ms`);
  lines.push(`${'what'.padEnd(44)}${'median'.padStart(8)}${'p90'.padStart(8)}${'min'.padStart(8)}${'× raw'.padStart(8)}${'× Docker'.padStart(10)}`);
  const rank = (t: Timing): number => ['pier', 'raw', 'Docker'].findIndex((p) => t.name.startsWith(p));
  for (const t of [...timings].sort((a, b) => rank(a) - rank(b))) {
    const m = median(t.ms);
    const ratio = (base: Timing | undefined): string => (base && base !== t ? (m / median(base.ms)).toFixed(2) : '');
    lines.push(`${t.name.padEnd(44)}${m.toFixed(1).padStart(8)}${percentile(t.ms, 90).toFixed(1).padStart(8)}${Math.min(...t.ms).toFixed(1).padStart(8)}${ratio(raw).padStart(8)}${ratio(docker).padStart(10)}`);
  }
  if (memory.length > 0) {
    const mib = (kib: number): string => (kib / 1024).toFixed(1);
    lines.push('');
    lines.push(`memory, VmRSS MiB, each ${SETTLE_MS / 1000} s after the last command (fresh: before any; idle: after the runs; busy: with ${IDLE} idle containers)`);
    lines.push(`${'daemon'.padEnd(24)}${'fresh'.padStart(8)}${'idle'.padStart(8)}${'busy'.padStart(8)}   monitor per container (mean, n)`);
    for (const m of memory) {
      const mean = m.monitorKiB.length ? m.monitorKiB.reduce((a, b) => a + b, 0) / m.monitorKiB.length : 0;
      lines.push(`${m.name.padEnd(24)}${mib(m.freshKiB).padStart(8)}${mib(m.idleKiB).padStart(8)}${mib(m.busyKiB).padStart(8)}   ${m.monitor} ${mib(mean)} (${m.monitorKiB.length})`);
    }
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  const engines = [!opts['no-pier'], !opts['no-raw'], !opts['no-docker'], ...opts.compare.map(() => true)];
  const rounds = new Rounds(engines.filter((e) => e).length);
  let pierConfig: OciConfig | undefined;
  let gotBundle!: (c: OciConfig | undefined) => void;
  const pierBundle = new Promise<OciConfig | undefined>((resolve) => (gotBundle = resolve));
  if (opts['no-pier']) gotBundle(undefined);
  const [pier, raw, docker, compared, timed] = await Promise.allSettled([
    opts['no-pier'] ? Promise.resolve() : benchPier(rounds, (c) => gotBundle((pierConfig = c))),
    opts['no-raw'] ? Promise.resolve(undefined) : benchRaw(rounds, pierBundle),
    opts['no-docker'] ? Promise.resolve() : benchDocker(rounds),
    Promise.all(opts.compare.map((dir) => benchCompare(rounds, dir))),
    rounds.run(),
  ]);
  for (const r of [timed, pier, raw, docker, compared]) if (r.status === 'rejected') throw r.reason;
  const rawConfig = raw.status === 'fulfilled' ? raw.value : undefined;
  if (pierConfig && rawConfig) notes.push(...differences(pierConfig, rawConfig));
  else if (!opts['no-pier'] && !pierConfig) notes.push("pier's bundle config.json was not found: no comparison of bundles");
  process.stdout.write(`${table()}\n`);
}

await main();
