import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { conflict, invalid } from '../errors.js';
import * as ipam from './ipam.js';
import { formatIp6, isV6, tryParseIp6 } from './ipam6.js';
import type { EndpointRequest } from './networks.js';
import type { RulePort } from './rules.js';

/**
 * Published ports (`-p`, `-P`): the bindings a container asks for, validated, and the host
 * ports they take, checked free against pier's own bindings and every socket on the host.
 * Host addresses: '' is every IPv4 address, `::` every IPv6 address, else one address.
 */

/** The address family of a host address ('' is IPv4's every-address). */
export function hostFamily(hostIp: string): 4 | 6 {
  return isV6(hostIp) ? 6 : 4;
}

/**
 * Whether the kernel can forward a binding by DNAT: host and container addresses of one
 * family, and not IPv6 loopback (IPv6 has no route_localnet: packets from ::1 never leave
 * the host). The others are served by pierd's proxy (proxy.ts).
 */
export function byDnat(p: RulePort): boolean {
  return hostFamily(p.hostIp) === hostFamily(p.containerIp) && p.hostIp !== '::1';
}

/**
 * The bindings pierd's proxy serves: those DNAT cannot, and IPv6 loopback for a binding on
 * every IPv6 address that DNAT serves (the kernel never routes ::1 sources out of the host;
 * Docker's docker-proxy answers there too).
 */
export function proxied(ports: RulePort[]): RulePort[] {
  return ports.flatMap((p) => (!byDnat(p) ? [p] : p.hostIp === '::' ? [{ ...p, hostIp: '::1' }] : []));
}

/** The ports a container publishes (host port 0: to be chosen), validated; containerIp is left ''. */
export function portsOf(req: EndpointRequest): RulePort[] {
  const out: RulePort[] = [];
  const bindings = req.portBindings ?? {};
  const keys = new Set(Object.keys(bindings));
  if (req.publishAllPorts) for (const k of req.exposedPorts ?? []) keys.add(k);
  for (const key of keys) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
    if (!m) throw invalid(`invalid port specification: "${key}"`);
    if (m[2] === 'sctp') throw invalid('pier does not publish sctp ports');
    const containerPort = Number(m[1]);
    if (containerPort < 1 || containerPort > 65535) throw invalid(`invalid port specification: "${key}"`);
    const list = bindings[key] && bindings[key].length > 0 ? bindings[key] : [{ HostIp: '', HostPort: '' }];
    for (const b of list) {
      const hostIp = normalHostIp(b.HostIp ?? '');
      const hp = b.HostPort ?? '';
      const range = /^(\d+)(?:-(\d+))?$/.exec(hp);
      if (hp !== '' && !range) throw invalid(`invalid hostPort: ${hp}`);
      const hostPort = hp === '' ? 0 : Number(range![1]);
      if (hostPort > 65535) throw invalid(`invalid hostPort: ${hp}`);
      out.push({ proto: (m[2] ?? 'tcp') as 'tcp' | 'udp', hostIp, hostPort, containerIp: '', containerPort });
    }
  }
  return out;
}

/** '' for every IPv4 address, the canonical text of an IPv6 one; invalid for anything else. */
function normalHostIp(hostIp: string): string {
  if (hostIp === '' || hostIp === '0.0.0.0') return '';
  if (isV6(hostIp)) {
    const n = tryParseIp6(hostIp);
    if (n === undefined) throw invalid(`invalid host IP address: ${hostIp}`);
    return formatIp6(n);
  }
  try {
    ipam.ipToInt(hostIp);
  } catch {
    throw invalid(`invalid host IP address: ${hostIp}`);
  }
  return hostIp;
}

/**
 * On a network with IPv6, a binding on every IPv4 address is also one on every IPv6 address,
 * with the same host port (as Docker's `0.0.0.0:8080` and `[::]:8080`). Returns the bindings
 * with those twins added, and each twin's IPv4 original.
 */
export function withIPv6Twins(ports: RulePort[], ipv6: boolean): { ports: RulePort[]; twins: Map<RulePort, RulePort> } {
  const twins = new Map<RulePort, RulePort>();
  if (!ipv6) return { ports, twins };
  const out: RulePort[] = [];
  for (const p of ports) {
    out.push(p);
    if (p.hostIp !== '') continue;
    const twin = { ...p, hostIp: '::' };
    twins.set(twin, p);
    out.push(twin);
  }
  return { ports: out, twins };
}

/**
 * Give every port of `ports` its host port: the requested ones must be free (as Docker, a
 * conflict when pier or any process on the host holds them), port 0 gets a free one, and a
 * twin the port of its original.
 */
export async function assignHostPorts(ports: RulePort[], ours: RulePort[], twins = new Map<RulePort, RulePort>()): Promise<void> {
  await checkPortsFree(ports.filter((p) => p.hostPort !== 0), ours);
  const twinned = new Set(twins.values());
  for (const p of ports) {
    if (p.hostPort !== 0 || twins.has(p)) continue;
    p.hostPort = await randomPort(p.proto, ours, twinned.has(p) ? '::' : isV6(p.hostIp) ? p.hostIp : undefined);
  }
  for (const [twin, original] of twins) twin.hostPort = original.hostPort;
}

/** Two bindings take the same host socket: one protocol and port, one family, and one address or every address. */
function clashes(a: RulePort, b: RulePort): boolean {
  if (a.proto !== b.proto || a.hostPort !== b.hostPort || hostFamily(a.hostIp) !== hostFamily(b.hostIp)) return false;
  const any = (ip: string): boolean => ip === '' || ip === '::';
  return any(a.hostIp) || any(b.hostIp) || a.hostIp === b.hostIp;
}

async function checkPortsFree(ports: RulePort[], ours: RulePort[]): Promise<void> {
  const seen: RulePort[] = [...ours];
  for (const p of ports) {
    const addr = p.hostIp === '' ? '0.0.0.0' : isV6(p.hostIp) ? `[${p.hostIp}]` : p.hostIp;
    if (seen.some((o) => clashes(o, p)) || !(await portFree(p.proto, p.hostIp, p.hostPort))) {
      throw conflict(`driver failed programming external connectivity: Bind for ${addr}:${p.hostPort} failed: port is already allocated`);
    }
    seen.push(p);
  }
}

/** Whether `port` can be bound on `hostIp` ('' every IPv4 address; an IPv6 address binds IPv6 only). */
function portFree(proto: 'tcp' | 'udp', hostIp: string, port: number): Promise<boolean> {
  const v6 = isV6(hostIp);
  const host = hostIp || '0.0.0.0';
  return new Promise((resolvePromise) => {
    if (proto === 'udp') {
      const s = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
      s.once('error', () => resolvePromise(false));
      s.bind(port, host, () => s.close(() => resolvePromise(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ port, host, exclusive: true, ipv6Only: v6 }, () => srv.close(() => resolvePromise(true)));
  });
}

/** A host port nobody uses now (the kernel's choice from its ephemeral range), free on the IPv6 address `v6Host` too when given. */
async function randomPort(proto: 'tcp' | 'udp', ours: RulePort[], v6Host: string | undefined): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolvePromise, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => {
        const a = srv.address();
        srv.close(() => resolvePromise(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (ours.some((o) => o.proto === proto && o.hostPort === port)) continue;
    if (proto === 'udp' && !(await portFree('udp', '', port))) continue;
    if (v6Host !== undefined && !(await portFree(proto, v6Host, port))) continue;
    return port;
  }
  throw conflict('could not find a free host port to publish on');
}
