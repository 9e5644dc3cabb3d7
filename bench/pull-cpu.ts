/**
 * Benchmark (not a test): where a pull's CPU goes. Pulls a 200 MB image with five gzip layers
 * (other sizes with --layers; compressed at gzip's level 6, as Docker pushes them) from
 * Debian's docker-registry on loopback through pierd, in rounds alternating with the limit
 * (curl | tar xzf, all layers at once), and prints for each the wall time and the CPU time of every process involved: pierd
 * by thread (main, unpack workers, the thread pool) and its children (igzip), the registry,
 * and the limit's own processes; and how long the machine's cores sat idle meanwhile. A pull
 * on two cores is bound by the sum of these, unless it leaves a core idle (a layer's work
 * left to one thread at the end, waiting on the network or the disk).
 *
 *   bash bench/run-pull-cpu.sh [--runs 5] [--timeline] [--compare NAME=VALUE] [--push] [--cold] [--layers 50,50,50,50]
 *
 * --cold waits 11 s before each of pier's pulls, so that its unpack workers have stopped.
 * --push measures cold pushes of the same image (loaded from an archive) instead of pulls.
 * --layers gives the sizes of the layers after busybox's (MB of base64 text, which gzip
 * makes about 3/4 of that), to see how uneven layers share the unpack workers.
 * --timeline prints the last pull's steps as the daemon logged them (at debug level);
 * --compare runs a second pierd with NAME=VALUE in its environment in the same rounds (a
 * setting's effect, measured beside the default).
 *
 * Needs root (a private pierd).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { RegistryClient } from '../src/distribution/registry.js';
import { busyboxTarPath, run, startDaemon, type Daemon } from '../test/harness.js';
import { startRegistry, type Registry } from '../test/registry.js';
import { check, median, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    timeline: { type: 'boolean', default: false },
    compare: { type: 'string' },
    push: { type: 'boolean', default: false },
    cold: { type: 'boolean', default: false },
    layers: { type: 'string', default: '50,50,50,50' },
  },
});
/** The sizes of the layers after busybox's, in MB of base64 text (--layers). */
const LAYER_MB = opts.layers.split(',').map(Number);
if (LAYER_MB.some((n) => !(n > 0))) throw new Error(`--layers: sizes in MB, comma-separated, not ${opts.layers}`);
const RUNS = Number(opts.runs);
const TICK_MS = 1000 / 100; // USER_HZ

interface Times {
  /** CPU ms of the process itself, by thread name. */
  threads: Map<string, number>;
  /** CPU ms of its children that it has reaped. */
  children: number;
}

/** The live child processes of `pid` (their threads' CPU is not the parent's until they are reaped). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter((x) => x !== '').map(Number));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/**
 * utime+stime of a process and of each of its threads, in ms; its children's (those it reaped,
 * and the live ones, such as unpacker processes, by command) under `children`.
 */
function cpuOf(pid: number): Times {
  const fields = (stat: string): string[] => stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const f = fields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  // After the comm: state is fields[0], utime fields[11], stime [12], cutime [13], cstime [14].
  let children = (Number(f[13]) + Number(f[14])) * TICK_MS;
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // Node names none of its threads: the main one is the process's pid, the others go by tid.
    const name = Number(tid) === pid ? 'main thread' : `thread ${tid}`;
    const t = fields(stat);
    threads.set(`${name} user`, Number(t[11]) * TICK_MS);
    threads.set(`${name} sys`, Number(t[12]) * TICK_MS);
  }
  // The threads that ended are in the process's own total only.
  const own = (Number(f[11]) + Number(f[12])) * TICK_MS;
  const seen = [...threads.values()].reduce((a, b) => a + b, 0);
  if (own > seen) threads.set('(ended threads)', own - seen);
  for (const child of childrenOf(pid)) {
    try {
      const c = fields(readFileSync(`/proc/${child}/stat`, 'utf8'));
      children += (Number(c[11]) + Number(c[12]) + Number(c[13]) + Number(c[14])) * TICK_MS;
    } catch {
      // ended meanwhile: reaped into cutime
    }
  }
  return { threads, children };
}

/** Time all the machine's cores spent idle or waiting for the disk, in ms (/proc/stat). */
function idleMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return (Number(f[4]) + Number(f[5])) * TICK_MS;
}

function diff(after: Times, before: Times): Times {
  const threads = new Map<string, number>();
  for (const [k, v] of after.threads) threads.set(k, v - (before.threads.get(k) ?? 0));
  return { threads, children: after.children - before.children };
}

/** The pid of the process listening on a TCP port of 127.0.0.1. */
async function listener(port: number): Promise<number> {
  const out = check(await run('ss', ['-Hltnp', `sport = :${port}`], process.env), 'ss');
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`nobody listens on ${port}: ${out}`);
  return Number(m[1]);
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** busybox plus layers of base64 text (four of 50 MB unless --layers), gzip -6, as a Docker schema 2 image in `repo:1`. */
async function upload(reg: Registry, repo: string, dir: string): Promise<{ layers: string[]; archive: string }> {
  const tars: Buffer[] = [await readFile(await busyboxTarPath())];
  for (const [k, mb] of LAYER_MB.entries()) {
    const i = k + 1;
    const d = join(dir, `l${i}`);
    await mkdir(join(d, 'data'), { recursive: true });
    await writeFile(join(d, 'data', `blob${i}`), randomBytes(Math.round(mb * 750_000)).toString('base64'));
    check(await run('tar', ['--owner=0', '--group=0', '--mtime=@0', '-cf', join(dir, `l${i}.tar`), '-C', d, 'data'], process.env), 'tar');
    tars.push(await readFile(join(dir, `l${i}.tar`)));
  }
  const gzipped: Buffer[] = [];
  for (const [i, t] of tars.entries()) {
    await writeFile(join(dir, `t${i}`), t);
    check(await run('gzip', ['-6', '-n', join(dir, `t${i}`)], process.env), 'gzip');
    gzipped.push(await readFile(join(dir, `t${i}.gz`)));
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: tars.map(sha) },
      history: tars.map(() => ({ created_by: 'bench' })),
    }),
  );
  const client = new RegistryClient(reg.host);
  for (const blob of [config, ...gzipped]) {
    const start = await client.startUpload(repo);
    if (!start.mounted) await client.putBlob(repo, start.location, sha(blob), blob.length, Readable.from([blob]));
  }
  const layerType = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
    layers: gzipped.map((l) => ({ mediaType: layerType, digest: sha(l), size: l.length })),
  };
  await client.putManifest(repo, '1', Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  // The same image as a `docker save` archive (uncompressed layers), for the pushes.
  const out = join(dir, 'archive');
  await mkdir(out);
  const names = tars.map((_, i) => `layer${i}.tar`);
  for (const [i, t] of tars.entries()) await writeFile(join(out, names[i]!), t);
  await writeFile(join(out, 'config.json'), config);
  await writeFile(join(out, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['bench/big:1'], Layers: names }]));
  const archive = join(dir, 'big.tar');
  check(await run('tar', ['-cf', archive, '-C', out, 'manifest.json', 'config.json', ...names], process.env), 'tar archive');
  await rm(out, { recursive: true });
  return { layers: gzipped.map(sha), archive };
}

/**
 * One pull through `pier` (or with --push, one cold push of the loaded image to a new
 * repository), measured; the image is removed again afterwards.
 */
async function pierOnce(label: string, pier: Daemon, registryPid: number, ref: string, archive: string, round: number, timeline?: string[]): Promise<Row> {
  const long = { timeoutMs: 600_000 };
  // A cold push: a registry that has none of the blobs, from a daemon that compressed none.
  const pushTo = opts.push ? await startRegistry() : undefined;
  const target = `${pushTo?.host}/push-${round}/big:1`;
  if (opts.push) {
    check(await pier.docker(['load', '-i', archive], long), 'load');
    check(await pier.docker(['tag', 'bench/big:1', target]), 'tag');
  }
  const registry = pushTo ? await listener(Number(pushTo.host.split(':')[1])) : registryPid;
  // --cold: the daemon's unpack workers have stopped (10 s without a layer), as for the first pull in a while.
  if (opts.cold) await new Promise((r) => setTimeout(r, 11_000));
  const p0 = cpuOf(pier.pid!);
  const r0 = cpuOf(registry);
  const idle0 = idleMs();
  const logBefore = timeline ? (await pier.log()).length : 0;
  const started = Date.now();
  const wall = await wallMs(async () => {
    check(await pier.docker(opts.push ? ['push', '-q', target] : ['pull', '-q', ref], long), opts.push ? 'push' : 'pull');
  });
  const idle = idleMs() - idle0;
  const p = diff(cpuOf(pier.pid!), p0);
  const r = diff(cpuOf(registry), r0);
  await pushTo?.stop();
  if (timeline) {
    timeline.length = 0;
    for (const line of (await pier.log()).slice(logBefore).split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { time: number; msg: string; [k: string]: unknown };
      const rest = Object.fromEntries(Object.entries(entry).filter(([k]) => !['time', 'msg', 'level', 'pid', 'hostname'].includes(k)));
      const { time, msg } = entry;
      timeline.push(`${String(time - started).padStart(6)} ms  ${msg} ${JSON.stringify(rest)}`);
    }
  }
  const cpu = new Map<string, number>();
  for (const [k, v] of p.threads) if (v > 0) cpu.set(`pierd ${k}`, v);
  cpu.set('pierd children (unpackers, conmon...)', p.children);
  cpu.set('(every core idle or waiting for the disk)', idle);
  cpu.set('registry', [...r.threads.values()].reduce((a, b) => a + b, 0));
  for (const r of opts.push ? [target, 'bench/big:1'] : [ref]) check(await pier.docker(['rmi', '-f', r]), 'rmi');
  await pier.docker(['image', 'prune', '-f']);
  return { what: label, wall, cpu };
}

/** The limit: every layer blob fetched with curl and unpacked by tar xzf, all at once. */
async function limitOnce(reg: Registry, registryPid: number, layers: string[], out: string): Promise<Row> {
  await rm(out, { recursive: true, force: true });
  const script = layers.map((d, j) => `mkdir -p ${out}/${j}; curl -fsS http://${reg.host}/v2/bench/big/blobs/${d} | tar xzf - -C ${out}/${j} &`).join('\n');
  const r0 = cpuOf(registryPid);
  const idle0 = idleMs();
  let own = 0;
  const wall = await wallMs(async () => {
    // /usr/bin/time prints the user and system seconds of the shell and all it waited for.
    const res = await run('/usr/bin/time', ['-f', '%U %S', 'bash', '-c', `${script}\nwait`], process.env, { timeoutMs: 600_000 });
    check(res, 'limit');
    const [u, sys] = res.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    own = (u! + sys!) * 1000;
  });
  const idle = idleMs() - idle0;
  const r = diff(cpuOf(registryPid), r0);
  await rm(out, { recursive: true, force: true });
  return {
    what: 'limit',
    wall,
    cpu: new Map([
      ['registry', [...r.threads.values()].reduce((a, b) => a + b, 0)],
      ['curl + tar + gzip', own],
      ['(every core idle or waiting for the disk)', idle],
    ]),
  };
}

interface Row {
  what: string;
  wall: number;
  cpu: Map<string, number>;
}

async function main(): Promise<void> {
  const work = await mkdtemp('/tmp/pcpu-');
  const reg = await startRegistry();
  // --timeline: the daemon logs at debug level, and the last pull's steps are printed with their times.
  const daemonOpts = { schemaProxy: false, ...(opts.timeline ? { logLevel: 'debug' } : {}) };
  const engines: Array<{ label: string; daemon: Daemon }> = [{ label: 'pier', daemon: await startDaemon(daemonOpts) }];
  // --compare NAME=VALUE: a second pierd with that variable in its environment, in the same rounds.
  if (opts.compare !== undefined) {
    const [name, ...value] = opts.compare.split('=');
    engines.push({ label: `pier ${opts.compare}`, daemon: await startDaemon({ ...daemonOpts, env: { [name!]: value.join('=') } }) });
  }
  const rows: Row[] = [];
  const timeline: string[] = [];
  try {
    const { layers, archive } = await upload(reg, 'bench/big', work);
    const registryPid = await listener(Number(reg.host.split(':')[1]));
    const ref = `${reg.host}/bench/big:1`;
    const steps: Array<(round: number) => Promise<Row>> = [
      ...engines.map((e, i) => (round: number) => pierOnce(e.label, e.daemon, registryPid, ref, archive, round, opts.timeline && i === 0 && round === RUNS - 1 ? timeline : undefined)),
      ...(opts.push ? [] : [() => limitOnce(reg, registryPid, layers, join(work, 'limit'))]),
    ];
    // Rounds with every engine and the limit, the order rotating: the machine's drift falls on all alike.
    for (let round = 0; round < RUNS; round++) {
      const got: Row[] = [];
      for (let k = 0; k < steps.length; k++) got.push(await steps[(round + k) % steps.length]!(round));
      rows.push(...got);
      process.stderr.write(`round ${round + 1}: ${got.map((r) => `${r.what} ${(r.wall / 1000).toFixed(2)} s`).join(', ')}\n`);
    }
  } finally {
    for (const e of engines) await e.daemon.stop();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
  const lines: string[] = [
    opts.push
      ? `cold push of busybox + ${LAYER_MB.join(" + ")} MB (loaded uncompressed) to a loopback registry, ${RUNS} rounds, medians (CPU in ms)`
      : `pull of busybox + ${LAYER_MB.join(" + ")} MB (gzip -6) from a loopback registry, ${RUNS} rounds, medians (CPU in ms)`,
  ];
  for (const what of [...engines.map((e) => e.label), ...(opts.push ? [] : ['limit'])]) {
    const mine = rows.filter((r) => r.what === what);
    lines.push(`${what}: wall ${(median(mine.map((r) => r.wall)) / 1000).toFixed(2)} s (${mine.map((r) => (r.wall / 1000).toFixed(2)).join(', ')})`);
    const keys = new Set(mine.flatMap((r) => [...r.cpu.keys()]));
    for (const k of keys) {
      const v = median(mine.map((r) => r.cpu.get(k) ?? 0));
      if (v === 0) continue;
      lines.push(`  ${k.padEnd(32)} ${v.toFixed(0).padStart(6)}`);
    }
    // The median of each round's sum (threads come and go: a cold pull's workers are new each round).
    const sums = mine.map((r) => [...r.cpu].filter(([k]) => !k.startsWith('(every core')).reduce((a, [, v]) => a + v, 0));
    lines.push(`  ${'sum'.padEnd(32)} ${median(sums).toFixed(0).padStart(6)}   (${sums.map((v) => v.toFixed(0)).join(', ')})`);
  }
  if (timeline.length > 0) lines.push('', 'the last pull, as the daemon logged it:', ...timeline);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
