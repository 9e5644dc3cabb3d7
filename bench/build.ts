/**
 * Benchmark (not a test): `docker build` (classic API, DOCKER_BUILDKIT=0) of a two-stage
 * Dockerfile against pierd and against Docker's own engine (../shared/reference-docker, when
 * there), in one run on one machine: a build without the cache, an unchanged rebuild (every
 * step cached), and a rebuild after one copied file changed.
 *
 *   npm run build && node dist/bench/build.js [--runs 5] [--no-docker]
 *
 * Each figure is the wall time of one `docker build`, CLI start-up included. Needs root.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { dockerCli, importBusybox, run, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { check, median, wallMs } from './stats.js';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-docker': { type: 'boolean', default: false } } });
const RUNS = Number(opts.runs);

const DOCKERFILE = `ARG GREETING=hello
FROM busybox AS build
ARG GREETING
WORKDIR /src
COPY msg.txt .
RUN echo "$GREETING: $(cat msg.txt)" > /src/out.txt
FROM busybox
ENV APP_HOME=/app
WORKDIR $APP_HOME
COPY --from=build /src/out.txt ./out.txt
COPY data/ ./data/
RUN ls -R /app > /app/listing
LABEL org.example.name=bench
EXPOSE 8080
CMD ["cat", "/app/out.txt"]
`;

type Docker = (args: string[], o?: RunOptions) => Promise<RunResult>;
const rows: Array<{ engine: string; cold: number[]; cached: number[]; changed: number[] }> = [];



async function benchEngine(engine: string, docker: Docker): Promise<void> {
  const dir = await mkdtemp('/tmp/pbb-');
  try {
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(dir, 'msg.txt'), 'message');
    for (let i = 0; i < 20; i++) await writeFile(join(dir, 'data', `f${i}.txt`), `file ${i}\n`.repeat(100));
    const build = async (extra: string[]): Promise<string> => check(await docker(['build', '--network', 'none', ...extra, '-t', 'bench:1', dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 300_000 }), `${engine} build`);
    const row = { engine, cold: [] as number[], cached: [] as number[], changed: [] as number[] };
    await build(['--no-cache']); // warm-up
    for (let i = 0; i < RUNS; i++) row.cold.push(await wallMs(async () => {
        await build(['--no-cache']);
      }));
    await build([]);
    for (let i = 0; i < RUNS; i++) {
      row.cached.push(
        await wallMs(async () => {
          const out = await build([]);
          if (/Running in/.test(out)) throw new Error(`${engine}: an unchanged rebuild ran a step:\n${out}`);
        }),
      );
    }
    for (let i = 0; i < RUNS; i++) {
      await writeFile(join(dir, 'data', 'f0.txt'), `changed ${i} ${Date.now()}\n`);
      row.changed.push(await wallMs(async () => {
        await build([]);
      }));
    }
    rows.push(row);
    process.stderr.write(`bench: ${engine}: cold ${median(row.cold).toFixed(0)} ms, cached ${median(row.cached).toFixed(0)} ms, one file changed ${median(row.changed).toFixed(0)} ms\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchPier(): Promise<void> {
  const d = await startDaemon({ schemaProxy: false });
  try {
    await importBusybox(d);
    await benchEngine('pier (docker CLI, classic API)', (args, o) => d.docker(args, o));
  } finally {
    await d.stop();
  }
}

/**
 * Docker's own engine (Debian's docker.io, as ../shared/reference-docker installs it), started
 * here on a private socket and root with --iptables=false --ip-forward=false --bridge=none, so
 * it changes nothing of the host's network state; builds run with --network=none on both
 * engines (pier's default network is loopback-only anyway).
 */
async function benchDocker(): Promise<void> {
  if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) return;
  const dir = await mkdtemp('/tmp/pbd-');
  const sock = join(dir, 'd.sock');
  const child = spawn('dockerd', ['--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--host', `unix://${sock}`, '--pidfile', join(dir, 'pid'),
    '--storage-driver', 'overlay2', '--exec-opt', 'native.cgroupdriver=cgroupfs', '--iptables=false', '--ip-forward=false', '--bridge=none', '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  try {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')));
    const docker: Docker = (args, o) => run(dockerCli, args, { ...env, ...(o?.env ?? {}), DOCKER_HOST: `unix://${sock}`, DOCKER_CLI_HINTS: 'false' }, o);
    for (let i = 0; i < 100 && (await docker(['version'])).code !== 0; i++) await sleep(200);
    const version = check(await docker(['version', '--format', '{{.Server.Version}}']), 'docker version').trim();
    await importBusybox({ docker });
    await benchEngine(`Docker ${version} classic builder`, docker);
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    // Whatever dockerd left mounted under its root goes before the folder.
    const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir)).sort().reverse();
    for (const m of mounts) await run('umount', ['-l', m], process.env);
    await rm(dir, { recursive: true, force: true });
  }
}

await benchPier();
if (!opts['no-docker']) await benchDocker();
const w = 40;
process.stdout.write(`${'engine'.padEnd(w)}${'no cache'.padStart(10)}${'cached'.padStart(10)}${'1 file'.padStart(10)}   (median of ${RUNS}, ms)\n`);
for (const r of rows) process.stdout.write(`${r.engine.padEnd(w)}${median(r.cold).toFixed(0).padStart(10)}${median(r.cached).toFixed(0).padStart(10)}${median(r.changed).toFixed(0).padStart(10)}\n`);
