import { filtersParam } from '../../client/client.js';
import type { VolumePruneResponse } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, eachReporting, ExitStatus } from '../errors.js';
import { labelsText } from '../formatters.js';
import { humanSize } from '../human.js';
import { goStruct } from '../table.js';
import type { GoStruct } from '../template/template.js';
import { confirm, inspect, prunedList, renderOrFail } from './containers.js';

/** `pier volume create|ls|inspect|rm|prune`, with Docker's flags, output and exit codes (docker/cli `cli/command/volume`). */

/** A volume as the daemon sends it. */
export interface VolumeSummary {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
  Labels?: Record<string, string> | null;
  Scope: string;
  Options?: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

/** `k=v` pairs as a map; a bare `k` maps to ''. */
function keyValues(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new CliError(`invalid argument "${item}" for "${flag}" flag: invalid key-value pair`, 125);
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export interface VolumeCreateOptions {
  driver?: string;
  label?: string[];
  opt?: string[];
  name?: string;
}

export async function volumeCreate(cli: Cli, name: string | undefined, opts: VolumeCreateOptions): Promise<number> {
  if (name !== undefined && opts.name !== undefined && name !== opts.name) {
    throw new CliError(`conflicting options: cannot specify a volume-name through both --name and as a positional arg`, 1);
  }
  const body = { Name: name ?? opts.name ?? '', Driver: opts.driver ?? 'local', DriverOpts: keyValues(opts.opt, '-o, --opt'), Labels: keyValues(opts.label, '--label') };
  const res = await cli.client.request<VolumeSummary>('POST', '/volumes/create', { body });
  cli.out(`${res.body.Name}\n`);
  return 0;
}

export const VOLUME_HEADERS: Record<string, string> = {
  Name: 'VOLUME NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  Mountpoint: 'MOUNTPOINT',
  Labels: 'LABELS',
  Links: 'LINKS',
  Size: 'SIZE',
  Group: 'GROUP',
  Availability: 'AVAILABILITY',
  Status: 'STATUS',
};

const DEFAULT_VOLUME_TABLE = 'table {{.Driver}}\t{{.Name}}';

/** A volume as `volume ls --format` sees it (Docker's volumeContext). */
export function volumeRow(v: VolumeSummary): GoStruct {
  const labels = v.Labels ?? {};
  return goStruct('*formatter.volumeContext', {
    Name: () => v.Name,
    Driver: () => v.Driver,
    Scope: () => v.Scope,
    Mountpoint: () => v.Mountpoint,
    Labels: () => labelsText(labels),
    Label: (name: string) => labels[name] ?? '',
    Links: () => (v.UsageData ? String(v.UsageData.RefCount) : 'N/A'),
    Size: () => (v.UsageData && v.UsageData.Size >= 0 ? humanSize(v.UsageData.Size) : 'N/A'),
    Group: () => 'N/A',
    Availability: () => 'N/A',
    Status: () => 'N/A',
  });
}

export interface VolumeLsOptions {
  filter?: string[];
  format?: string;
  quiet?: boolean;
  cluster?: boolean;
}

export async function volumeLs(cli: Cli, opts: VolumeLsOptions): Promise<number> {
  const res = await cli.client.request<{ Volumes: VolumeSummary[] | null; Warnings: string[] | null }>('GET', '/volumes', { query: { filters: filtersParam(opts.filter) } });
  const list = [...(res.body.Volumes ?? [])].sort((a, b) => a.Name.localeCompare(b.Name, 'en', { numeric: true }));
  for (const w of res.body.Warnings ?? []) cli.err(`${w}\n`);
  let format = opts.format === undefined || opts.format === '' || opts.format === 'table' ? DEFAULT_VOLUME_TABLE : opts.format;
  if (opts.quiet) format = '{{.Name}}';
  cli.out(renderOrFail(format, VOLUME_HEADERS, list.map(volumeRow)));
  return 0;
}

export async function volumeInspect(cli: Cli, names: string[], opts: { format?: string }): Promise<number> {
  return inspect(cli, names, { format: opts.format, type: 'volume' });
}

/** Remove each volume, printing its name; failures are reported and the exit code is 1. */
export async function volumeRm(cli: Cli, names: string[], opts: { force?: boolean }): Promise<number> {
  const failed = await eachReporting(cli, names, async (name) => {
    await cli.client.request('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force: opts.force } });
    cli.out(`${name}\n`);
  });
  if (failed.length > 0) throw new ExitStatus(1);
  return 0;
}

export async function volumePrune(cli: Cli, opts: { all?: boolean; force?: boolean; filter?: string[] }): Promise<number> {
  const warning = opts.all
    ? 'WARNING! This will remove all local volumes not used by at least one container.'
    : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
  if (!opts.force && !(await confirm(cli, warning))) return 0;
  const filters = [...(opts.filter ?? []), ...(opts.all ? ['all=true'] : [])];
  const res = await cli.client.request<VolumePruneResponse>('POST', '/volumes/prune', { query: { filters: filtersParam(filters) } });
  cli.out(prunedList('Volumes', res.body.VolumesDeleted ?? []));
  cli.out(`Total reclaimed space: ${humanSize(res.body.SpaceReclaimed ?? 0, 4)}\n`);
  return 0;
}
