/**
 * Benchmark (not a test) of pier's bridge networks, beside Docker's engine in the same run:
 *
 * - start cost: `docker run --rm busybox true` on the default bridge and with `--network none`,
 *   alternated run by run, medians and their difference (target: the bridge costs at most
 *   20 ms more than none);
 * - throughput: MIB MiB from one container to another on a user network with busybox `nc`
 *   (busybox-static's wget segfaults here), beside the same transfer between two plain network
 *   namespaces joined by a veth pair, the limit of that tool on this machine.
 *
 *   bash bench/run-networks.sh [--runs 20] [--warmup 3] [--mib 1024] [--transfers 3] [--no-pier] [--no-docker] [--no-veth]
 *
 * Start figures are the wall time of one docker CLI command spawned from here; transfer figures
 * are the wall time of `docker run --rm` of the sending container, less the median of the same
 * run doing nothing (the sender ends only when the receiver has read everything and closed).
 * Needs root.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { importBusybox, run, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { withReferenceDocker } from './reference-docker.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    mib: { type: 'string', default: '1024' },
    transfers: { type: 'string', default: '3' },
    'no-pier': { type: 'boolean', default: false },
    'no-docker': { type: 'boolean', default: false },
    'no-veth': { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
const MIB = Number(opts.mib);
const TRANSFERS = Number(opts.transfers);
/**
 * Seconds after which either side of a transfer gives up: a transfer stalls for good when the
 * host's netfilter rules are replaced under the daemon (another program restoring a saved
 * rule set) with the bridge's traffic behind a FORWARD DROP.
 */
const STALL = 300;

type Docker = (args: string[], runOpts?: RunOptions) => Promise<RunResult>;

interface Timing {
  name: string;
  ms: number[];
}

interface Throughput {
  name: string;
  /** Wall ms of each transfer, overhead included. */
  ms: number[];
  /** Median wall ms of the same command moving nothing. */
  overheadMs: number;
}

const starts: Timing[] = [];
const throughputs: Throughput[] = [];
const notes: string[] = [];





/**
 * `run --rm busybox true` with `--network none` and on the default bridge, alternated so that
 * drift of the machine falls on both alike.
 */
async function measureStarts(engine: string, docker: Docker): Promise<void> {
  const none = { name: `${engine}, --network none`, ms: [] as number[] };
  const bridge = { name: `${engine}, default bridge`, ms: [] as number[] };
  const once = async (t: Timing, args: string[], record: boolean): Promise<void> => {
    const ms = await wallMs(async () => {
      check(await docker(['run', '--rm', ...args, 'busybox', 'true']), `${engine}: run ${args.join(' ')}`);
    });
    if (record) t.ms.push(ms);
  };
  for (let i = 0; i < WARMUP + RUNS; i++) {
    await once(none, ['--network', 'none'], i >= WARMUP);
    await once(bridge, [], i >= WARMUP);
  }
  starts.push(none, bridge);
  process.stderr.write(`bench: ${engine}: none ${median(none.ms).toFixed(1)} ms, bridge ${median(bridge.ms).toFixed(1)} ms\n`);
}

/**
 * The receiving side: nc listening on 5000 again and again, its stdin held open (a FIFO opened
 * read-write) so it never half-closes first; prints the bytes of each connection.
 */
const receiver = (fifo: string): string => `mkfifo ${fifo}; while true; do timeout ${STALL} nc -l -p 5000 <>${fifo} | wc -c; done`;
const sender = (host: string): string => `dd if=/dev/zero bs=1M count=${MIB} 2>/dev/null | timeout ${STALL} nc ${host} 5000`;

/** MIB MiB from container `cli` to container `srv` on a user network of `docker`'s engine. */
async function measureTransfer(engine: string, docker: Docker): Promise<void> {
  const net = `pbench${process.pid}`;
  check(await docker(['network', 'create', net]), `${engine}: network create`);
  try {
    check(await docker(['run', '-d', '--name', `${net}-srv`, '--network', net, 'busybox', 'sh', '-c', receiver('/tmp/f')]), `${engine}: run receiver`);
    // A sender is a container of its own (`run --rm`): its start is the empty run's wall time.
    const send = (cmd: string): Promise<RunResult> => docker(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', cmd], { timeoutMs: 600_000 });
    // The receiver may need a moment to listen.
    for (let i = 0; ; i++) {
      const r = await send(`echo | nc ${net}-srv 5000`);
      if (r.code === 0) break;
      if (i === 50) throw new Error(`${engine}: the receiver never listened: ${r.stderr.trim()}`);
      await sleep(100);
    }
    const empty: number[] = [];
    for (let i = 0; i < 2 + 10; i++) {
      const ms = await wallMs(async () => void check(await send('true'), `${engine}: run true`));
      if (i >= 2) empty.push(ms);
    }
    const ms: number[] = [];
    for (let i = 0; i < TRANSFERS; i++) {
      let result: RunResult | undefined;
      const took = await wallMs(async () => {
        result = await send(sender(`${net}-srv`));
      });
      if (result?.code === 0) {
        ms.push(took);
        continue;
      }
      // Not measured: said, and tried again (at most TRANSFERS failures in all).
      notes.push(`${engine}: a transfer failed (${result?.stderr.trim() ?? 'no result'}) and was repeated`);
      if (notes.filter((n) => n.startsWith(`${engine}: a transfer failed`)).length > TRANSFERS) throw new Error(`${engine}: transfers keep failing`);
      i--;
    }
    await expectReceived(engine, async () => (await docker(['logs', `${net}-srv`])).stdout);
    throughputs.push({ name: `${engine}, user network`, ms, overheadMs: median(empty) });
    process.stderr.write(`bench: ${engine}: transfer median ${median(ms).toFixed(0)} ms\n`);
  } finally {
    await docker(['rm', '-f', `${net}-srv`]);
    await docker(['network', 'rm', net]);
  }
}

/** The receiver counted the whole last transfer (its count, the last line of `read()`, comes just after it closed). */
async function expectReceived(what: string, read: () => Promise<string>): Promise<void> {
  let got = '';
  for (let i = 0; i < 50; i++) {
    got = (await read().catch(() => '')).trim().split('\n').pop() ?? '';
    if (got === String(MIB * 1024 * 1024)) return;
    await sleep(100);
  }
  throw new Error(`${what}: the receiver got ${got || 'nothing'} bytes, not ${MIB * 1024 * 1024}`);
}

/** The same transfer between two namespaces joined by a veth pair, no bridge, no netfilter. */
async function measureVeth(): Promise<void> {
  const a = `pb${process.pid}a`;
  const b = `pb${process.pid}b`;
  const dir = `/tmp/pb${process.pid}`;
  const sh = async (cmd: string, runOpts?: RunOptions): Promise<string> => check(await run('sh', ['-c', cmd], process.env, runOpts), cmd);
  try {
    await sh(`mkdir -p ${dir} && ip netns add ${a} && ip netns add ${b} && ip link add ${a} type veth peer name ${b}`);
    await sh(`ip link set ${a} netns ${a} && ip link set ${b} netns ${b}`);
    await sh(`ip -n ${a} addr add 10.254.${process.pid % 250}.1/24 dev ${a} && ip -n ${a} link set ${a} up && ip -n ${a} link set lo up`);
    await sh(`ip -n ${b} addr add 10.254.${process.pid % 250}.2/24 dev ${b} && ip -n ${b} link set ${b} up && ip -n ${b} link set lo up`);
    const listening = run('sh', ['-c', `ip netns exec ${a} busybox sh -c '${receiver(`${dir}/f`)}' >${dir}/received`], process.env, { timeoutMs: 3_600_000 }).catch(() => undefined);
    const target = `10.254.${process.pid % 250}.1`;
    const exec = (cmd: string): Promise<string> => sh(`ip netns exec ${b} busybox sh -c '${cmd}'`, { timeoutMs: 600_000 });
    for (let i = 0; ; i++) {
      const r = await run('ip', ['netns', 'exec', b, 'busybox', 'sh', '-c', `echo | nc ${target} 5000`], process.env);
      if (r.code === 0) break;
      if (i === 50) throw new Error(`veth: the receiver never listened: ${r.stderr.trim()}`);
      await sleep(100);
    }
    const empty: number[] = [];
    for (let i = 0; i < 10; i++) empty.push(await wallMs(async () => { await exec('true'); }));
    const ms: number[] = [];
    for (let i = 0; i < TRANSFERS; i++) ms.push(await wallMs(async () => { await exec(sender(target)); }));
    await expectReceived('veth', () => readFile(`${dir}/received`, 'utf8'));
    throughputs.push({ name: 'two namespaces, one veth pair', ms, overheadMs: median(empty) });
    await run('ip', ['netns', 'pids', a], process.env).then((r) => run('kill', r.stdout.split('\n').filter(Boolean), process.env));
    await listening;
  } finally {
    await run('sh', ['-c', `ip netns pids ${a} | xargs -r kill; ip netns del ${a}; ip netns del ${b}; rm -rf ${dir}`], process.env);
  }
}

async function benchPier(): Promise<void> {
  const d = await startDaemon({ schemaProxy: false, logLevel: 'warn' });
  try {
    await importBusybox(d);
    await measureStarts('pier', (args) => d.docker(args));
    await measureTransfer('pier', (args, o) => d.docker(args, o));
  } finally {
    await d.stop();
  }
}

/** Docker's own engine, started and stopped by ../shared/reference-docker. */
async function benchDocker(): Promise<void> {
  await withReferenceDocker(notes, async (docker, _env, version) => {
    await importBusybox({ docker });
    await measureStarts(`Docker ${version}`, docker);
    await measureTransfer(`Docker ${version}`, docker);
  });
}

function report(): string {
  const lines: string[] = [];
  lines.push(`run --rm busybox true: ${RUNS} runs of each after ${WARMUP} warm-ups, alternated; wall ms`);
  lines.push(`${'what'.padEnd(36)}${'median'.padStart(8)}${'p90'.padStart(8)}${'min'.padStart(8)}`);
  for (const t of starts) {
    lines.push(`${t.name.padEnd(36)}${median(t.ms).toFixed(1).padStart(8)}${percentile(t.ms, 90).toFixed(1).padStart(8)}${Math.min(...t.ms).toFixed(1).padStart(8)}`);
  }
  for (let i = 0; i + 1 < starts.length; i += 2) {
    const [none, bridge] = [starts[i]!, starts[i + 1]!];
    const engine = none.name.split(',')[0]!;
    const diff = median(bridge.ms) - median(none.ms);
    lines.push(`${engine}: the default bridge costs ${diff.toFixed(1)} ms more than none (median − median)${engine === 'pier' ? `; target ≤ 20 ms: ${diff <= 20 ? 'met' : 'NOT met'}` : ''}`);
  }
  if (throughputs.length > 0) {
    lines.push('');
    lines.push(`${MIB} MiB with busybox nc, ${TRANSFERS} transfers each; MiB/s of the median, with the empty command's wall time taken off`);
    lines.push(`${'what'.padEnd(36)}${'wall ms'.padStart(9)}${'empty ms'.padStart(10)}${'MiB/s'.padStart(8)}${'min..max MiB/s'.padStart(16)}`);
    for (const t of throughputs) {
      const rate = (ms: number): number => MIB / ((ms - t.overheadMs) / 1000);
      const rates = t.ms.map(rate);
      lines.push(`${t.name.padEnd(36)}${median(t.ms).toFixed(0).padStart(9)}${t.overheadMs.toFixed(0).padStart(10)}${rate(median(t.ms)).toFixed(0).padStart(8)}${`${Math.min(...rates).toFixed(0)}..${Math.max(...rates).toFixed(0)}`.padStart(16)}`);
    }
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

/** Run a part of the benchmark; a failure is a note of the report, and the other parts still run. */
async function part(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    notes.push(`${name} failed: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark makes namespaces and runs containers: run it as root');
  if (!opts['no-pier']) await part('pier', benchPier);
  if (!opts['no-veth']) await part('veth', measureVeth);
  if (!opts['no-docker']) await part('Docker', benchDocker);
  process.stdout.write(`${report()}\n`);
  if (notes.some((n) => / failed: /.test(n))) process.exitCode = 1;
}

await main();
