/**
 * Benchmark (not a test) of a volume's first use, pier beside Docker's engine in the same run:
 * `docker run --rm -v <new volume>:/data <image> true` where the image has 10,000 files in its
 * VOLUME /data, so that the run copies them into the empty volume (Docker's rule); beside it the
 * same run with a volume already filled (no copy), so the copy's own cost shows.
 *
 *   bash bench/run-volumes.sh [--runs 10] [--warmup 1] [--files 10000] [--no-docker]
 *
 * The image is built on each engine from the same Dockerfile with the docker CLI's classic
 * builder. Each figure is the wall time of one docker CLI command spawned from here; the new
 * volume is removed after each run (not timed). Needs root.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importBusybox, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { part, withReferenceDocker } from './reference-docker.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    files: { type: 'string', default: '10000' },
    'no-docker': { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
const FILES = Number(opts.files);

type Docker = (args: string[], runOpts?: RunOptions) => Promise<RunResult>;

interface Timing {
  engine: string;
  what: string;
  ms: number[];
}

const timings: Timing[] = [];
const notes: string[] = [];

async function measure(engine: string, docker: Docker, context: string): Promise<void> {
  await importBusybox({ docker });
  check(await docker(['build', '-q', '-t', 'bench-volume-image', context], { timeoutMs: 600_000, env: { DOCKER_BUILDKIT: '0' } }), `${engine}: build`);
  const first: Timing = { engine, what: `first use (${FILES} files copied)`, ms: [] };
  const filled: Timing = { engine, what: 'a filled volume (no copy)', ms: [] };
  check(await docker(['volume', 'create', 'bench-filled']), `${engine}: volume create`);
  try {
    check(await docker(['run', '--rm', '-v', 'bench-filled:/data', 'bench-volume-image', 'true']), `${engine}: fill`);
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const name = `bench-new-${i}`;
      const f = await wallMs(async () => void check(await docker(['run', '--rm', '-v', `${name}:/data`, 'bench-volume-image', 'true']), `${engine}: first use`));
      const listed = check(await docker(['run', '--rm', '-v', `${name}:/data`, 'busybox', 'sh', '-c', 'ls /data | wc -l']), `${engine}: count`).trim();
      if (Number(listed) !== FILES) throw new Error(`${engine}: the new volume holds ${listed} files, not ${FILES}`);
      check(await docker(['volume', 'rm', name]), `${engine}: volume rm`);
      const g = await wallMs(async () => void check(await docker(['run', '--rm', '-v', 'bench-filled:/data', 'bench-volume-image', 'true']), `${engine}: filled`));
      if (i >= WARMUP) {
        first.ms.push(f);
        filled.ms.push(g);
      }
    }
  } finally {
    await docker(['volume', 'rm', '-f', 'bench-filled']);
    await docker(['rmi', 'bench-volume-image']);
  }
  timings.push(first, filled);
}

async function benchPier(context: string): Promise<void> {
  const d = await startDaemon({ schemaProxy: false });
  try {
    await measure('pier', (args, o) => d.docker(args, o), context);
  } finally {
    await d.stop();
  }
}

/** Docker's own engine, started and stopped by ../shared/reference-docker. */
async function benchDocker(context: string): Promise<void> {
  await withReferenceDocker(notes, async (docker, _env, version) => {
    await measure(`Docker ${version}`, docker, context);
    await docker(['rmi', 'busybox']);
  });
}

function report(): string {
  const lines = [`wall ms of docker run --rm -v VOLUME:/data IMAGE true, ${RUNS} runs after ${WARMUP} warm-up`];
  lines.push(`${'engine: volume'.padEnd(48)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'x Docker'.padStart(10)}`);
  for (const t of timings) {
    const docker = timings.find((o) => o.what === t.what && o.engine.startsWith('Docker'));
    const ratio = docker && t !== docker ? (median(t.ms) / median(docker.ms)).toFixed(2) : '';
    lines.push(`${`${t.engine}: ${t.what}`.padEnd(48)}${median(t.ms).toFixed(1).padStart(9)}${percentile(t.ms, 90).toFixed(1).padStart(9)}${Math.min(...t.ms).toFixed(1).padStart(9)}${ratio.padStart(10)}`);
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}


async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  const context = await mkdtemp('/tmp/pier-bench-volumes-');
  try {
    await writeFile(
      join(context, 'Dockerfile'),
      `FROM busybox\nRUN mkdir /data && cd /data && i=0 && while [ $i -lt ${FILES} ]; do echo $i > f$i; i=$((i+1)); done\nVOLUME /data\n`,
    );
    await part(notes, 'pier', () => benchPier(context));
    if (!opts['no-docker']) await part(notes, 'Docker', () => benchDocker(context));
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  process.stdout.write(`${report()}\n`);
  if (notes.some((n) => / failed: /.test(n))) process.exitCode = 1;
}

await main();
