import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { conflict, invalid } from '../errors.js';
import * as ipam from './ipam.js';
import type { EndpointConfig, EndpointRequest, EndpointSettings, NetworkSettings } from './networks.js';
import { vethName } from './plumbing.js';
import type { RulePort } from './rules.js';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store.js';

/**
 * Endpoints: which networks a container belongs to, the endpoint record it gets on each
 * (address lease, MAC, aliases, veth name, ports), and the NetworkSettings `docker inspect`
 * shows for it. Nothing here touches links, rules or files.
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

/** Refuse endpoint configs Docker refuses (a static IP outside the subnet, on the default bridge; aliases there). */
export function validateMembership(nets: Membership): void {
  for (const [net, cfg] of nets) {
    const ip = cfg?.IPAMConfig?.IPv4Address;
    if (ip) {
      if (net.Default) throw invalid('user specified IP address is supported on user defined networks only');
      if (!ipam.contains(ipam.parseCidr(net.Subnet), ipam.ipToInt(ip))) throw invalid(`no configured subnet contains IP address ${ip}`);
    }
    if (net.Default && cfg?.Aliases && cfg.Aliases.length > 0) throw invalid('network-scoped alias is supported only for containers in user defined networks');
  }
}

/**
 * The endpoint record of a container on `net`: a leased address (the one asked for, or the
 * lowest free), a MAC (asked for, or derived from the address), the aliases (user networks
 * only), a fresh host veth name and `ports` bound to the leased address. Not saved.
 */
export function newEndpoint(tag: string, net: NetworkRecord, cfg: EndpointConfig | null | undefined, req: EndpointRequest, opts: { mac?: string; ports?: RulePort[] } = {}): EndpointRecord {
  const ip = allocate(net, cfg?.IPAMConfig?.IPv4Address);
  const address = ipam.intToIp(ip);
  return {
    ContainerId: req.containerId,
    Name: req.containerName,
    EndpointID: randomBytes(32).toString('hex'),
    IP: address,
    Mac: cfg?.MacAddress || opts.mac || ipam.macOf(ip),
    Aliases: net.Default ? [] : [...(cfg?.Aliases ?? [])],
    Ports: (opts.ports ?? []).map((p) => ({ ...p, containerIp: address })),
    HostVeth: vethName(tag),
    HostsPath: join(req.containerDir, 'hosts'),
  };
}

/** An address of `net` for a new endpoint: `wanted` when it is free and inside the subnet, else the lowest free one. */
function allocate(net: NetworkRecord, wanted: string | undefined): number {
  const subnet = ipam.parseCidr(net.Subnet);
  const used = new Set<number>([ipam.ipToInt(net.Gateway), ...Object.values(net.Endpoints).map((e) => ipam.ipToInt(e.IP))]);
  if (wanted) {
    const ip = ipam.ipToInt(wanted);
    if (!ipam.contains(subnet, ip)) throw invalid(`no configured subnet contains IP address ${wanted}`);
    if (used.has(ip)) throw conflict(`Address already in use: ${wanted} on network ${net.Name}`);
    return ip;
  }
  return ipam.pickAddress(subnet, net.IPRange ? ipam.parseCidr(net.IPRange) : subnet, used);
}

/** The EndpointSettings of a network with no endpoint (the pseudo networks, a stopped container). */
export function emptySettings(networkId: string): EndpointSettings {
  return { NetworkID: networkId, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '', Aliases: null, DNSNames: null };
}

/** NetworkSettings of a container on bridge networks `nets`, from its endpoints as they are now. */
export function settings(req: EndpointRequest, nets: Membership, nsPath: string): NetworkSettings {
  const networks: Record<string, EndpointSettings> = {};
  let ports: NetworkSettings['Ports'] = {};
  for (const k of req.exposedPorts ?? []) ports[k.includes('/') ? k : `${k}/tcp`] = null;
  for (const [net, cfg] of nets) {
    const ep = net.Endpoints[req.containerId];
    const prefix = ipam.parseCidr(net.Subnet).prefix;
    networks[net.Name] = {
      NetworkID: net.Id,
      EndpointID: ep?.EndpointID ?? '',
      Gateway: ep ? net.Gateway : '',
      IPAddress: ep?.IP ?? '',
      IPPrefixLen: ep ? prefix : 0,
      MacAddress: ep?.Mac ?? '',
      Aliases: net.Default ? null : (cfg?.Aliases ?? []),
      DNSNames: net.Default || !ep ? null : [req.containerName, ...(cfg?.Aliases ?? []), req.containerId.slice(0, 12)],
    };
    if (ep && ep.Ports.length > 0) {
      ports = { ...ports };
      for (const p of ep.Ports) {
        const key = `${p.containerPort}/${p.proto}`;
        (ports[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
      }
    }
  }
  const primary = nets[0]![0];
  const attached = primary.Endpoints[req.containerId] !== undefined;
  return {
    Bridge: '',
    SandboxID: attached ? createHash('sha256').update(nsPath).digest('hex') : '',
    SandboxKey: attached ? nsPath : '',
    Ports: ports,
    Networks: networks,
  };
}
