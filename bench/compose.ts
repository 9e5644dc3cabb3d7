/**
 * Benchmark (not a test) of bringing a three-service application up and down: `up -d` and
 * `down -v` through `pier compose` and through docker-compose 1.29 against pierd, beside
 * docker-compose against Docker's engine, in the same run.
 *
 *   bash bench/run-compose.sh [--runs 10] [--warmup 1] [--no-docker]
 *
 * The application is the one of the compose tests: web (two replicas of busybox httpd behind a
 * health check), a worker, and a data service with a named volume, on the project's network;
 * web and the worker depend on data. Nothing is built (build time is the builder's benchmark).
 * Each figure is the wall time of one command spawned from here, the client's own start
 * included (docker-compose is a Python program: about 0.4 s of each of its figures is its own
 * start, on either engine). Needs root.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importBusybox, run, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { part, withReferenceDocker } from './reference-docker.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    'no-docker': { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);

const APP = `version: "3.8"
services:
  web:
    image: busybox
    command: sh -c 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www'
    deploy:
      replicas: 2
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"]
      interval: 1s
      timeout: 2s
      retries: 3
    depends_on: [data]
  worker:
    image: busybox
    init: true
    command: sleep 3600
    depends_on: [data]
  data:
    image: busybox
    init: true
    command: sh -c 'date > /data/started; exec sleep 3600'
    volumes: ["store:/data"]
volumes:
  store: {}
`;

type Client = (args: string[], runOpts?: RunOptions) => Promise<RunResult>;

interface Timing {
  client: string;
  engine: string;
  what: 'up -d' | 'down -v';
  ms: number[];
}

const timings: Timing[] = [];
const notes: string[] = [];

/** Time up -d then down -v of the application, RUNS times after WARMUP unrecorded rounds. */
async function measure(client: string, engine: string, compose: Client): Promise<void> {
  const up: Timing = { client, engine, what: 'up -d', ms: [] };
  const down: Timing = { client, engine, what: 'down -v', ms: [] };
  try {
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const u = await wallMs(async () => void check(await compose(['up', '-d']), `${client} on ${engine}: up -d`));
      const d = await wallMs(async () => void check(await compose(['down', '-v']), `${client} on ${engine}: down -v`));
      if (i >= WARMUP) {
        up.ms.push(u);
        down.ms.push(d);
      }
    }
  } finally {
    await compose(['down', '-v']).catch(() => undefined);
  }
  timings.push(up, down);
}

async function benchPier(file: string): Promise<void> {
  const d = await startDaemon({ schemaProxy: false });
  try {
    await importBusybox(d);
    await measure('pier compose', 'pierd', (args, o) => d.pier(['compose', '-p', 'bench', '-f', file, ...args], o));
    await measure('docker-compose 1.29', 'pierd', (args, o) => run('docker-compose', ['-p', 'bench', '-f', file, ...args], d.env, o));
  } finally {
    await d.stop();
  }
}

/** Docker's own engine, started and stopped by ../shared/reference-docker. */
async function benchDocker(file: string): Promise<void> {
  await withReferenceDocker(notes, async (docker, env, version) => {
    await importBusybox({ docker });
    await measure('docker-compose 1.29', `Docker ${version}`, (args, o) => run('docker-compose', ['-p', 'bench', '-f', file, ...args], env, o));
    await docker(['rmi', 'busybox']);
  });
}

function report(): string {
  const lines = [`wall ms of one command: the three-service application (4 containers), ${RUNS} rounds after ${WARMUP} warm-up`];
  lines.push(`${'client on engine: command'.padEnd(52)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'x Docker'.padStart(10)}`);
  for (const t of timings) {
    const docker = timings.find((o) => o.what === t.what && o.engine.startsWith('Docker'));
    const ratio = docker && t !== docker ? (median(t.ms) / median(docker.ms)).toFixed(2) : '';
    lines.push(`${`${t.client} on ${t.engine}: ${t.what}`.padEnd(52)}${median(t.ms).toFixed(0).padStart(9)}${percentile(t.ms, 90).toFixed(0).padStart(9)}${Math.min(...t.ms).toFixed(0).padStart(9)}${ratio.padStart(10)}`);
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}


async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  const dir = await mkdtemp('/tmp/pier-bench-compose-');
  const file = join(dir, 'compose.yaml');
  try {
    await writeFile(file, APP);
    await part(notes, 'pier', () => benchPier(file));
    if (!opts['no-docker']) await part(notes, 'Docker', () => benchDocker(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${report()}\n`);
  if (notes.some((n) => / failed: /.test(n))) process.exitCode = 1;
}

await main();
