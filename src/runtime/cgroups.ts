import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';

/**
 * The host's cgroup layout and a container's counters in it. Everything takes the cgroup root
 * as a path (default /sys/fs/cgroup), so tests lay out fake trees in a temp folder.
 *
 * - `v1`: one hierarchy per controller at `<root>/<controller>` (possibly co-mounted, as
 *   `cpu,cpuacct` with `cpu` and `cpuacct` symlinks beside it).
 * - `hybrid`: v1 hierarchies plus cgroup2 at `<root>/unified`; `unifiedControllers` are the
 *   controllers cgroup2 owns (read from `<root>/unified/cgroup.controllers`).
 * - `v2`: cgroup2 at `<root>` itself.
 */
export type CgroupLayout =
  | { mode: 'v1'; root: string; controllers: string[] }
  | { mode: 'hybrid'; root: string; controllers: string[]; unifiedControllers: string[] }
  | { mode: 'v2'; root: string; controllers: string[] };

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc'];

/** Detect the layout under `root`. Throws when `root` holds no cgroup hierarchy at all. */
export function detectCgroupLayout(root: string = DEFAULT_CGROUP_ROOT): CgroupLayout {
  const v2 = readOptional(join(root, 'cgroup.controllers'));
  if (v2 !== undefined) return { mode: 'v2', root, controllers: words(v2) };
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (err) {
    throw new Error(`cgroup root ${root}: ${errnoCode(err) ?? String(err)}`, { cause: err });
  }
  const controllers = V1_CONTROLLERS.filter((c) => entries.includes(c));
  const unified = readOptional(join(root, 'unified', 'cgroup.controllers'));
  if (unified !== undefined) return { mode: 'hybrid', root, controllers, unifiedControllers: words(unified) };
  if (controllers.length === 0) throw new Error(`cgroup root ${root}: no cgroup v1 controller or cgroup2 found`);
  return { mode: 'v1', root, controllers };
}

/** The layout with Docker's `CgroupVersion` ('2' only for pure v2), for `info` and the daemon. */
export async function detectCgroups(root: string = DEFAULT_CGROUP_ROOT): Promise<CgroupLayout & { version: '1' | '2' }> {
  const layout = await Promise.resolve().then(() => detectCgroupLayout(root));
  return { ...layout, version: layout.mode === 'v2' ? '2' : '1' };
}

/**
 * Whether crun 1.8 can run containers on this layout, how, and why (for the log and `info`).
 * crun refuses a hybrid layout whose cgroup2 owns any controller ("cgroups in hybrid mode not
 * supported, drop all controllers from cgroupv2") because of what it sees mounted: run in a
 * mount namespace of its own where the cgroup2 mount beside the v1 hierarchies is gone
 * (`withoutUnified`), it manages the v1 hierarchies as on a pure v1 host, every limit with
 * them. Only the controllers cgroup2 owns (typically hugetlb) stay unmanaged, as they are for
 * runc on such a host.
 */
export function canUseCrun(layout: CgroupLayout): { ok: boolean; reason: string; withoutUnified?: string } {
  switch (layout.mode) {
    case 'v2':
      return { ok: true, reason: 'cgroup v2' };
    case 'v1':
      return { ok: true, reason: 'cgroup v1' };
    case 'hybrid':
      if (layout.unifiedControllers.length === 0) return { ok: true, reason: 'cgroup hybrid layout with no controller in cgroup2' };
      return {
        ok: true,
        reason: `cgroup hybrid layout with controllers in cgroup2 (${layout.unifiedControllers.join(' ')}): crun runs in a mount namespace without the cgroup2 mount, on the v1 hierarchies`,
        withoutUnified: join(layout.root, 'unified'),
      };
  }
}

/** The folder of controller `controller` for the cgroup `cgroupsPath` (`/pier/<id>`). */
export function controllerPath(layout: CgroupLayout, controller: string, cgroupsPath: string): string {
  if (layout.mode === 'v2') return join(layout.root, cgroupsPath);
  return join(layout.root, controller, cgroupsPath);
}

/** What `docker stats` and `OOMKilled` need from one container's cgroup. Absent: not available. */
export interface CgroupStats {
  memory: {
    usage?: number;
    /** Max usage seen (v1 only). */
    maxUsage?: number;
    /** undefined: no limit. */
    limit?: number;
    failcnt?: number;
    /** memory.stat as numbers (v1 and v2 keys differ: `total_inactive_file` / `inactive_file`). */
    stat: Record<string, number>;
  };
  pids: { current?: number; limit?: number };
  cpu: {
    /** Total CPU time in nanoseconds. */
    usageNs?: number;
    userNs?: number;
    systemNs?: number;
    /** Per-CPU usage in nanoseconds (v1 only). */
    perCpuNs?: number[];
    throttling: { periods?: number; throttledPeriods?: number; throttledTimeNs?: number };
  };
  /** OOM events (the cgroup hit its limit; v2 only) and OOM kills (a process was killed for it). */
  oom: { events?: number; kills?: number };
  /** Bytes read and written per block device (v1 blkio.throttle.io_service_bytes, v2 io.stat). */
  io: Array<{ major: number; minor: number; op: 'read' | 'write'; bytes: number }>;
}

/** The PIDs (host view) in a container's cgroup, from `cgroup.procs`; empty when the cgroup is gone. */
export function readCgroupProcs(layout: CgroupLayout, cgroupsPath: string): number[] {
  const controller = layout.mode === 'v2' ? '' : layout.controllers.includes('pids') ? 'pids' : 'memory';
  const text = readOptional(join(controllerPath(layout, controller, cgroupsPath), 'cgroup.procs'));
  return text === undefined ? [] : words(text).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * Read a container's counters. Files that do not exist (the cgroup is gone, a controller is not
 * mounted) leave their fields undefined rather than failing.
 */
export async function readCgroupStats(layout: CgroupLayout, cgroupsPath: string): Promise<CgroupStats> {
  return layout.mode === 'v2' ? readV2(layout, cgroupsPath) : readV1(layout, cgroupsPath);
}

/** Number of OOM kills recorded in the container's memory cgroup; undefined when it is gone. */
export async function readOomKills(layout: CgroupLayout, cgroupsPath: string): Promise<number | undefined> {
  if (layout.mode === 'v2') {
    const events = kv(await readAsync(join(controllerPath(layout, '', cgroupsPath), 'memory.events')));
    return events?.oom_kill;
  }
  const ctl = kv(await readAsync(join(controllerPath(layout, 'memory', cgroupsPath), 'memory.oom_control')));
  return ctl?.oom_kill;
}

async function readV1(layout: CgroupLayout, cg: string): Promise<CgroupStats> {
  const mem = controllerPath(layout, 'memory', cg);
  const pids = controllerPath(layout, 'pids', cg);
  const cpuacct = controllerPath(layout, 'cpuacct', cg);
  const cpu = controllerPath(layout, 'cpu', cg);
  const blkio = controllerPath(layout, 'blkio', cg);
  const [usage, maxUsage, limit, failcnt, stat, oomCtl, pidsCur, pidsMax, cpuUsage, cpuStat, perCpu, throttle, ioBytes] = await Promise.all([
    readAsync(join(mem, 'memory.usage_in_bytes')),
    readAsync(join(mem, 'memory.max_usage_in_bytes')),
    readAsync(join(mem, 'memory.limit_in_bytes')),
    readAsync(join(mem, 'memory.failcnt')),
    readAsync(join(mem, 'memory.stat')),
    readAsync(join(mem, 'memory.oom_control')),
    readAsync(join(pids, 'pids.current')),
    readAsync(join(pids, 'pids.max')),
    readAsync(join(cpuacct, 'cpuacct.usage')),
    readAsync(join(cpuacct, 'cpuacct.stat')),
    readAsync(join(cpuacct, 'cpuacct.usage_percpu')),
    readAsync(join(cpu, 'cpu.stat')),
    readAsync(join(blkio, 'blkio.throttle.io_service_bytes')),
  ]);
  const acct = kv(cpuStat);
  const th = kv(throttle);
  const oom = kv(oomCtl);
  const limitN = num(limit);
  // Userspace ticks (USER_HZ, 100 on Linux) in cpuacct.stat.
  const tick = 1e7;
  return {
    memory: {
      usage: num(usage),
      maxUsage: num(maxUsage),
      // v1 writes "no limit" as the page-rounded max int64.
      limit: limitN !== undefined && limitN < 2 ** 62 ? limitN : undefined,
      failcnt: num(failcnt),
      stat: kv(stat) ?? {},
    },
    pids: { current: num(pidsCur), limit: maxValue(pidsMax) },
    cpu: {
      usageNs: num(cpuUsage),
      userNs: acct?.user !== undefined ? acct.user * tick : undefined,
      systemNs: acct?.system !== undefined ? acct.system * tick : undefined,
      perCpuNs: perCpu === undefined ? undefined : words(perCpu).map(Number),
      throttling: { periods: th?.nr_periods, throttledPeriods: th?.nr_throttled, throttledTimeNs: th?.throttled_time },
    },
    // v1 has no count of OOM events (failcnt counts every charge that hit the limit, under_oom
    // is a state); oom_kill (kernel >= 4.13) counts kills.
    oom: { kills: oom?.oom_kill },
    io: v1Io(ioBytes),
  };
}

/** `8:0 Read 4096` lines of blkio.throttle.io_service_bytes. */
function v1Io(text: string | undefined): CgroupStats['io'] {
  const out: CgroupStats['io'] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (Read|Write) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] === 'Read' ? 'read' : 'write', bytes: Number(m[4]) });
  }
  return out;
}

/** `8:0 rbytes=4096 wbytes=0 ...` lines of io.stat. */
function v2Io(text: string | undefined): CgroupStats['io'] {
  const out: CgroupStats['io'] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const fields = Object.fromEntries(m[3]!.split(' ').map((f) => f.split('=') as [string, string]));
    const major = Number(m[1]);
    const minor = Number(m[2]);
    if (fields.rbytes !== undefined) out.push({ major, minor, op: 'read', bytes: Number(fields.rbytes) });
    if (fields.wbytes !== undefined) out.push({ major, minor, op: 'write', bytes: Number(fields.wbytes) });
  }
  return out;
}

async function readV2(layout: CgroupLayout, cg: string): Promise<CgroupStats> {
  const dir = controllerPath(layout, '', cg);
  const f = (name: string) => readAsync(join(dir, name));
  const [usage, max, stat, events, pidsCur, pidsMax, cpuStat, ioStat] = await Promise.all([
    f('memory.current'),
    f('memory.max'),
    f('memory.stat'),
    f('memory.events'),
    f('pids.current'),
    f('pids.max'),
    f('cpu.stat'),
    f('io.stat'),
  ]);
  const cs = kv(cpuStat);
  const ev = kv(events);
  const us = (v: number | undefined) => (v === undefined ? undefined : v * 1000);
  return {
    memory: { usage: num(usage), limit: maxValue(max), stat: kv(stat) ?? {}, failcnt: ev?.max },
    pids: { current: num(pidsCur), limit: maxValue(pidsMax) },
    cpu: {
      usageNs: us(cs?.usage_usec),
      userNs: us(cs?.user_usec),
      systemNs: us(cs?.system_usec),
      throttling: { periods: cs?.nr_periods, throttledPeriods: cs?.nr_throttled, throttledTimeNs: us(cs?.throttled_usec) },
    },
    oom: { events: ev?.oom, kills: ev?.oom_kill },
    io: v2Io(ioStat),
  };
}

function readOptional(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** A cgroup file (small, in memory): read without the thread pool, whose round trips cost more. */
async function readAsync(path: string): Promise<string | undefined> {
  try {
    return await Promise.resolve(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV' || code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
}

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== '');
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^\d+$/.test(t)) return undefined;
  return Number(t);
}

/** A v2-style value: a number or `max` (no limit → undefined). */
function maxValue(s: string | undefined): number | undefined {
  if (s === undefined || s.trim() === 'max') return undefined;
  return num(s);
}

/** `key value` lines → numbers. */
function kv(s: string | undefined): Record<string, number> | undefined {
  if (s === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const line of s.split('\n')) {
    const [k, v] = words(line);
    if (k !== undefined && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}
