import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { conflict } from '../errors.js';
import { log } from '../log.js';
import { isV6 } from './ipam6.js';
import type { RulePort } from './rules.js';

/**
 * pierd's own port proxy, for the published ports the kernel cannot forward by DNAT: those on
 * IPv6 loopback (`-p [::1]:8080:80`: IPv6 has no route_localnet) and those whose host address
 * is of another family than the container's (`-p [::]:8080:80` on a network without IPv6).
 * Docker serves the same bindings with docker-proxy. The proxy lives in pierd: these ports
 * answer while pierd runs, and are served again when it starts. It owns its listeners and
 * the connections they accept, and closes them all when the container's endpoint goes.
 */

/** How long a UDP client's flow is kept without traffic. */
const UDP_IDLE_MS = 60_000;

interface Listener {
  close(): void;
}

export class PortProxy {
  private readonly byContainer = new Map<string, Listener[]>();

  /**
   * Serve `ports` of container `id` (each to its containerIp:containerPort). All or none: a
   * host port that cannot be bound closes what was opened and fails (conflict, Docker's words).
   */
  async start(id: string, ports: RulePort[]): Promise<void> {
    if (ports.length === 0) return;
    const opened: Listener[] = [];
    try {
      for (const p of ports) opened.push(p.proto === 'tcp' ? await tcp(p) : await udp(p));
    } catch (err) {
      for (const l of opened) l.close();
      throw err;
    }
    this.byContainer.set(id, [...(this.byContainer.get(id) ?? []), ...opened]);
  }

  /** Close the container's listeners and their connections (nothing when it has none). */
  stop(id: string): void {
    for (const l of this.byContainer.get(id) ?? []) l.close();
    this.byContainer.delete(id);
  }

  /** Close everything (at daemon shutdown). */
  stopAll(): void {
    for (const id of [...this.byContainer.keys()]) this.stop(id);
  }
}

function hostText(p: RulePort): string {
  return `${isV6(p.hostIp) ? `[${p.hostIp}]` : p.hostIp || '0.0.0.0'}:${p.hostPort}`;
}

function bindError(p: RulePort): Error {
  return conflict(`driver failed programming external connectivity: Bind for ${hostText(p)} failed: port is already allocated`);
}

/** A TCP listener on the host address whose connections are piped to the container's port. */
function tcp(p: RulePort): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: p.containerIp, port: p.containerPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      // A reset on either side ends both (as a broken connection does).
      s.once('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', () => reject(bindError(p)));
    server.listen({ host: p.hostIp || '0.0.0.0', port: p.hostPort, ipv6Only: isV6(p.hostIp), exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.warn({ err, port: hostText(p) }, 'port proxy'));
      resolve({
        close: () => {
          server.close();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}

/** A UDP socket on the host address; each client gets its own socket to the container, dropped when idle. */
function udp(p: RulePort): Promise<Listener> {
  const flows = new Map<string, { upstream: UdpSocket; timer: NodeJS.Timeout; queued: Buffer[] | undefined }>();
  const server = createSocket({ type: isV6(p.hostIp) ? 'udp6' : 'udp4', ipv6Only: isV6(p.hostIp) });
  const drop = (key: string): void => {
    const f = flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.upstream.close();
    flows.delete(key);
  };
  server.on('message', (msg, from) => {
    const key = `${from.address}/${from.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const upstream = createSocket(isV6(p.containerIp) ? 'udp6' : 'udp4');
      upstream.on('message', (reply) => {
        server.send(reply, from.port, from.address);
        const f = flows.get(key);
        if (f) f.timer.refresh();
      });
      upstream.on('error', (err) => {
        log.debug({ err, port: hostText(p) }, 'port proxy: udp flow');
        drop(key);
      });
      const created = { upstream, timer: setTimeout(() => drop(key), UDP_IDLE_MS).unref(), queued: [] as Buffer[] | undefined };
      // Datagrams that arrive before the connect completes wait for it.
      upstream.connect(p.containerPort, p.containerIp, () => {
        for (const m of created.queued ?? []) upstream.send(m);
        created.queued = undefined;
      });
      flow = created;
      flows.set(key, flow);
    }
    flow.timer.refresh();
    if (flow.queued) flow.queued.push(msg);
    else flow.upstream.send(msg);
  });
  return new Promise((resolve, reject) => {
    server.once('error', () => reject(bindError(p)));
    server.bind(p.hostPort, p.hostIp || '0.0.0.0', () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.warn({ err, port: hostText(p) }, 'port proxy'));
      resolve({
        close: () => {
          for (const key of [...flows.keys()]) drop(key);
          server.close();
        },
      });
    });
  });
}
