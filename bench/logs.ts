/**
 * Benchmark (not a test) of container logs, pier beside Docker's engine in the same run:
 *
 * - `docker logs --tail 10` of a container that wrote 1 GB (target: under 50 ms), through the
 *   docker CLI (its own start included) and through the API alone (one GET on the socket);
 *   pier with its default rotation (10 MB x 3) and with one file of it all (max-size=2g),
 *   Docker with its default json-file (one file, never rotated);
 * - `docker logs -f` from the start of such a container: what the follower received of the
 *   1 GB while pier rotated a hundred times under it, and how long it took.
 *
 *   bash bench/run-logs.sh [--mb 1000] [--runs 20] [--warmup 3] [--no-pier] [--no-docker]
 *
 * Needs root.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { dockerCli, importBusybox, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { withReferenceDocker } from './reference-docker.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    mb: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'no-pier': { type: 'boolean', default: false },
    'no-docker': { type: 'boolean', default: false },
  },
});
const BYTES = Number(opts.mb) * 1_000_000;
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
/** 100 bytes a line with its newline. */
const LINE = 'abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, 99);
const WRITER = ['sh', '-c', `yes ${LINE} | head -c ${BYTES}`];

interface Env {
  docker: (args: string[], runOpts?: RunOptions) => Promise<RunResult>;
  /** The API socket and the environment the docker CLI runs with. */
  socket: string;
  env: NodeJS.ProcessEnv;
}

interface Timing {
  what: string;
  ms: number[];
}

const timings: Timing[] = [];
const notes: string[] = [];

/** One GET of the logs API on the socket; resolves with the bytes of the answer. */
function apiTail(socket: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/containers/${id}/logs?stdout=1&stderr=1&tail=10`, method: 'GET' }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`logs API: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(what: string, once: () => Promise<void>): Promise<void> {
  const t: Timing = { what, ms: [] };
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const ms = await wallMs(once);
    if (i >= WARMUP) t.ms.push(ms);
  }
  timings.push(t);
  process.stderr.write(`bench: ${what}: median ${median(t.ms).toFixed(1)} ms\n`);
}

/** A container that wrote BYTES; its id and how long the writing took. */
async function bigLog(e: Env, name: string, flags: string[]): Promise<{ id: string; seconds: number }> {
  const start = Date.now();
  const id = check(await e.docker(['run', '-d', '--name', name, '--network', 'none', ...flags, 'busybox', ...WRITER]), `run ${name}`).trim();
  check(await e.docker(['wait', name], { timeoutMs: 1_800_000 }), `wait ${name}`);
  return { id, seconds: (Date.now() - start) / 1000 };
}

async function tails(engine: string, e: Env, name: string, flags: string[]): Promise<void> {
  const { id, seconds } = await bigLog(e, name, flags);
  notes.push(`${engine}: wrote ${BYTES / 1e6} MB in ${seconds.toFixed(1)} s`);
  const expect = `${LINE}\n`.repeat(10);
  await timed(`${engine}: logs --tail 10 (docker CLI)`, async () => {
    const r = check(await e.docker(['logs', '--tail', '10', name]), `${engine} logs --tail 10`);
    if (r !== expect) throw new Error(`${engine}: logs --tail 10 printed ${JSON.stringify(r.slice(0, 200))}`);
  });
  await timed(`${engine}: logs --tail 10 (API alone)`, async () => {
    const n = await apiTail(e.socket, id);
    if (n !== 10 * (8 + 100)) throw new Error(`${engine}: the logs API sent ${n} bytes`);
  });
  await e.docker(['rm', '-f', name]);
}

/** `docker logs -f` from the start of a container writing BYTES: bytes and lines received, seconds. */
async function follow(engine: string, e: Env, flags: string[]): Promise<void> {
  const name = 'bench-follow';
  check(await e.docker(['run', '-d', '--name', name, '--network', 'none', ...flags, 'busybox', 'sh', '-c', `sleep 2; ${WRITER[2]!}`]), `run ${name}`);
  const start = Date.now();
  const got = await new Promise<{ bytes: number; lines: number; code: number | null }>((resolve, reject) => {
    const p = spawn(dockerCli, ['logs', '-f', name], { env: e.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    let lines = 0;
    p.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
      for (let at = c.indexOf(10); at >= 0; at = c.indexOf(10, at + 1)) lines++;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ bytes, lines, code }));
  });
  const seconds = (Date.now() - start) / 1000 - 2;
  notes.push(`${engine}: logs -f from the start: ${got.bytes === BYTES ? 'every byte' : `${got.bytes} of ${BYTES} bytes`} (${got.lines} lines) in ${seconds.toFixed(1)} s, exit ${got.code}`);
  await e.docker(['rm', '-f', name]);
}

async function benchPier(): Promise<void> {
  const d = await startDaemon({ schemaProxy: false, logLevel: 'warn' });
  try {
    const e: Env = { docker: (args, o) => d.docker(args, o), socket: d.socket, env: d.env };
    await importBusybox(d);
    await tails('pier (10m x 3, rotating)', e, 'bench-rotated', []);
    await tails('pier (one file)', e, 'bench-one', ['--log-opt', 'max-size=2g']);
    await follow('pier (10m x 3)', e, []);
  } finally {
    await d.stop();
  }
}

/** Docker's own engine, started and stopped by ../shared/reference-docker. */
async function benchDocker(): Promise<void> {
  await withReferenceDocker(notes, async (docker, env, version) => {
    const e: Env = { docker, socket: (env.DOCKER_HOST ?? '').replace(/^unix:\/\//, ''), env };
    await importBusybox({ docker });
    await tails(`Docker ${version} (json-file)`, e, 'bench-docker', []);
    await follow(`Docker ${version} (json-file)`, e, []);
  });
}

function report(): string {
  const lines = [`logs --tail 10 of a container that wrote ${BYTES / 1e6} MB: wall ms, ${RUNS} runs after ${WARMUP} warm-ups`];
  lines.push(`${'what'.padEnd(58)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'x Docker'.padStart(10)}`);
  for (const t of timings) {
    const how = t.what.slice(t.what.lastIndexOf('('));
    const docker = timings.find((o) => o.what.startsWith('Docker') && o.what.endsWith(how));
    const ratio = docker && t !== docker ? (median(t.ms) / median(docker.ms)).toFixed(2) : '';
    lines.push(`${t.what.padEnd(58)}${median(t.ms).toFixed(1).padStart(9)}${percentile(t.ms, 90).toFixed(1).padStart(9)}${Math.min(...t.ms).toFixed(1).padStart(9)}${ratio.padStart(10)}`);
  }
  const cli = timings.find((t) => t.what === 'pier (10m x 3, rotating): logs --tail 10 (docker CLI)');
  if (cli) lines.push(`target: pier's logs --tail 10 under 50 ms: ${median(cli.ms) < 50 ? 'met' : 'NOT met'} (median ${median(cli.ms).toFixed(1)} ms, docker CLI included)`);
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

async function part(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    notes.push(`${name} failed: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  if (!opts['no-pier']) await part('pier', benchPier);
  if (!opts['no-docker']) await part('Docker', benchDocker);
  process.stdout.write(`${report()}\n`);
  if (notes.some((n) => / failed: /.test(n))) process.exitCode = 1;
}

await main();
