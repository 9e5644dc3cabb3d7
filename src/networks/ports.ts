import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { conflict, invalid } from '../errors.js';
import * as ipam from './ipam.js';
import type { EndpointRequest } from './networks.js';
import type { RulePort } from './rules.js';

/**
 * Published ports (`-p`, `-P`): the bindings a container asks for, validated, and the host
 * ports they take, checked free against pier's own bindings and every socket on the host.
 */

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
      const hostIp = b.HostIp ?? '';
      if (hostIp && hostIp !== '0.0.0.0') {
        if (hostIp.includes(':')) continue; // IPv6 bindings: pier publishes on IPv4 only
        ipam.ipToInt(hostIp);
      }
      const hp = b.HostPort ?? '';
      const range = /^(\d+)(?:-(\d+))?$/.exec(hp);
      if (hp !== '' && !range) throw invalid(`invalid hostPort: ${hp}`);
      const hostPort = hp === '' ? 0 : Number(range![1]);
      if (hostPort > 65535) throw invalid(`invalid hostPort: ${hp}`);
      out.push({ proto: (m[2] ?? 'tcp') as 'tcp' | 'udp', hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort, containerIp: '', containerPort });
    }
  }
  return out;
}

/**
 * Give every port of `ports` its host port: the requested ones must be free (as Docker, a
 * conflict when pier or any process on the host holds them), port 0 gets a free one.
 */
export async function assignHostPorts(ports: RulePort[], ours: RulePort[]): Promise<void> {
  await checkPortsFree(ports.filter((p) => p.hostPort !== 0), ours);
  for (const p of ports) if (p.hostPort === 0) p.hostPort = await randomPort(p.proto, ours);
}

async function checkPortsFree(ports: RulePort[], ours: RulePort[]): Promise<void> {
  const seen: RulePort[] = [...ours];
  for (const p of ports) {
    const addr = p.hostIp || '0.0.0.0';
    const clash = seen.find((o) => o.proto === p.proto && o.hostPort === p.hostPort && (!o.hostIp || !p.hostIp || o.hostIp === p.hostIp));
    if (clash || !(await portFree(p.proto, p.hostIp, p.hostPort))) {
      throw conflict(`driver failed programming external connectivity: Bind for ${addr}:${p.hostPort} failed: port is already allocated`);
    }
    seen.push(p);
  }
}

function portFree(proto: 'tcp' | 'udp', hostIp: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    if (proto === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => resolvePromise(false));
      s.bind(port, hostIp || '0.0.0.0', () => s.close(() => resolvePromise(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ port, host: hostIp || '0.0.0.0', exclusive: true }, () => srv.close(() => resolvePromise(true)));
  });
}

/** A host port nobody uses now (the kernel's choice from its ephemeral range). */
async function randomPort(proto: 'tcp' | 'udp', ours: RulePort[]): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolvePromise, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => {
        const a = srv.address();
        srv.close(() => resolvePromise(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (!ours.some((o) => o.proto === proto && o.hostPort === port) && (proto === 'tcp' || (await portFree('udp', '', port)))) return port;
  }
  throw conflict('could not find a free host port to publish on');
}
