/**
 * Benchmark (not a test): how pierd's costs grow with the number of running containers.
 *
 *   bash bench/run-scale.sh [--counts 100,1000] [--burst 100] [--clients 10] [--runtime crun|runc]
 *
 * One private pierd; running `busybox sleep 1d` containers, half on the default bridge and half
 * with `--network none`, are added until each count of --counts runs. At each count:
 *
 * - memory: pierd's VmRSS, and each conmon's Rss and Pss (/proc/<pid>/smaps_rollup; Pss shares
 *   the pages conmons have in common among them), as the mean per container;
 * - `docker ps` and `docker ps -a`: median wall time of 5, beside the docker CLI's own floor in
 *   the same run (`docker version`: the CLI's start and one request);
 * - a burst: --burst more containers started by --clients docker CLIs in parallel (`docker run
 *   -d`), while a prober asks `/_ping` on a new connection every 5 ms (max and p99 latency);
 *   then the burst removed by the same clients (`docker rm -f`);
 * - a restart: pierd killed (SIGKILL; its containers keep running under conmon) and started on
 *   the same paths: the time until it answers `/_ping`, and until `GET /containers/json` lists
 *   every container as running again.
 *
 * The table prints each figure at each count and the ratio of the last to the first, beside
 * the ratio of the counts (linear growth). Every container it made is removed at the end
 * (the harness's stop). Needs root.
 */
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { importBusybox, startDaemon, type Daemon } from '../test/harness.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    counts: { type: 'string', default: '100,1000' },
    burst: { type: 'string', default: '100' },
    clients: { type: 'string', default: '10' },
    runtime: { type: 'string' },
  },
});
const COUNTS = opts.counts.split(',').map(Number).sort((a, b) => a - b);
const BURST = Number(opts.burst);
const CLIENTS = Number(opts.clients);
const SETTLE_MS = 3000;

type Row = Map<string, number>;

/** One request on a new connection: status, body and wall ms. */
function api(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: socket, method, path, agent: false, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Run `job(i)` for i in [0, n) with `clients` of them at a time. */
async function parallel(n: number, clients: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(clients, n) }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

const networkOf = (i: number): string => (i % 2 === 0 ? 'bridge' : 'none');

/** Start `n` more sleeping containers through the API (quicker than the CLI: this is set-up, not measured). */
async function fill(d: Daemon, from: number, n: number): Promise<void> {
  await parallel(n, CLIENTS, async (k) => {
    const i = from + k;
    const created = await api(d.socket, 'POST', `/containers/create?name=s${i}`, { Image: 'busybox', Cmd: ['sleep', '1d'], HostConfig: { NetworkMode: networkOf(i) } });
    if (created.status !== 201) throw new Error(`create s${i}: ${created.status} ${created.body}`);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const started = await api(d.socket, 'POST', `/containers/${id}/start`);
    if (started.status !== 204) throw new Error(`start s${i}: ${started.status} ${started.body}`);
  });
}

async function statusKiB(pid: number, field: string, file = 'status'): Promise<number> {
  const text = await readFile(`/proc/${pid}/${file}`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/${file}`);
  return Number(m[1]);
}

async function conmonsOf(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const args = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if ((args[0] ?? '').endsWith('conmon') && args.some((a) => a.includes(marker))) pids.push(Number(name));
  }
  return pids;
}

async function medianOf(times: number, fn: () => Promise<void>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) ms.push(await wallMs(fn));
  return median(ms);
}

async function runningCount(d: Daemon): Promise<number> {
  const r = await api(d.socket, 'GET', '/containers/json');
  if (r.status !== 200) return -1;
  return (JSON.parse(r.body) as unknown[]).length;
}

async function measure(d: Daemon, n: number): Promise<Row> {
  const row: Row = new Map();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  row.set('pierd VmRSS MiB', (await statusKiB(d.pid!, 'VmRSS')) / 1024);
  const conmons = await conmonsOf(d.dir);
  row.set('conmon processes', conmons.length);
  const rss = await Promise.all(conmons.map((p) => statusKiB(p, 'Rss', 'smaps_rollup')));
  const pss = await Promise.all(conmons.map((p) => statusKiB(p, 'Pss', 'smaps_rollup')));
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length) / 1024;
  row.set('conmon Rss MiB (mean)', mean(rss));
  row.set('conmon Pss MiB (mean)', mean(pss));
  row.set('docker version ms (CLI floor)', await medianOf(5, async () => void check(await d.docker(['version', '--format', '{{.Server.Version}}']), 'docker version')));
  row.set('docker ps ms', await medianOf(5, async () => void check(await d.docker(['ps']), 'docker ps')));
  row.set('docker ps -a ms', await medianOf(5, async () => void check(await d.docker(['ps', '-a']), 'docker ps -a')));
  row.set('GET /containers/json?all=1 ms', await medianOf(5, async () => { await api(d.socket, 'GET', '/containers/json?all=1'); }));

  // The burst, with the prober beside it.
  const pings: number[] = [];
  let bursting = true;
  const prober = (async () => {
    while (bursting) {
      pings.push((await api(d.socket, 'GET', '/_ping')).ms);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const ids: string[] = [];
  const startMs = await wallMs(() =>
    parallel(BURST, CLIENTS, async (k) => {
      ids.push(check(await d.docker(['run', '-d', '--network', networkOf(k), '--name', `b${n}-${k}`, 'busybox', 'sleep', '1d']), 'docker run -d').trim());
    }),
  ).finally(() => (bursting = false));
  await prober;
  row.set(`start ${BURST} (${CLIENTS} clients) s`, startMs / 1000);
  row.set('/_ping during it: max ms', Math.max(...pings));
  row.set('/_ping during it: p99 ms', percentile(pings, 99));
  row.set(`remove ${BURST} (${CLIENTS} clients) s`, (await wallMs(() => parallel(ids.length, CLIENTS, async (k) => void check(await d.docker(['rm', '-f', ids[k]!]), 'docker rm -f')))) / 1000);

  // The restart.
  await d.kill9();
  const t0 = process.hrtime.bigint();
  const since = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  await d.restart();
  row.set('restart: until /_ping s', since() / 1000);
  while ((await runningCount(d)) < n) await new Promise((r) => setTimeout(r, 20));
  row.set('restart: until ps lists all s', since() / 1000);
  return row;
}

function table(rows: Array<{ n: number; row: Row }>): string {
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const w = 12;
  const lines = [
    `scale: ${COUNTS.join(', ')} running busybox sleep containers (half bridge, half --network none); load average at the start ${loadAtStart.trim()}`,
    `${'figure'.padEnd(36)}${rows.map((r) => `N=${r.n}`.padStart(w)).join('')}${'ratio'.padStart(w)}${'N ratio'.padStart(w)}`,
  ];
  for (const name of first.row.keys()) {
    const ratio = (last.row.get(name) ?? NaN) / (first.row.get(name) ?? NaN);
    lines.push(`${name.padEnd(36)}${rows.map((r) => (r.row.get(name) ?? NaN).toFixed(2).padStart(w)).join('')}${ratio.toFixed(2).padStart(w)}${(last.n / first.n).toFixed(1).padStart(w)}`);
  }
  const growth = (r: { n: number; row: Row }): number => ((r.row.get('pierd VmRSS MiB') ?? 0) - fresh) / r.n;
  lines.push(`pierd VmRSS above fresh (${fresh.toFixed(1)} MiB), KiB per container: ${rows.map((r) => `N=${r.n}: ${(growth(r) * 1024).toFixed(0)}`).join(', ')}`);
  return lines.join('\n');
}

let loadAtStart = '';
let fresh = 0;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  loadAtStart = await readFile('/proc/loadavg', 'utf8');
  const runtime = opts.runtime === 'crun' || opts.runtime === 'runc' ? opts.runtime : undefined;
  const d = await startDaemon({ schemaProxy: false, logLevel: 'warn', startTimeoutMs: 600_000, runtime });
  const rows: Array<{ n: number; row: Row }> = [];
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    fresh = (await statusKiB(d.pid!, 'VmRSS')) / 1024;
    await importBusybox(d);
    let have = 0;
    for (const n of COUNTS) {
      const t = await wallMs(() => fill(d, have, n - have));
      process.stderr.write(`scale: ${n} running (${n - have} added in ${(t / 1000).toFixed(1)} s)\n`);
      have = n;
      const row = await measure(d, n);
      rows.push({ n, row });
      process.stderr.write(`scale: N=${n}: ${[...row].map(([k, v]) => `${k} ${v.toFixed(2)}`).join('; ')}\n`);
    }
  } finally {
    const t = await wallMs(() => d.stop());
    process.stderr.write(`scale: every container removed and pierd stopped in ${(t / 1000).toFixed(1)} s\n`);
  }
  process.stdout.write(`${table(rows)}\n`);
}

await main();
