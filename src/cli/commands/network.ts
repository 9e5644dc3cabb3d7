import { filtersParam } from '../../client/client.js';
import type { NetworkCreateBody, NetworkEndpointConfig, NetworkSummary } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, eachReporting, ExitStatus } from '../errors.js';
import { goTimeString, truncateId } from '../human.js';
import { goStruct } from '../table.js';
import type { GoStruct } from '../template/template.js';
import { confirm, inspect, prunedList, renderOrFail } from './containers.js';
import { labelsText } from '../formatters.js';

/**
 * `pier network create|ls|inspect|rm|prune|connect|disconnect` and `pier port`, with Docker's
 * flags, output and exit codes.
 */

export interface NetworkCreateOptions {
  driver?: string;
  subnet?: string[];
  gateway?: string[];
  ipRange?: string[];
  auxAddress?: string[];
  internal?: boolean;
  attachable?: boolean;
  ingress?: boolean;
  ipv6?: boolean;
  ipv4?: boolean;
  label?: string[];
  opt?: string[];
  ipamDriver?: string;
  ipamOpt?: string[];
  scope?: string;
  configOnly?: boolean;
  configFrom?: string;
}

/** `k=v` pairs as a map; a bare `k` maps to '' (as Docker's labels and options). */
function keyValues(list: string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new CliError(`invalid argument "${item}": key cannot be empty`, 125);
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** An IPv4 CIDR's network and mask as numbers; undefined for anything else (IPv6 is matched as text). */
function v4Cidr(cidr: string): { base: number; mask: number } | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr.trim());
  if (!m) return undefined;
  const prefix = m[5] === undefined ? 32 : Number(m[5]);
  const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ip & mask) >>> 0, mask };
}

function subnetContains(subnet: string, address: string): boolean {
  const s = v4Cidr(subnet);
  const a = v4Cidr(address);
  if (!s || !a) return false;
  return ((a.base & s.mask) >>> 0) === s.base;
}

/**
 * Docker's consolidateIpam: one IPAM config per `--subnet`, each `--gateway`, `--ip-range`
 * and `--aux-address` placed in the subnet that holds it.
 */
export function ipamConfigs(opts: Pick<NetworkCreateOptions, 'subnet' | 'gateway' | 'ipRange' | 'auxAddress'>): NonNullable<NetworkCreateBody['IPAM']>['Config'] {
  const subnets = opts.subnet ?? [];
  const gateways = opts.gateway ?? [];
  const ranges = opts.ipRange ?? [];
  const aux = keyValues(opts.auxAddress) ?? {};
  if (subnets.length < gateways.length || subnets.length < ranges.length) {
    throw new CliError('every ip-range or gateway must have a corresponding subnet', 1);
  }
  const configs: Array<{ Subnet: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }> = subnets.map((s) => ({ Subnet: s }));
  for (const r of ranges) {
    const c = configs.find((x) => subnetContains(x.Subnet, r));
    if (!c) throw new CliError(`no matching subnet for range ${r}`, 1);
    if (c.IPRange) throw new CliError(`cannot configure multiple ranges (${r}, ${c.IPRange}) on the same subnet (${c.Subnet})`, 1);
    c.IPRange = r;
  }
  for (const g of gateways) {
    const c = configs.find((x) => subnetContains(x.Subnet, g));
    if (!c) throw new CliError(`no matching subnet for gateway ${g}`, 1);
    if (c.Gateway) throw new CliError(`cannot configure multiple gateways (${g}, ${c.Gateway}) for the same subnet (${c.Subnet})`, 1);
    c.Gateway = g;
  }
  for (const [name, ip] of Object.entries(aux)) {
    const c = configs.find((x) => subnetContains(x.Subnet, ip));
    if (!c) throw new CliError(`no matching subnet for aux-address ${ip}`, 1);
    (c.AuxiliaryAddresses ??= {})[name] = ip;
  }
  return configs;
}

export async function networkCreate(cli: Cli, name: string, opts: NetworkCreateOptions): Promise<number> {
  const body: NetworkCreateBody = {
    Name: name,
    Driver: opts.driver ?? 'bridge',
    Options: keyValues(opts.opt),
    IPAM: { Driver: opts.ipamDriver ?? 'default', Config: ipamConfigs(opts), Options: keyValues(opts.ipamOpt) },
    Internal: !!opts.internal,
    EnableIPv6: opts.ipv6 ? true : undefined,
    EnableIPv4: opts.ipv4 === false ? false : undefined,
    Attachable: !!opts.attachable,
    Ingress: !!opts.ingress,
    Scope: opts.scope,
    ConfigOnly: !!opts.configOnly,
    ConfigFrom: opts.configFrom ? { Network: opts.configFrom } : undefined,
    Labels: keyValues(opts.label),
  };
  const res = await cli.client.networkCreate(body);
  if (res.Warning) cli.err(`${res.Warning}\n`);
  cli.out(`${res.Id}\n`);
  return 0;
}

export const NETWORK_HEADERS: Record<string, string> = {
  ID: 'NETWORK ID',
  Name: 'NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  IPv4: 'IPV4',
  IPv6: 'IPV6',
  Internal: 'INTERNAL',
  Labels: 'LABELS',
  CreatedAt: 'CREATED AT',
};

const DEFAULT_NETWORK_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';

/** A network as `network ls --format` sees it (Docker's networkContext). */
export function networkRow(n: NetworkSummary, opts: { trunc: boolean }): GoStruct {
  const labels = n.Labels ?? {};
  return goStruct('*formatter.networkContext', {
    ID: () => (opts.trunc ? truncateId(n.Id) : n.Id),
    Name: () => n.Name,
    Driver: () => n.Driver,
    Scope: () => n.Scope,
    IPv4: () => String((n.EnableIPv4 as boolean | undefined) ?? true),
    IPv6: () => String(n.EnableIPv6 ?? false),
    Internal: () => String(n.Internal ?? false),
    Labels: () => labelsText(labels),
    Label: (name: string) => labels[name] ?? '',
    CreatedAt: () => goTimeString(Date.parse(n.Created) / 1000),
  });
}

export interface NetworkLsOptions {
  filter?: string[];
  format?: string;
  noTrunc?: boolean;
  quiet?: boolean;
}

export async function networkLs(cli: Cli, opts: NetworkLsOptions): Promise<number> {
  const list = await cli.client.networkList(filtersParam(opts.filter));
  // Docker sorts by name, digits as numbers.
  list.sort((a, b) => a.Name.localeCompare(b.Name, 'en', { numeric: true }));
  let format = opts.format === undefined || opts.format === '' || opts.format === 'table' ? DEFAULT_NETWORK_TABLE : opts.format;
  if (opts.quiet) format = '{{.ID}}';
  cli.out(renderOrFail(format, NETWORK_HEADERS, list.map((n) => networkRow(n, { trunc: !opts.noTrunc }))));
  return 0;
}

export async function networkInspect(cli: Cli, names: string[], opts: { format?: string; verbose?: boolean }): Promise<number> {
  return inspect(cli, names, { format: opts.format, type: 'network' });
}

/** Remove each network, printing its name; failures are reported and the exit code is 1 (`-f`: a missing network is no failure). */
export async function networkRm(cli: Cli, names: string[], opts: { force?: boolean }): Promise<number> {
  const failed = await eachReporting(
    cli,
    names,
    async (name) => {
      await cli.client.networkRemove(name);
      cli.out(`${name}\n`);
    },
    (err) => !!opts.force && err.status === 404,
  );
  if (failed.length > 0) throw new ExitStatus(1);
  return 0;
}

export async function networkPrune(cli: Cli, opts: { force?: boolean; filter?: string[] }): Promise<number> {
  if (!opts.force && !(await confirm(cli, 'WARNING! This will remove all custom networks not used by at least one container.'))) return 0;
  const report = await cli.client.networkPrune(filtersParam(opts.filter));
  cli.out(prunedList('Networks', report.NetworksDeleted ?? []));
  return 0;
}

export interface NetworkConnectOptions {
  alias?: string[];
  ip?: string;
  ip6?: string;
  link?: string[];
  linkLocalIp?: string[];
  driverOpt?: string[];
}

export async function networkConnect(cli: Cli, network: string, container: string, opts: NetworkConnectOptions): Promise<number> {
  const cfg: NetworkEndpointConfig = {};
  if (opts.ip || opts.ip6 || opts.linkLocalIp?.length) {
    cfg.IPAMConfig = { IPv4Address: opts.ip, IPv6Address: opts.ip6, LinkLocalIPs: opts.linkLocalIp };
  }
  if (opts.alias?.length) cfg.Aliases = opts.alias;
  if (opts.link?.length) cfg.Links = opts.link;
  const driverOpts = keyValues(opts.driverOpt);
  if (driverOpts) cfg.DriverOpts = driverOpts;
  await cli.client.networkConnect(network, container, cfg);
  return 0;
}

export async function networkDisconnect(cli: Cli, network: string, container: string, opts: { force?: boolean }): Promise<number> {
  await cli.client.networkDisconnect(network, container, { force: opts.force });
  return 0;
}

type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

/** Go's net.JoinHostPort: brackets around IPv6 addresses. */
function joinHostPort(ip: string, port: string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `80/tcp` ordered by number, then protocol. */
function comparePorts(a: string, b: string): number {
  const [pa, qa = ''] = a.split('/');
  const [pb, qb = ''] = b.split('/');
  return Number(pa) - Number(pb) || qa.localeCompare(qb);
}

/** The lines of `pier port`: every mapping (`80/tcp -> 0.0.0.0:32768`), or the host addresses of one container port. */
export function portLines(ports: PortMap, container: string, privatePort?: string): string[] {
  if (privatePort !== undefined) {
    const [port = '', proto = 'tcp'] = privatePort.split('/');
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new CliError(`Error: invalid port (${port}): invalid syntax`, 1);
    const frontends = ports[`${port}/${proto}`];
    if (!frontends || frontends.length === 0) throw new CliError(`Error: No public port '${privatePort}' published for ${container}`, 1);
    return frontends.map((f) => joinHostPort(f.HostIp, f.HostPort));
  }
  const out: string[] = [];
  for (const key of Object.keys(ports).sort(comparePorts)) {
    for (const f of ports[key] ?? []) out.push(`${key} -> ${joinHostPort(f.HostIp, f.HostPort)}`);
  }
  return out;
}

export async function port(cli: Cli, container: string, privatePort: string | undefined): Promise<number> {
  const c = await cli.client.containerInspect(container);
  const ports: PortMap = (c.NetworkSettings as { Ports?: PortMap | null } | undefined)?.Ports ?? {};
  cli.out(portLines(ports, container, privatePort).map((l) => `${l}\n`).join(''));
  return 0;
}
