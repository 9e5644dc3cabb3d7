import { createHash } from 'node:crypto';
import { invalid } from '../errors.js';
import { matchLabels } from '../util/filters.js';
import * as ipam from './ipam.js';
import { isV6, tryParseCidr6 } from './ipam6.js';
import type { NetworkRecord } from './store.js';

/**
 * What `docker network inspect` and `docker network ls` show: a record in Docker's Network
 * shape, the pseudo networks `host` and `none`, and the list filters.
 */

export type NetworkInspect = Record<string, unknown> & { Id: string; Name: string };

/** A bridge network as Docker shows it; `Containers` is filled for inspect, empty for ls. */
export function inspectRecord(n: NetworkRecord, withContainers: boolean): NetworkInspect {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    const prefix = ipam.parseCidr(n.Subnet).prefix;
    const prefix6 = n.Subnet6 ? tryParseCidr6(n.Subnet6)!.cidr.prefix : 0;
    for (const ep of Object.values(n.Endpoints)) {
      containers[ep.ContainerId] = {
        Name: ep.Name,
        EndpointID: ep.EndpointID,
        MacAddress: ep.Mac,
        IPv4Address: `${ep.IP}/${prefix}`,
        IPv6Address: ep.IP6 ? `${ep.IP6}/${prefix6}` : '',
      };
    }
  }
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv4: true,
    EnableIPv6: n.EnableIPv6 ?? false,
    IPAM: ipamOf(n),
    Internal: n.Internal,
    Attachable: n.Attachable ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.Options,
    Labels: n.Labels,
  };
}

/**
 * IPAM as Docker shows it: the configs the client gave (as given: a subnet without a gateway
 * shows none), then, for a family it gave none of, the subnet and gateway pier chose.
 */
function ipamOf(n: NetworkRecord): { Driver: string; Options: Record<string, string> | null; Config: Array<Record<string, unknown>> } {
  const given = n.IPAM?.Config ?? [];
  const v4 = given.filter((c) => !isV6(c.Subnet));
  const v6 = given.filter((c) => isV6(c.Subnet));
  const config: Array<Record<string, unknown>> = [...v4, ...v6].map((c) => ({ ...c }));
  if (!n.IPAM) {
    const c: Record<string, string> = { Subnet: n.Subnet, Gateway: n.Gateway };
    if (n.IPRange) c.IPRange = n.IPRange;
    config.push(c);
  } else if (v4.length === 0) {
    config.push({ Subnet: n.Subnet, Gateway: n.Gateway });
  }
  if (n.EnableIPv6 && n.Subnet6 && v6.length === 0) config.push({ Subnet: n.Subnet6, Gateway: n.Gateway6 });
  return { Driver: n.IPAM?.Driver ?? 'default', Options: n.IPAM?.Options ?? null, Config: config };
}

/** The ID of the pseudo network `host` or `none` of the daemon tagged `tag` (stable across restarts). */
export function pseudoId(tag: string, name: 'host' | 'none'): string {
  return createHash('sha256').update(`${tag}/${name}`).digest('hex');
}

/** `host` or `none` as Docker shows them. */
export function pseudo(tag: string, name: 'host' | 'none'): NetworkInspect {
  return {
    Name: name,
    Id: pseudoId(tag, name),
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: name === 'host' ? 'host' : 'null',
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: null },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: {},
    Labels: {},
  };
}

/** Whether a network passes `docker network ls --filter` (invalid for an unknown key). */
export function matches(n: NetworkInspect, filters: Map<string, string[]>): boolean {
  const name = n.Name;
  const id = n.Id;
  const builtin = ['bridge', 'host', 'none'].includes(name) && (n.Options as Record<string, string>)['com.docker.network.bridge.default_bridge'] !== undefined || n.Driver !== 'bridge';
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    switch (key) {
      case 'name':
        if (!values.some((v) => name.includes(v))) return false;
        break;
      case 'id':
        if (!values.some((v) => id.startsWith(v))) return false;
        break;
      case 'driver':
        if (!values.includes(n.Driver as string)) return false;
        break;
      case 'scope':
        if (!values.includes('local')) return false;
        break;
      case 'type':
        if (!values.some((v) => (v === 'builtin') === builtin)) return false;
        break;
      case 'label':
        if (!matchLabels(filters, n.Labels as Record<string, string>)) return false;
        break;
      case 'dangling':
        break;
      default:
        throw invalid(`invalid filter '${key}'`);
    }
  }
  return true;
}
