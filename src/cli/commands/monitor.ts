import { ApiError } from '../../client/client.js';
import type { ContainerStats, SystemDf } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, describeError } from '../errors.js';
import { bytesSize, humanSize, parseInteger, parseNanoCpus, ramInBytes, timeAgo, truncateId } from '../human.js';
import { goStruct, tabwrite } from '../table.js';
import { renderOrFail } from './containers.js';

/** `pier top`, `pier stats`, `pier update`, `pier system df`: Docker's output for each. */

export async function top(cli: Cli, name: string, psArgs: string[]): Promise<number> {
  const t = await cli.client.containerTop(name, psArgs.length > 0 ? psArgs.join(' ') : undefined);
  const lines = [t.Titles.join('\t'), ...t.Processes.map((p) => p.join('\t'))];
  // docker top's own tabwriter: cells at least 20 wide, 3 spaces of padding.
  cli.out(tabwrite(`${lines.join('\n')}\n`, { minwidth: 20, padding: 3 }));
  return 0;
}

const STATS_HEADERS = {
  Container: 'CONTAINER', ID: 'CONTAINER ID', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};
const STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/** One row of `docker stats`, computed as the docker CLI computes it from a sample. */
export function statsRow(s: ContainerStats, container: string): ReturnType<typeof goStruct> {
  // Every part of a sample may be missing or null (a container that is not running has none).
  const cpuStats = s.cpu_stats ?? {};
  const precpu = s.precpu_stats ?? {};
  const memory = s.memory_stats ?? {};
  const cpuDelta = (cpuStats.cpu_usage?.total_usage ?? 0) - (precpu.cpu_usage?.total_usage || 0);
  const systemDelta = (cpuStats.system_cpu_usage ?? 0) - (precpu.system_cpu_usage ?? 0);
  const cpus = cpuStats.online_cpus || cpuStats.cpu_usage?.percpu_usage?.length || 1;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const stat = memory.stats ?? {};
  // The page cache the kernel can drop is not counted as used (the CLI's own rule).
  const inactive = stat.total_inactive_file ?? stat.inactive_file ?? 0;
  const used = Math.max(0, (memory.usage ?? 0) - (inactive < (memory.usage ?? 0) ? inactive : 0));
  const limit = memory.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (e.op ?? '').toLowerCase();
    if (op === 'read') read += e.value ?? 0;
    else if (op === 'write') write += e.value ?? 0;
  }
  const running = s.read !== '0001-01-01T00:00:00Z';
  return goStruct('stats', {
    Container: container,
    ID: truncateId(s.id ?? ''),
    Name: (s.name ?? '').replace(/^\//, ''),
    CPUPerc: running ? `${cpu.toFixed(2)}%` : '--',
    MemUsage: running ? `${bytesSize(used)} / ${bytesSize(limit)}` : '-- / --',
    MemPerc: running ? `${(limit > 0 ? (used / limit) * 100 : 0).toFixed(2)}%` : '--',
    NetIO: running ? `${humanSize(rx)} / ${humanSize(tx)}` : '-- / --',
    BlockIO: running ? `${humanSize(read)} / ${humanSize(write)}` : '-- / --',
    PIDs: running ? String(s.pids_stats?.current ?? 0) : '--',
  });
}

/**
 * `pier stats`: a live table refreshed every second (each sample carries the previous one,
 * so the first table comes at once), or one table with `--no-stream`.
 */
export async function stats(cli: Cli, names: string[], opts: { all?: boolean; noStream?: boolean; format?: string; noTrunc?: boolean }): Promise<number> {
  const format = opts.format ?? STATS_FORMAT;
  const targets = names.length > 0 ? names : (await cli.client.containerList({ all: opts.all })).map((c) => c.Id);
  const once = async (): Promise<string> => {
    const rows = [];
    for (const name of targets) {
      try {
        rows.push(statsRow(await cli.client.containerStats(name), name));
      } catch (err) {
        if (!(err instanceof ApiError) || names.length === 0) throw err;
        throw new CliError(describeError(err), 1);
      }
    }
    return renderOrFail(format, STATS_HEADERS, rows);
  };
  if (opts.noStream) {
    cli.out(await once());
    return 0;
  }
  for (;;) {
    const table = await once();
    // Docker's live view: clear the screen, home the cursor, print the table.
    cli.out(cli.io.stdout.isTTY ? `\x1b[2J\x1b[H${table}` : table);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export interface UpdateFlags {
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  blkioWeight?: string;
  restart?: string;
}

/** `pier update`: the HostConfig changes of Docker's update flags. */
export function updateBody(f: UpdateFlags): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const int = (v: string | undefined, flag: string): number | undefined => (v === undefined ? undefined : parseInteger(v, flag));
  if (f.memory !== undefined) body.Memory = ramInBytes(f.memory);
  if (f.memoryReservation !== undefined) body.MemoryReservation = ramInBytes(f.memoryReservation);
  if (f.memorySwap !== undefined) body.MemorySwap = f.memorySwap === '-1' ? -1 : ramInBytes(f.memorySwap);
  if (f.cpus !== undefined) body.NanoCpus = parseNanoCpus(f.cpus);
  if (f.cpuShares !== undefined) body.CpuShares = int(f.cpuShares, '-c, --cpu-shares');
  if (f.cpuPeriod !== undefined) body.CpuPeriod = int(f.cpuPeriod, '--cpu-period');
  if (f.cpuQuota !== undefined) body.CpuQuota = int(f.cpuQuota, '--cpu-quota');
  if (f.cpusetCpus !== undefined) body.CpusetCpus = f.cpusetCpus;
  if (f.cpusetMems !== undefined) body.CpusetMems = f.cpusetMems;
  if (f.pidsLimit !== undefined) body.PidsLimit = int(f.pidsLimit, '--pids-limit');
  if (f.blkioWeight !== undefined) body.BlkioWeight = int(f.blkioWeight, '--blkio-weight');
  if (f.restart !== undefined) {
    const [name = '', count] = f.restart.split(':');
    body.RestartPolicy = { Name: name, MaximumRetryCount: count === undefined ? 0 : parseInteger(count, '--restart') };
  }
  return body;
}

export async function update(cli: Cli, names: string[], flags: UpdateFlags): Promise<number> {
  const body = updateBody(flags);
  if (Object.keys(body).length === 0) throw new CliError('you must provide one or more flags when using this command', 1);
  const failed: string[] = [];
  for (const name of names) {
    try {
      const r = await cli.client.containerUpdate(name, body);
      for (const w of r.Warnings ?? []) cli.err(`${w}\n`);
      cli.out(`${name}\n`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      cli.err(`${describeError(err)}\n`);
      failed.push(name);
    }
  }
  if (failed.length > 0) throw new CliError(`Error: failed to update containers: ${failed.join(', ')}`, 1);
  return 0;
}

const DF_HEADERS = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
const DF_FORMAT = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

/** `pier system df`: Docker's summary table, or each object with `-v`. */
export async function systemDf(cli: Cli, opts: { verbose?: boolean; format?: string }): Promise<number> {
  const df = await cli.client.systemDf();
  if (opts.verbose) {
    cli.out(verboseDf(df));
    return 0;
  }
  cli.out(renderOrFail(opts.format ?? DF_FORMAT, DF_HEADERS, dfRows(df)));
  return 0;
}

const pct = (part: number, whole: number): string => (whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : '');

/** The four rows of `docker system df`, as the docker CLI sums them. */
export function dfRows(df: SystemDf): Array<ReturnType<typeof goStruct>> {
  const images = df.Images ?? [];
  const imagesActive = images.filter((i) => i.Containers > 0);
  const imagesSize = df.LayersSize ?? 0;
  // As the docker CLI reckons it: all layers, less what active images hold alone.
  const imagesReclaim = imagesSize - imagesActive.reduce((s, i) => s + i.Size - Math.max(0, i.SharedSize), 0);
  const containers = df.Containers ?? [];
  const running = containers.filter((c) => c.State === 'running' || c.State === 'paused');
  const cSize = containers.reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  const cReclaim = containers.filter((c) => !running.includes(c)).reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  const volumes = df.Volumes ?? [];
  const vActive = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0);
  const vSize = volumes.reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const vReclaim = volumes.filter((v) => !vActive.includes(v)).reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const cache = df.BuildCache ?? [];
  const cacheSize = cache.reduce((s, b) => s + (b.Size ?? 0), 0);
  const cacheReclaim = cache.filter((b) => !b.InUse).reduce((s, b) => s + (b.Size ?? 0), 0);
  const row = (type: string, total: number, active: number, size: number, reclaim: number) =>
    goStruct('df', { Type: type, TotalCount: String(total), Active: String(active), Size: humanSize(size, 4), Reclaimable: `${humanSize(Math.max(0, reclaim), 4)}${pct(Math.max(0, reclaim), size)}` });
  return [
    row('Images', images.length, imagesActive.length, imagesSize, imagesReclaim),
    row('Containers', containers.length, running.length, cSize, cReclaim),
    row('Local Volumes', volumes.length, vActive.length, vSize, vReclaim),
    row('Build Cache', cache.length, cache.filter((b) => b.InUse).length, cacheSize, cacheReclaim),
  ];
}

function verboseDf(df: SystemDf): string {
  const now = Date.now();
  const images = renderOrFail(
    'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
    { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', Created: 'CREATED', Size: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' },
    (df.Images ?? []).flatMap((i) => {
      const tags = i.RepoTags && i.RepoTags.length > 0 ? i.RepoTags : ['<none>:<none>'];
      return tags.map((t) => {
        const at = t.lastIndexOf(':');
        return goStruct('image', {
          Repository: t.slice(0, at),
          Tag: t.slice(at + 1),
          ID: truncateId(i.Id),
          Created: timeAgo(i.Created, now),
          Size: humanSize(i.Size),
          SharedSize: humanSize(Math.max(0, i.SharedSize), 4),
          UniqueSize: humanSize(i.Size - Math.max(0, i.SharedSize), 4),
          Containers: String(i.Containers),
        });
      });
    }),
  );
  const containers = renderOrFail(
    'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}',
    { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', Created: 'CREATED', Status: 'STATUS', Names: 'NAMES' },
    (df.Containers ?? []).map((c) =>
      goStruct('container', {
        ID: truncateId(c.Id),
        Image: c.Image,
        Command: JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command),
        LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
        Size: humanSize(c.SizeRw ?? 0),
        Created: timeAgo(c.Created, now),
        Status: c.Status,
        Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
      }),
    ),
  );
  const volumes = renderOrFail(
    'table {{.Name}}\t{{.Links}}\t{{.Size}}',
    { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' },
    (df.Volumes ?? []).map((v) => goStruct('volume', { Name: v.Name, Links: String(v.UsageData?.RefCount ?? 0), Size: humanSize(Math.max(0, v.UsageData?.Size ?? 0), 4) })),
  );
  const cacheTotal = (df.BuildCache ?? []).reduce((s, b) => s + (b.Size ?? 0), 0);
  const cache = renderOrFail(
    'table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}',
    { ID: 'CACHE ID', Type: 'CACHE TYPE', Size: 'SIZE', Created: 'CREATED', LastUsed: 'LAST USED', Usage: 'USAGE', Shared: 'SHARED' },
    (df.BuildCache ?? []).map((b) =>
      goStruct('cache', {
        ID: b.ID,
        Type: b.Type,
        Size: humanSize(b.Size ?? 0),
        Created: timeAgo(Date.parse(b.CreatedAt ?? '') / 1000, now),
        LastUsed: b.LastUsedAt ? timeAgo(Date.parse(b.LastUsedAt) / 1000, now) : '',
        Usage: String(b.UsageCount),
        Shared: String(b.Shared),
      }),
    ),
  );
  return `Images space usage:\n\n${images}\nContainers space usage:\n\n${containers}\nLocal Volumes space usage:\n\n${volumes}\nBuild cache usage: ${humanSize(cacheTotal, 4)}\n\n${cache}`;
}
