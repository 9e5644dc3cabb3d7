import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { forbidden, invalid } from '../errors.js';
import * as ipam from './ipam.js';
import { contains6, formatIp6, isV6, parseIp6, pickAddress6, tryParseCidr6, tryParseIp6 } from './ipam6.js';
import type { EndpointConfig, EndpointRequest, EndpointSettings, NetworkSettings } from './networks.js';
import { vethName } from './plumbing.js';
import type { RulePort } from './rules.js';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store.js';

/**
 * Endpoints: which networks a container belongs to, Docker's checks of its endpoint configs,
 * the endpoint record it gets on each network (address leases, MAC, names, veth name, ports),
 * the network giving its default gateway, and the NetworkSettings `docker inspect` shows for
 * it. Nothing here touches links, rules or files.
 */

/** A network of a container with the container's endpoint config for it. */
export type Membership = Array<[NetworkRecord, EndpointConfig | null | undefined]>;

/** The networks a container belongs to, primary (its NetworkMode) first, with the endpoint config of each. */
export function membership(store: NetworkStore, req: EndpointRequest): Membership {
  const primary = req.networkMode === '' || req.networkMode === 'default' || req.networkMode === 'bridge' ? store.defaultNet() : store.get(req.networkMode);
  const out: Membership = [];
  const cfgs = req.endpointsConfig ?? {};
  const cfgOf = (n: NetworkRecord): EndpointConfig | null | undefined => cfgs[n.Name] ?? cfgs[n.Id] ?? (n.Default ? cfgs.default : undefined);
  out.push([primary, cfgOf(primary)]);
  for (const key of Object.keys(cfgs)) {
    const n = key === 'bridge' || key === 'default' ? store.defaultNet() : store.get(key);
    if (!out.some(([o]) => o.Id === n.Id)) out.push([n, cfgs[key]]);
  }
  return out;
}

/** Docker's joining of several errors into one message (one error: its text alone). */
export function joinErrors(errors: string[]): string {
  if (errors.length === 1) return errors[0]!.trim();
  return `* ${errors.map((e) => e.replaceAll('\n', '\n\t')).join('\n* ')}`;
}

/**
 * Docker's validateEndpointSettings: the message of what is wrong with `cfg` for the network
 * named `name` (`net` when it exists), or undefined. Static addresses need a user-defined
 * network with a user-configured subnet of their family (IPv6: with IPv6 enabled).
 */
export function endpointError(name: string, net: NetworkRecord | undefined, cfg: EndpointConfig | null | undefined): string | undefined {
  if (!cfg) return undefined;
  const v4 = cfg.IPAMConfig?.IPv4Address ?? '';
  const v6 = cfg.IPAMConfig?.IPv6Address ?? '';
  const errs: string[] = [];
  const predefined = ['', 'bridge', 'default', 'host', 'none'].includes(name) || name.startsWith('container:') || net?.Default === true;
  if (predefined) {
    if (v4 || v6) errs.push('user specified IP address is supported on user defined networks only');
    if (cfg.Aliases && cfg.Aliases.length > 0) errs.push('network-scoped alias is supported only for containers in user defined networks');
  }
  const v4ok = v4 === '' || (!isV6(v4) && validV4(v4) && v4 !== '0.0.0.0');
  const n6 = v6 === '' ? undefined : tryParseIp6(v6);
  // As Go's net.ParseIP: not the unspecified address, not an IPv4-mapped one.
  const v6ok = v6 === '' || (n6 !== undefined && n6 !== 0n && n6 >> 32n !== 0xffffn);
  if (!v4ok) errs.push(`invalid IPv4 address: ${v4}`);
  if (!v6ok) errs.push(`invalid IPv6 address: ${v6}`);
  if (net && !predefined) {
    if (v4 && v4ok) {
      const statics = staticSubnets(net, 4);
      if (statics.length === 0) errs.push('user specified IP address is supported only when connecting to networks with user configured subnets');
      else if (!statics.some((s) => ipam.contains(ipam.parseCidr(s), ipam.ipToInt(v4)))) errs.push(`no configured subnet or ip-range contain the IP address ${v4}`);
    }
    if (v6 && v6ok) {
      const statics = net.EnableIPv6 ? staticSubnets(net, 6) : [];
      if (statics.length === 0) errs.push('user specified IP address is supported only when connecting to networks with user configured subnets');
      else if (!statics.some((s) => contains6(tryParseCidr6(s)!.cidr, parseIp6(v6)))) errs.push(`no configured subnet or ip-range contain the IP address ${v6}`);
    }
  }
  if (cfg.MacAddress && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(cfg.MacAddress)) return `invalid MAC address ${cfg.MacAddress}`;
  return errs.length > 0 ? `invalid endpoint settings:\n${joinErrors(errs)}` : undefined;
}

function validV4(ip: string): boolean {
  try {
    ipam.ipToInt(ip);
    return true;
  } catch {
    return false;
  }
}

/** The subnets of `family` the client configured (records older than IPAM kept: their subnets count as configured). */
function staticSubnets(net: NetworkRecord, family: 4 | 6): string[] {
  if (!net.IPAM) return family === 4 ? [net.Subnet] : net.Subnet6 ? [net.Subnet6] : [];
  return net.IPAM.Config.map((c) => c.Subnet).filter((s) => isV6(s) === (family === 6));
}

/** Refuse (invalid, Docker's words) the endpoint configs of a container being created or started. */
export function validateMembership(nets: Membership): void {
  const errs = nets.flatMap(([net, cfg]) => {
    const e = endpointError(net.Default ? 'bridge' : net.Name, net, cfg);
    return e ? [`invalid config for network ${net.Name}: ${e}`] : [];
  });
  if (errs.length > 0) throw invalid(joinErrors(errs));
}

/** The names peers resolve a container by on a user network: name, aliases, short ID, hostname (Docker's DNSNames, deduplicated). */
export function dnsNames(req: EndpointRequest, aliases: string[]): string[] {
  return [...new Set([req.containerName, ...aliases, req.containerId.slice(0, 12), req.hostname].filter((n) => n))];
}

/**
 * The endpoint record of a container on `net`: leased addresses (the ones asked for, or the
 * lowest free; IPv6 on a network with IPv6), a MAC (asked for, or derived from the address),
 * names and links (user networks only), a fresh host veth name, and `ports` bound to the
 * leased address of their family. Not saved.
 */
export function newEndpoint(tag: string, net: NetworkRecord, cfg: EndpointConfig | null | undefined, req: EndpointRequest, opts: { mac?: string; ports?: RulePort[] } = {}): EndpointRecord {
  const ip = allocate(net, cfg?.IPAMConfig?.IPv4Address);
  const address = ipam.intToIp(ip);
  const address6 = net.EnableIPv6 && net.Subnet6 ? formatIp6(allocate6(net, cfg?.IPAMConfig?.IPv6Address)) : undefined;
  const aliases = net.Default ? [] : [...(cfg?.Aliases ?? [])];
  const ep: EndpointRecord = {
    ContainerId: req.containerId,
    Name: req.containerName,
    EndpointID: randomBytes(32).toString('hex'),
    IP: address,
    Mac: cfg?.MacAddress || opts.mac || ipam.macOf(ip),
    Aliases: aliases,
    Ports: (opts.ports ?? []).map((p) => ({ ...p, containerIp: isV6(p.hostIp) && address6 ? address6 : address })),
    HostVeth: vethName(tag),
    HostsPath: join(req.containerDir, 'hosts'),
  };
  if (address6) ep.IP6 = address6;
  if (!net.Default) ep.DNSNames = dnsNames(req, aliases);
  const links = [...(cfg?.Links ?? []), ...(net.Default ? (req.legacyLinks ?? []) : [])];
  if (links.length > 0) ep.Links = links;
  if (req.dns.length > 0) ep.Dns = [...req.dns];
  return ep;
}

/** An address of `net` for a new endpoint: `wanted` when it is free and inside the subnet, else the lowest free one. */
function allocate(net: NetworkRecord, wanted: string | undefined): number {
  const subnet = ipam.parseCidr(net.Subnet);
  const used = new Set<number>([ipam.ipToInt(net.Gateway), ...Object.values(net.Endpoints).map((e) => ipam.ipToInt(e.IP))]);
  if (wanted) {
    const ip = ipam.ipToInt(wanted);
    if (!ipam.contains(subnet, ip)) throw invalid(`no configured subnet or ip-range contain the IP address ${wanted}`);
    if (used.has(ip)) throw forbidden(`Address already in use: ${wanted} on network ${net.Name}`);
    return ip;
  }
  return ipam.pickAddress(subnet, net.IPRange ? ipam.parseCidr(net.IPRange) : subnet, used);
}

/** The IPv6 counterpart of allocate. */
function allocate6(net: NetworkRecord, wanted: string | undefined): bigint {
  const subnet = tryParseCidr6(net.Subnet6!)!.cidr;
  const used = new Set<bigint>([parseIp6(net.Gateway6!), ...Object.values(net.Endpoints).flatMap((e) => (e.IP6 ? [parseIp6(e.IP6)] : []))]);
  if (wanted) {
    const ip = parseIp6(wanted);
    if (!contains6(subnet, ip)) throw invalid(`no configured subnet or ip-range contain the IP address ${wanted}`);
    if (used.has(ip)) throw forbidden(`Address already in use: ${wanted} on network ${net.Name}`);
    return ip;
  }
  return pickAddress6(subnet, net.IPRange6 ? tryParseCidr6(net.IPRange6)!.cidr : subnet, used);
}

/**
 * The network that gives a container its default route of `family` among `nets` (Docker's
 * GwPriority: the highest priority, ties broken by network name; internal networks and, for
 * IPv6, networks without it give none).
 */
export function gatewayNetwork(nets: Membership, family: 4 | 6): NetworkRecord | undefined {
  const able = nets.filter(([n]) => !n.Internal && (family === 4 || (n.EnableIPv6 && n.Gateway6)));
  able.sort(([a, ca], [b, cb]) => (cb?.GwPriority ?? 0) - (ca?.GwPriority ?? 0) || (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  return able[0]?.[0];
}

/** The EndpointSettings of a network with no endpoint (the pseudo networks, a stopped container). */
export function emptySettings(networkId: string, cfg?: EndpointConfig | null): EndpointSettings {
  return {
    IPAMConfig: ipamConfigOf(cfg),
    Links: cfg?.Links && cfg.Links.length > 0 ? [...cfg.Links] : null,
    Aliases: cfg?.Aliases && cfg.Aliases.length > 0 ? [...cfg.Aliases] : null,
    MacAddress: cfg?.MacAddress ?? '',
    DriverOpts: cfg?.DriverOpts ?? null,
    GwPriority: cfg?.GwPriority ?? 0,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

function ipamConfigOf(cfg: EndpointConfig | null | undefined): EndpointSettings['IPAMConfig'] {
  const c = cfg?.IPAMConfig;
  if (!c) return null;
  const out: NonNullable<EndpointSettings['IPAMConfig']> = {};
  if (c.IPv4Address) out.IPv4Address = c.IPv4Address;
  if (c.IPv6Address) out.IPv6Address = c.IPv6Address;
  if (c.LinkLocalIPs && c.LinkLocalIPs.length > 0) out.LinkLocalIPs = [...c.LinkLocalIPs];
  return out;
}

/** The host address a published port shows (`docker port`): every-address bindings as 0.0.0.0 and ::. */
function shownHostIp(hostIp: string): string {
  return hostIp === '' ? '0.0.0.0' : hostIp;
}

/** NetworkSettings with Docker's deprecated top-level fields taken from the default bridge's entry (empty without one). */
export function withTopLevel(s: NetworkSettings): NetworkSettings {
  const def = s.Networks.bridge;
  return {
    Bridge: s.Bridge,
    SandboxID: s.SandboxID,
    SandboxKey: s.SandboxKey,
    Ports: s.Ports,
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: def?.EndpointID ?? '',
    Gateway: def?.Gateway ?? '',
    GlobalIPv6Address: def?.GlobalIPv6Address ?? '',
    GlobalIPv6PrefixLen: def?.GlobalIPv6PrefixLen ?? 0,
    IPAddress: def?.IPAddress ?? '',
    IPPrefixLen: def?.IPPrefixLen ?? 0,
    IPv6Gateway: def?.IPv6Gateway ?? '',
    MacAddress: def?.MacAddress ?? '',
    Networks: s.Networks,
    ...(s.Note ? { Note: s.Note } : {}),
  };
}

/** NetworkSettings of a container on bridge networks `nets`, from its endpoints as they are now. */
export function settings(req: EndpointRequest, nets: Membership, nsPath: string): NetworkSettings {
  const networks: Record<string, EndpointSettings> = {};
  let ports: NetworkSettings['Ports'] = {};
  for (const k of req.exposedPorts ?? []) ports[k.includes('/') ? k : `${k}/tcp`] = null;
  for (const [net, cfg] of nets) {
    const ep = net.Endpoints[req.containerId];
    const s = emptySettings(net.Id, cfg);
    if (ep) {
      s.EndpointID = ep.EndpointID;
      s.Gateway = net.Gateway;
      s.IPAddress = ep.IP;
      s.IPPrefixLen = ipam.parseCidr(net.Subnet).prefix;
      s.MacAddress = ep.Mac;
      if (ep.IP6) {
        s.IPv6Gateway = net.Gateway6 ?? '';
        s.GlobalIPv6Address = ep.IP6;
        s.GlobalIPv6PrefixLen = tryParseCidr6(net.Subnet6!)!.cidr.prefix;
      }
      s.DNSNames = net.Default ? null : (ep.DNSNames ?? dnsNames(req, ep.Aliases));
    }
    networks[net.Name] = s;
    if (ep && ep.Ports.length > 0) {
      ports = { ...ports };
      for (const p of ep.Ports) {
        const key = `${p.containerPort}/${p.proto}`;
        (ports[key] ??= []).push({ HostIp: shownHostIp(p.hostIp), HostPort: String(p.hostPort) });
      }
    }
  }
  const primary = nets[0]![0];
  const attached = primary.Endpoints[req.containerId] !== undefined;
  return withTopLevel({
    Bridge: '',
    SandboxID: attached ? createHash('sha256').update(nsPath).digest('hex') : '',
    SandboxKey: attached ? nsPath : '',
    Ports: ports,
    Networks: networks,
  });
}
