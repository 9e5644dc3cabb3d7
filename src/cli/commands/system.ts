import { ApiError, API_VERSION, CLIENT_VERSION, DaemonUnreachableError, filtersParam } from '../../client/client.js';
import { jsonLines, parseJsonLine } from '../../client/json-stream.js';
import type { EventMessage, SystemInfo, SystemVersion } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, describeError } from '../errors.js';
import { eventRow } from '../formatters.js';
import { ansicTime, bytesSize, humanSize, parseTimestamp, rfc3339NanoFixed } from '../human.js';
import { parseTemplate, TemplateError, type Template } from '../template/template.js';
import { confirm, prunedList } from './containers.js';
import { imagePruneLines } from './images.js';

/** `version`, `info`, `events` and `system prune`. */

function compile(format: string): Template {
  try {
    return parseTemplate(format === 'json' ? '{{json .}}' : format);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    throw new CliError(`template parsing error: ${err.message}`, 1);
  }
}

function render(tmpl: Template, data: unknown): string {
  try {
    return `${tmpl.execute(data)}\n`;
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    throw new CliError(`template parsing error: ${err.message}`, 1);
  }
}

const arch = (): string => (process.arch === 'x64' ? 'amd64' : process.arch);

/** Go's RFC 3339 build time as ANSIC (`Thu Nov 27 00:00:00 2025`), or as given when it is not a time. */
function buildTime(text: string | undefined): string {
  if (!text) return '';
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : ansicTime(d);
}

function clientVersion(cli: Cli): Record<string, string> {
  return {
    Platform: 'pier',
    Version: CLIENT_VERSION,
    ApiVersion: cli.client.apiVersion,
    DefaultAPIVersion: API_VERSION,
    NodeVersion: process.version,
    Os: process.platform,
    Arch: arch(),
    Context: 'default',
  };
}

export async function version(cli: Cli, opts: { format?: string }): Promise<number> {
  const tmpl = opts.format !== undefined ? compile(opts.format) : undefined;
  const client = clientVersion(cli);
  let server: SystemVersion | undefined;
  let failure: unknown;
  try {
    server = await cli.client.version();
  } catch (err) {
    if (!(err instanceof ApiError) && !(err instanceof DaemonUnreachableError)) throw err;
    failure = err;
  }
  if (tmpl) {
    cli.out(render(tmpl, { Client: client, Server: server ?? null }));
  } else {
    let text =
      `Client: ${client.Platform}\n` +
      ` Version:           ${client.Version}\n` +
      ` API version:       ${client.ApiVersion}\n` +
      ` Node.js version:   ${client.NodeVersion}\n` +
      ` OS/Arch:           ${client.Os}/${client.Arch}\n` +
      ` Context:           ${client.Context}\n`;
    if (server) {
      text += `\nServer:${server.Platform?.Name ? ` ${server.Platform.Name}` : ''}\n`;
      for (const c of server.Components ?? []) {
        const d = c.Details ?? {};
        text += ` ${c.Name}:\n`;
        if (c.Name === 'Engine') {
          text +=
            `  Version:          ${c.Version}\n` +
            `  API version:      ${d.ApiVersion ?? server.ApiVersion} (minimum version ${d.MinAPIVersion ?? server.MinAPIVersion ?? ''})\n` +
            // pierd runs on Node.js: the API's GoVersion field carries its version.
            `  Node.js version:  ${(d.GoVersion ?? server.GoVersion ?? '').replace(/^node /, '')}\n` +
            `  Git commit:       ${d.GitCommit ?? server.GitCommit ?? ''}\n` +
            `  Built:            ${buildTime(d.BuildTime ?? server.BuildTime)}\n` +
            `  OS/Arch:          ${d.Os ?? server.Os}/${d.Arch ?? server.Arch}\n` +
            `  Experimental:     ${d.Experimental ?? String(server.Experimental ?? false)}\n`;
        } else {
          text += `  Version:          ${c.Version}\n`;
          for (const [k, v] of Object.entries(d)) text += `  ${`${k}:`.padEnd(18)}${v}\n`;
        }
      }
    }
    cli.out(text);
  }
  if (failure) throw new CliError(describeError(failure), 1);
  return 0;
}

/** Docker's `info` layout for the fields pier's daemon reports. */
function formatInfo(info: SystemInfo): string {
  const lines: string[] = [];
  const add = (s: string): void => {
    lines.push(s);
  };
  add(`Server:`);
  add(` Containers: ${info.Containers ?? 0}`);
  add(`  Running: ${info.ContainersRunning ?? 0}`);
  add(`  Paused: ${info.ContainersPaused ?? 0}`);
  add(`  Stopped: ${info.ContainersStopped ?? 0}`);
  add(` Images: ${info.Images ?? 0}`);
  add(` Server Version: ${info.ServerVersion ?? ''}`);
  add(` Storage Driver: ${info.Driver ?? ''}`);
  for (const [k, v] of info.DriverStatus ?? []) add(`  ${k}: ${v}`);
  add(` Logging Driver: ${info.LoggingDriver ?? ''}`);
  add(` Cgroup Driver: ${info.CgroupDriver ?? ''}`);
  add(` Cgroup Version: ${info.CgroupVersion ?? ''}`);
  add(` Plugins:`);
  add(`  Volume: ${(info.Plugins?.Volume ?? []).join(' ')}`);
  add(`  Network: ${(info.Plugins?.Network ?? []).join(' ')}`);
  if (info.Plugins?.Authorization?.length) add(`  Authorization: ${info.Plugins.Authorization.join(' ')}`);
  add(`  Log: ${(info.Plugins?.Log ?? []).join(' ')}`);
  add(` Swarm: ${info.Swarm?.LocalNodeState ?? 'inactive'}`);
  add(` Runtimes: ${Object.keys(info.Runtimes ?? {}).sort().join(' ')}`); // sorted; Docker's map order varies
  add(` Default Runtime: ${info.DefaultRuntime ?? ''}`);
  add(` Init Binary: ${info.InitBinary ?? ''}`);
  add(` containerd version: ${info.ContainerdCommit?.ID ?? ''}`);
  add(` runc version: ${info.RuncCommit?.ID ?? ''}`);
  add(` init version: ${info.InitCommit?.ID ?? ''}`);
  if (info.SecurityOptions?.length) {
    add(` Security Options:`);
    for (const opt of info.SecurityOptions) {
      const kvs = opt.split(',').map((kv) => {
        const eq = kv.indexOf('=');
        return eq >= 0 ? [kv.slice(0, eq), kv.slice(eq + 1)] : [kv, ''];
      });
      for (const [k, v] of kvs) {
        if (k === 'name') add(`  ${v}`);
        else add(`   ${k![0]!.toUpperCase()}${k!.slice(1)}: ${v}`);
      }
    }
  }
  add(` Kernel Version: ${info.KernelVersion ?? ''}`);
  add(` Operating System: ${info.OperatingSystem ?? ''}`);
  add(` OSType: ${info.OSType ?? ''}`);
  add(` Architecture: ${info.Architecture ?? ''}`);
  add(` CPUs: ${info.NCPU ?? 0}`);
  add(` Total Memory: ${bytesSize(info.MemTotal ?? 0)}`);
  add(` Name: ${info.Name ?? ''}`);
  add(` ID: ${info.ID ?? ''}`);
  add(` Docker Root Dir: ${info.DockerRootDir ?? ''}`);
  add(` Debug Mode: ${info.Debug ? 'true' : 'false'}`);
  if (info.HttpProxy) add(` HTTP Proxy: ${info.HttpProxy}`);
  if (info.HttpsProxy) add(` HTTPS Proxy: ${info.HttpsProxy}`);
  if (info.NoProxy) add(` No Proxy: ${info.NoProxy}`);
  if (info.Labels?.length) {
    add(` Labels:`);
    for (const l of info.Labels) add(`  ${l}`);
  }
  add(` Experimental: ${info.ExperimentalBuild ? 'true' : 'false'}`);
  const insecure = info.RegistryConfig?.InsecureRegistryCIDRs ?? [];
  if (insecure.length) {
    add(` Insecure Registries:`);
    for (const r of insecure) add(`  ${r}`);
  }
  const mirrors = info.RegistryConfig?.Mirrors ?? [];
  if (mirrors.length) {
    add(` Registry Mirrors:`);
    for (const m of mirrors) add(`  ${m}`);
  }
  add(` Live Restore Enabled: ${info.LiveRestoreEnabled ? 'true' : 'false'}`);
  return `${lines.join('\n')}\n`;
}

export async function info(cli: Cli, opts: { format?: string }): Promise<number> {
  const tmpl = opts.format !== undefined ? compile(opts.format) : undefined;
  const clientInfo = { Version: CLIENT_VERSION, Context: 'default', Debug: !!cli.globals.debug };
  let data: SystemInfo | undefined;
  let failure: unknown;
  try {
    data = await cli.client.info();
  } catch (err) {
    if (!(err instanceof ApiError) && !(err instanceof DaemonUnreachableError)) throw err;
    failure = err;
  }
  if (tmpl) {
    if (failure) throw new CliError(describeError(failure), 1);
    cli.out(render(tmpl, { ...data, ClientInfo: clientInfo }));
    return 0;
  }
  cli.out(`Client: pier\n Version:    ${clientInfo.Version}\n Context:    ${clientInfo.Context}\n Debug Mode: ${clientInfo.Debug}\n\n`);
  if (failure) throw new CliError(describeError(failure), 1);
  cli.out(`${formatInfo(data!)}\n`);
  for (const w of data!.Warnings ?? []) cli.err(`${w}\n`);
  return 0;
}

/** `timeNano` exactly as sent (JSON numbers above 2^53 lose digits in JavaScript). */
function eventTime(line: string, msg: EventMessage): string | undefined {
  const nano = /"timeNano"\s*:\s*(\d+)/.exec(line)?.[1];
  if (nano && nano !== '0') {
    const padded = nano.padStart(10, '0');
    return rfc3339NanoFixed(Number(padded.slice(0, -9)), Number(padded.slice(-9)));
  }
  if (msg.time) return rfc3339NanoFixed(msg.time, 0);
  return undefined;
}

/** Docker's event line: `<time> <type> <action> <actor id> (k=v, ...)`, attributes sorted by key. */
export function formatEvent(line: string, msg: EventMessage): string {
  let text = '';
  const time = eventTime(line, msg);
  if (time) text += `${time} `;
  text += `${msg.Type} ${msg.Action} ${msg.Actor?.ID ?? ''}`;
  const attrs = msg.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length > 0) text += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return `${text}\n`;
}

export async function events(cli: Cli, opts: { since?: string; until?: string; filter?: string[]; format?: string }): Promise<number> {
  const now = Date.now();
  const tmpl = opts.format !== undefined ? compile(opts.format) : undefined;
  const rawJson = opts.format === 'json' || opts.format?.trim() === '{{json .}}';
  const stream = await cli.client.events({
    since: opts.since !== undefined ? parseTimestamp(opts.since, now) : undefined,
    until: opts.until !== undefined ? parseTimestamp(opts.until, now) : undefined,
    filters: filtersParam(opts.filter),
  });
  for await (const line of jsonLines(stream)) {
    const msg = parseJsonLine(line) as EventMessage;
    if (rawJson) cli.out(`${line}\n`);
    else if (tmpl) cli.out(render(tmpl, eventRow(msg)));
    else cli.out(formatEvent(line, msg));
  }
  return 0;
}

/** `system prune`: stopped containers, unused networks and dangling (or with `-a`, unused) images. */
export async function systemPrune(cli: Cli, opts: { all?: boolean; force?: boolean; filter?: string[] }): Promise<number> {
  const warning =
    'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n' +
    (opts.all ? '  - all images without at least one container associated to them\n' : '  - all dangling images\n') +
    '  - unused build cache\n';
  if (!opts.force && !(await confirm(cli, warning))) return 0;
  let reclaimed = 0;
  const filters = filtersParam(opts.filter);
  const containers = await cli.client.containerPrune(filters);
  cli.out(prunedList('Containers', containers.ContainersDeleted ?? []));
  if (containers.ContainersDeleted?.length) reclaimed += containers.SpaceReclaimed ?? 0;
  try {
    const nets = (await cli.client.request<{ NetworksDeleted?: string[] | null }>('POST', '/networks/prune', { query: { filters } })).body;
    cli.out(prunedList('Networks', nets?.NetworksDeleted ?? []));
  } catch (err) {
    // A daemon without networks (404, 501) has none to prune.
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 501)) throw err;
  }
  const imageFilters = filtersParam([...(opts.filter ?? []), `dangling=${opts.all ? 'false' : 'true'}`]);
  const imgs = await cli.client.imagePrune(imageFilters);
  cli.out(prunedList('Images', imagePruneLines(imgs.ImagesDeleted ?? [])));
  reclaimed += imgs.SpaceReclaimed ?? 0;
  cli.out(`Total reclaimed space: ${humanSize(reclaimed, 4)}\n`);
  return 0;
}
