/**
 * Benchmark (not a test) of working with running containers, pier beside Docker's engine in
 * the same run:
 *
 * - `docker exec <running> true` (target: at most 0.4x Docker's time);
 * - `docker stats --no-stream` of 10 running containers (Docker reads two samples a second
 *   apart per container, moby #23188; pier answers from one when it has a recent one, else
 *   takes two a tenth of a second apart);
 * - the floor under `exec`, on pier's side: the CLI's start with one request (`docker inspect`)
 *   and the runtime's own `exec` spawned directly; what pier adds is the difference.
 *
 *   bash bench/run-exec.sh [--runs 30] [--warmup 3] [--containers 10] [--no-pier] [--no-docker]
 *
 * Each figure is the wall time of one docker CLI command spawned from here (the CLI's own
 * start is in both engines' figures). Needs root.
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importBusybox, run, RUNTIME_ROOT, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { part, withReferenceDocker } from './reference-docker.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    containers: { type: 'string', default: '10' },
    'no-pier': { type: 'boolean', default: false },
    'no-docker': { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
const CONTAINERS = Number(opts.containers);

type Docker = (args: string[], runOpts?: RunOptions) => Promise<RunResult>;

interface Timing {
  engine: string;
  what: string;
  ms: number[];
}

const timings: Timing[] = [];
const notes: string[] = [];

/** Time `args` RUNS times after WARMUP unrecorded runs. */
async function timed(engine: string, what: string, docker: Docker, args: string[], runs = RUNS): Promise<void> {
  const t: Timing = { engine, what, ms: [] };
  for (let i = 0; i < WARMUP + runs; i++) {
    const ms = await wallMs(async () => void check(await docker(args), `${engine}: ${args.join(' ')}`));
    if (i >= WARMUP) t.ms.push(ms);
  }
  timings.push(t);
}

/**
 * `measureFloor`, when given, times what no engine can go below, with the first container
 * running: the docker CLI's own start and a first request (`inspect`), and the runtime's own
 * `exec` of `true` spawned directly.
 */
async function measure(engine: string, docker: Docker, measureFloor?: (container: string) => Promise<void>): Promise<void> {
  await importBusybox({ docker });
  const names = Array.from({ length: CONTAINERS }, (_, i) => `bench-${i}`);
  try {
    for (const n of names) check(await docker(['run', '-d', '--name', n, '--network', 'none', 'busybox', 'sleep', '3600']), `${engine}: run ${n}`);
    await timed(engine, 'exec true', docker, ['exec', names[0]!, 'true']);
    await measureFloor?.(names[0]!);
    await timed(engine, `stats --no-stream of ${CONTAINERS}`, docker, ['stats', '--no-stream', ...names], Math.max(3, Math.floor(RUNS / 5)));
  } finally {
    await docker(['rm', '-f', ...names]);
  }
}

async function benchPier(): Promise<void> {
  const d = await startDaemon({ schemaProxy: false });
  try {
    const docker: Docker = (args, o) => d.docker(args, o);
    await measure('pier', docker, async (container) => {
      await timed('floor', 'docker inspect (CLI start, 2 requests)', docker, ['inspect', container]);
      const runtime = check(await docker(['info', '--format', '{{.DefaultRuntime}}']), 'docker info').trim();
      const id = check(await docker(['inspect', '--format', '{{.Id}}', container]), 'docker inspect').trim();
      const spec = join(d.dir, 'floor-process.json');
      await writeFile(spec, JSON.stringify({ args: ['true'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin:/usr/bin'] }));
      // stdin is a pipe (run's), never /dev/null: crun hands the exec's stdin to its user.
      const raw: Docker = (args) => run(runtime, args, process.env);
      await timed('floor', `${runtime} exec true, spawned directly`, raw, [`--root=${join(d.execRoot, RUNTIME_ROOT)}`, 'exec', '--process', spec, id]);
    });
  } finally {
    await d.stop();
  }
}

/** Docker's own engine, started and stopped by /work/shared/reference-docker. */
async function benchDocker(): Promise<void> {
  await withReferenceDocker(notes, async (docker, _env, version) => {
    await measure(`Docker ${version}`, docker);
  });
}

function report(): string {
  const lines = [`wall ms of one docker CLI command; ${WARMUP} warm-ups each`];
  lines.push(`${'what'.padEnd(46)}${'runs'.padStart(6)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'x Docker'.padStart(10)}`);
  for (const t of timings) {
    const docker = timings.find((o) => o.what === t.what && o.engine.startsWith('Docker'));
    const ratio = docker && t !== docker ? (median(t.ms) / median(docker.ms)).toFixed(2) : '';
    lines.push(`${`${t.engine}: ${t.what}`.padEnd(46)}${String(t.ms.length).padStart(6)}${median(t.ms).toFixed(1).padStart(9)}${percentile(t.ms, 90).toFixed(1).padStart(9)}${Math.min(...t.ms).toFixed(1).padStart(9)}${ratio.padStart(10)}`);
  }
  const pier = timings.find((t) => t.engine === 'pier' && t.what === 'exec true');
  const docker = timings.find((t) => t.engine.startsWith('Docker') && t.what === 'exec true');
  if (pier && docker) {
    const r = median(pier.ms) / median(docker.ms);
    lines.push(`exec: ${r.toFixed(2)}x Docker's time; target <= 0.4: ${r <= 0.4 ? 'met' : 'NOT met'}`);
    const floor = timings.filter((t) => t.engine === 'floor').reduce((sum, t) => sum + median(t.ms), 0);
    if (floor > 0) {
      lines.push(`floor (CLI start and first request + the runtime's exec): ${floor.toFixed(1)} ms = ${(floor / median(docker.ms)).toFixed(2)}x Docker's exec; pier above it: ${(median(pier.ms) - floor).toFixed(1)} ms`);
    }
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}


async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  if (!opts['no-pier']) await part(notes, 'pier', benchPier);
  if (!opts['no-docker']) await part(notes, 'Docker', benchDocker);
  process.stdout.write(`${report()}\n`);
  if (notes.some((n) => / failed: /.test(n))) process.exitCode = 1;
}

await main();
