import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { log } from '../log.js';
import { ip6Bytes, isV6, parseIp6 } from './ipam6.js';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store.js';

/**
 * pier's embedded DNS for user-defined networks, Docker's resolver at 127.0.0.11 in another
 * place: pierd answers on port 53 (UDP) of each user network's gateway address, and the
 * containers of a user network get that address as their nameserver. It owns one socket per
 * served network and nothing else.
 *
 * Answers: a container's names on the networks the asker shares with it (its DNSNames: name,
 * aliases, short ID, hostname) and the asker's `--link` aliases, A records from IPv4 addresses
 * and AAAA records from IPv6 ones (a known name without an address of the asked family gets
 * an empty answer, as Docker gives); every other question is relayed to the asker's upstream
 * servers (`--dns`, else the host's nameservers: loopback ones work here, pierd runs in the
 * host's namespace). The asker is known by its source address. While pierd is down, names of
 * peers still resolve through the hosts files; other names do not.
 */

const PORT = 53;
const TTL = 600;
const UPSTREAM_TIMEOUT_MS = 3000;
const TYPE_A = 1;
const TYPE_AAAA = 28;

export class EmbeddedDns {
  private readonly sockets = new Map<string, Socket>();

  constructor(
    private readonly store: NetworkStore,
    private readonly hostResolvConf = '/etc/resolv.conf',
  ) {}

  /** Answer on the gateway of user network `net` (nothing for the default bridge or when it is served already). */
  async serve(net: NetworkRecord): Promise<void> {
    if (net.Default || this.sockets.has(net.Id)) return;
    const sock = createSocket({ type: 'udp4' });
    sock.on('message', (msg, from) => {
      this.answer(msg, from.address).then(
        (reply) => {
          if (reply) sock.send(reply, from.port, from.address);
        },
        (err: unknown) => log.debug({ err, from: from.address }, 'embedded DNS'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: PORT, address: net.Gateway, exclusive: true }, () => {
        sock.removeListener('error', reject);
        sock.on('error', (err) => log.warn({ err, network: net.Name }, 'embedded DNS socket'));
        resolve();
      });
    });
    this.sockets.set(net.Id, sock);
  }

  /** The nameserver a container whose first network is `net` gets: the gateway when it is served, else undefined. */
  nameserverFor(net: NetworkRecord): string | undefined {
    return this.sockets.has(net.Id) ? net.Gateway : undefined;
  }

  /** Stop answering on `net` (at `network rm`). */
  close(net: { Id: string }): void {
    this.sockets.get(net.Id)?.close();
    this.sockets.delete(net.Id);
  }

  /** Stop answering everywhere (at shutdown). */
  closeAll(): void {
    for (const id of [...this.sockets.keys()]) this.close({ Id: id });
  }

  /** The reply to query `msg` from address `from`, or undefined to say nothing (not a query). */
  async answer(msg: Buffer, from: string): Promise<Buffer | undefined> {
    const q = parseQuery(msg);
    if (!q) return undefined;
    const asker = this.askerOf(from);
    const found = asker ? this.lookup(asker, q.name) : undefined;
    if (found) {
      const addrs = q.type === TYPE_A ? found.filter((a) => !isV6(a)) : q.type === TYPE_AAAA ? found.filter(isV6) : [];
      return reply(msg, q, addrs, 0);
    }
    return (await this.relay(msg, asker?.ep)) ?? reply(msg, q, [], 2);
  }

  /** The container whose endpoint has address `ip`, with the networks it is on. */
  private askerOf(ip: string): { id: string; ep: EndpointRecord; nets: NetworkRecord[] } | undefined {
    for (const net of this.store.all()) {
      for (const ep of Object.values(net.Endpoints)) {
        if (ep.IP === ip || ep.IP6 === ip) return { id: ep.ContainerId, ep, nets: this.store.networksOf(ep.ContainerId) };
      }
    }
    return undefined;
  }

  /** The addresses `name` has for the asker (undefined: a name it does not know). */
  private lookup(asker: { id: string; nets: NetworkRecord[] }, name: string): string[] | undefined {
    const wanted = name.toLowerCase();
    const out: string[] = [];
    const add = (ep: EndpointRecord): void => {
      for (const a of [ep.IP, ep.IP6]) if (a && !out.includes(a)) out.push(a);
    };
    for (const net of asker.nets) {
      const peers = Object.values(net.Endpoints).filter((p) => p.ContainerId !== asker.id);
      for (const link of net.Endpoints[asker.id]?.Links ?? []) {
        const [target, alias] = link.replace(/^\//, '').split(':') as [string, string | undefined];
        if ((alias ?? target).toLowerCase() !== wanted) continue;
        const peer = peers.find((p) => p.Name === target || p.ContainerId.startsWith(target));
        if (peer) add(peer);
      }
      if (net.Default) continue;
      for (const peer of Object.values(net.Endpoints)) {
        const names = peer.DNSNames ?? [peer.Name, ...peer.Aliases, peer.ContainerId.slice(0, 12)];
        if (names.some((n) => n.toLowerCase() === wanted)) add(peer);
      }
    }
    return out.length > 0 ? out : undefined;
  }

  /** Relay `msg` to the asker's upstream servers in turn; the first reply, or undefined when none answers. */
  private async relay(msg: Buffer, ep: EndpointRecord | undefined): Promise<Buffer | undefined> {
    const servers = ep?.Dns && ep.Dns.length > 0 ? ep.Dns : this.hostServers();
    for (const server of servers) {
      const r = await ask(server, msg).catch((err: unknown) => {
        log.debug({ err, server }, 'embedded DNS: upstream');
        return undefined;
      });
      if (r) return r;
    }
    return undefined;
  }

  private hostServers(): string[] {
    let text = '';
    try {
      text = readFileSync(this.hostResolvConf, 'utf8');
    } catch (err) {
      log.debug({ err }, 'embedded DNS: host resolv.conf');
    }
    return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
  }
}

interface Question {
  name: string;
  type: number;
  /** Where the question ends in the message. */
  end: number;
}

/** The first question of a standard query; undefined for anything else (a reply, a malformed message). */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12 || (msg[2]! & 0x80) !== 0 || (msg[2]! & 0x78) !== 0 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    if (len > 63 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/** A reply to `query` with its question and one A or AAAA record per address; rcode 0 (NOERROR) or 2 (SERVFAIL). */
export function reply(query: Buffer, q: Question, addrs: string[], rcode: number): Buffer {
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2);
  head[2] = 0x80 | 0x04 | (query[2]! & 0x01); // QR, AA, RD as asked
  head[3] = 0x80 | rcode; // RA
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(addrs.length, 6);
  const answers = addrs.map((a) => {
    const data = isV6(a) ? ip6Bytes(parseIp6(a)) : Buffer.from(a.split('.').map(Number));
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name of the question
    rr.writeUInt16BE(isV6(a) ? TYPE_AAAA : TYPE_A, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, data]);
  });
  return Buffer.concat([head, query.subarray(12, q.end), ...answers]);
}

/** One UDP exchange with `server` on port 53: its reply, or undefined when it says nothing in time. */
function ask(server: string, msg: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isV6(server) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, UPSTREAM_TIMEOUT_MS);
    s.once('error', (err) => {
      clearTimeout(timer);
      s.close();
      reject(err);
    });
    s.once('message', (r) => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    });
    s.send(msg, PORT, server);
  });
}
