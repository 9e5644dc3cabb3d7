import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { conflict, invalid } from '../errors.js';
import type { CgroupStats } from '../runtime/cgroups.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { ContainerMonitor, TopResult } from './containers.js';
import { isLive, type ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';

/** A previous sample older than this is not used as `precpu_stats`. */
const PRECPU_MAX_AGE_MS = 10_000;
/** The gap between the two samples of an answer that needs `precpu_stats`. */
const PRECPU_GAP_MS = 100;

interface Sample {
  at: number;
  read: string;
  cpu: Record<string, unknown>;
}

/**
 * `docker top` and `docker stats`: readings of a running container, from the host (its
 * cgroup, `/proc/<pid>/net/dev`, the host's `ps`). Reads only.
 *
 * Stats answer at once: each container's last sample is kept, so that the next one carries
 * it as `precpu_stats` (Docker's `stream=false` reads twice, a second apart, for the same).
 */
export class Monitor implements ContainerMonitor {
  private readonly last = new Map<string, Sample>();

  constructor(
    private readonly core: ContainerCore,
    private readonly runtime: ContainerRuntime,
    /** Whether containers that ask nothing get pier's init (daemon.json `init`). */
    private readonly defaultInit: boolean,
  ) {}

  isLive(ref: string): boolean {
    const rec = this.core.store.find(ref);
    return rec !== undefined && isLive(rec.State.Status);
  }

  async top(ref: string, psArgs = '-ef'): Promise<TopResult> {
    const rec = this.core.store.get(ref);
    if (rec.State.Status !== 'running' && rec.State.Status !== 'paused') throw conflict(`Container ${rec.Id} is not running`);
    const pids = new Set(this.runtime.processes?.(rec.Id) ?? [rec.State.Pid]);
    const args = psArgs.trim() === '' ? [] : psArgs.trim().split(/\s+/);
    const out = await new Promise<string>((resolve, reject) => {
      execFile('ps', args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(invalid(`ps ${psArgs}: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      });
    });
    const top = parsePs(out, pids);
    // The init pier adds by default is its plumbing, as conmon is: top lists the container's own
    // processes, as they would be without it. An init asked for (`--init`) is listed, as Docker's.
    if (rec.HostConfig.Init == null && this.defaultInit && top.Processes.length > 1) {
      const pidIndex = top.Titles.indexOf('PID');
      top.Processes = top.Processes.filter((row) => Number(row[pidIndex]) !== rec.State.Pid);
    }
    return top;
  }

  async stats(ref: string, opts: { precpu?: boolean } = {}): Promise<Record<string, unknown>> {
    const rec = this.core.store.get(ref);
    const recent = this.last.get(rec.Id);
    if (opts.precpu && (!recent || Date.now() - recent.at >= PRECPU_MAX_AGE_MS) && isLive(rec.State.Status)) {
      await this.stats(rec.Id);
      await new Promise((resolve) => setTimeout(resolve, PRECPU_GAP_MS));
    }
    const running = rec.State.Status === 'running' || rec.State.Status === 'paused';
    const now = Date.now();
    const read = new Date(now).toISOString();
    const cg: CgroupStats | undefined = running && this.runtime.stats ? await this.runtime.stats(rec.Id) : undefined;
    const cpu = cg ? cpuStats(cg) : emptyCpu();
    const prev = this.last.get(rec.Id);
    const pre = prev && now - prev.at < PRECPU_MAX_AGE_MS ? prev : undefined;
    if (running) this.last.set(rec.Id, { at: now, read, cpu });
    else this.last.delete(rec.Id);
    return {
      name: `/${rec.Name}`,
      id: rec.Id,
      read: running ? read : '0001-01-01T00:00:00Z',
      preread: pre?.read ?? '0001-01-01T00:00:00Z',
      pids_stats: cg ? { current: cg.pids.current ?? 0, ...(cg.pids.limit !== undefined ? { limit: cg.pids.limit } : {}) } : {},
      blkio_stats: {
        io_service_bytes_recursive: cg ? cg.io.map((e) => ({ major: e.major, minor: e.minor, op: e.op, value: e.bytes })) : null,
        io_serviced_recursive: null,
        io_queue_recursive: null,
        io_service_time_recursive: null,
        io_wait_time_recursive: null,
        io_merged_recursive: null,
        io_time_recursive: null,
        sectors_recursive: null,
      },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: cpu,
      precpu_stats: pre?.cpu ?? emptyCpu(),
      memory_stats: cg ? memoryStats(cg) : {},
      ...(running ? { networks: networkStats(rec) } : {}),
    };
  }

  /** The container is gone: its last sample too. */
  forget(containerId: string): void {
    this.last.delete(containerId);
  }
}

function emptyCpu(): Record<string, unknown> {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

function cpuStats(cg: CgroupStats): Record<string, unknown> {
  return {
    cpu_usage: {
      total_usage: cg.cpu.usageNs ?? 0,
      ...(cg.cpu.perCpuNs ? { percpu_usage: cg.cpu.perCpuNs } : {}),
      usage_in_kernelmode: cg.cpu.systemNs ?? 0,
      usage_in_usermode: cg.cpu.userNs ?? 0,
    },
    system_cpu_usage: systemCpuNs(),
    online_cpus: cpus().length,
    throttling_data: {
      periods: cg.cpu.throttling.periods ?? 0,
      throttled_periods: cg.cpu.throttling.throttledPeriods ?? 0,
      throttled_time: cg.cpu.throttling.throttledTimeNs ?? 0,
    },
  };
}

function memoryStats(cg: CgroupStats): Record<string, unknown> {
  return {
    usage: cg.memory.usage ?? 0,
    ...(cg.memory.maxUsage !== undefined ? { max_usage: cg.memory.maxUsage } : {}),
    stats: cg.memory.stat,
    ...(cg.memory.failcnt !== undefined ? { failcnt: cg.memory.failcnt } : {}),
    // Docker reports the host's memory when the container has no limit.
    limit: cg.memory.limit ?? totalmem(),
  };
}

/** The host's CPU time in nanoseconds, from /proc/stat (Docker's `system_cpu_usage`). */
function systemCpuNs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.split(/\s+/).slice(1, 8).reduce((sum, v) => sum + (Number(v) || 0), 0);
  // USER_HZ is 100 on Linux.
  return ticks * 10_000_000;
}

/** Per-interface counters of the container's network namespace, from /proc/<pid>/net/dev (lo left out, as Docker does). */
export function networkStats(rec: ContainerRecord): Record<string, Record<string, number>> {
  let text: string;
  try {
    text = readFileSync(`/proc/${rec.State.Pid}/net/dev`, 'utf8');
  } catch {
    return {};
  }
  return parseNetDev(text);
}

export function parseNetDev(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = {
      rx_bytes: v[0] ?? 0,
      rx_packets: v[1] ?? 0,
      rx_errors: v[2] ?? 0,
      rx_dropped: v[3] ?? 0,
      tx_bytes: v[8] ?? 0,
      tx_packets: v[9] ?? 0,
      tx_errors: v[10] ?? 0,
      tx_dropped: v[11] ?? 0,
    };
  }
  return out;
}

/**
 * The rows of `ps` output whose PID is one of `pids`, as Docker's top does: the header names
 * the columns, the PID column is found by name, and the last column keeps its spaces.
 */
export function parsePs(output: string, pids: ReadonlySet<number>): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (header === undefined) throw invalid('ps printed nothing');
  const titles = header.trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalid(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(Number(fields[pidIndex]))) continue;
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}
