import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { log } from '../log.js';
import * as ipam from './ipam.js';
import { ip6Bytes, parseIp6, tryParseCidr6 } from './ipam6.js';
import { configureInside, createVeths, execIn, linkExists, type InsideInterface, type VethPair } from './netns.js';
import { exec } from './rules.js';
import type { EndpointRecord, NetworkRecord } from './store.js';

/**
 * The links on the host and in containers' namespaces: bridges, veth pairs, addresses and
 * routes. Everything made here carries the daemon's tag in its name (`pier<tag>…`), so that
 * two daemons never touch each other's links.
 */

/** The names of every link in the daemon's network namespace. */
export async function links(): Promise<Set<string>> {
  const out = JSON.parse(await exec('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  return new Set(out.map((l) => l.ifname));
}

/** Delete links by name in one `ip -batch` (missing ones are skipped: `-force`). */
export async function deleteLinks(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await exec('ip', ['-force', '-batch', '-'], names.map((l) => `link del ${l}`).join('\n') + '\n');
}

/** Create the network's Linux bridge with its gateway addresses (IPv4, and IPv6 with IPv6 on), up. */
export async function createBridge(rec: NetworkRecord): Promise<void> {
  const prefix = ipam.parseCidr(rec.Subnet).prefix;
  const addr4 = `addr add ${rec.Gateway}/${prefix} dev ${rec.Bridge}\n`;
  if (!rec.EnableIPv6 || !rec.Subnet6) {
    await exec('ip', ['-batch', '-'], `link add ${rec.Bridge} type bridge\n${addr4}link set ${rec.Bridge} up\n`);
  } else {
    await exec('ip', ['link', 'add', rec.Bridge, 'type', 'bridge']);
    await writeFile(`/proc/sys/net/ipv6/conf/${rec.Bridge}/disable_ipv6`, '0');
    await enableForwarding6(rec.Bridge);
    const prefix6 = tryParseCidr6(rec.Subnet6)!.cidr.prefix;
    // No duplicate address detection: the gateway is usable at once.
    await exec('ip', ['-batch', '-'], `${addr4}addr add ${rec.Gateway6}/${prefix6} dev ${rec.Bridge} nodad\nlink set ${rec.Bridge} up\n`);
  }
  // Published ports on 127.0.0.1 are DNATed to the bridge: the kernel must route 127/8 sources there.
  await writeFile(`/proc/sys/net/ipv4/conf/${rec.Bridge}/route_localnet`, '1');
}

let warnedNoForceForwarding = false;

/**
 * IPv6 forwarding for one bridge only: `forwarding` (the bridge acts as a router) and, on
 * kernels that have it (6.17 and later), `force_forwarding`, which forwards what arrives on
 * the bridge whatever `all.forwarding` says. pier never turns on IPv6 forwarding for the
 * whole host (that stops it from accepting router advertisements); on older kernels,
 * containers' IPv6 traffic leaves the host only where the host forwards IPv6 itself.
 * Returns whether the bridge forwards.
 */
export async function enableForwarding6(bridge: string): Promise<boolean> {
  const conf = `/proc/sys/net/ipv6/conf/${bridge}`;
  await writeFile(`${conf}/forwarding`, '1');
  if (existsSync(`${conf}/force_forwarding`)) {
    if ((await readFile(`${conf}/force_forwarding`, 'utf8')).trim() !== '1') await writeFile(`${conf}/force_forwarding`, '1');
    return true;
  }
  if ((await readFile('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8')).trim() === '1') return true;
  if (!warnedNoForceForwarding) {
    warnedNoForceForwarding = true;
    log.warn({ bridge }, 'this kernel cannot forward IPv6 for one interface only (no force_forwarding): containers reach IPv6 beyond the host only if the host forwards IPv6 (net.ipv6.conf.all.forwarding=1)');
  }
  return false;
}

/** Whether the bridge's `force_forwarding` went back to 0 (a write of 0 to all.forwarding resets it). */
export async function forwardingLost6(bridge: string): Promise<boolean> {
  const path = `/proc/sys/net/ipv6/conf/${bridge}/force_forwarding`;
  if (!existsSync(path)) return false;
  return (await readFile(path, 'utf8')).trim() !== '1';
}

/**
 * A fresh name for a host-side veth (`pier<tag>v<5 hex>`, 15 characters, the kernel's
 * limit). Fresh at every connect: a stopped container's pair is deleted by the kernel with
 * its namespace, asynchronously, and may outlive the stop by a moment.
 */
export function vethName(tag: string): string {
  return `pier${tag}v${randomBytes(3).toString('hex').slice(0, 5)}`;
}

/**
 * Make the veth pairs, addresses and routes of `eps` in the namespace at `nsPath`, from the
 * daemon itself (netlink and ioctls; no process is spawned). Interfaces are named
 * `eth<firstIndex>`, `eth<firstIndex+1>`, …; loopback is set up with the first; the default
 * routes go via `gateway` and `gateway6` (networks of `eps`) when given.
 */
export function plumb(nsPath: string, eps: Array<[NetworkRecord, EndpointRecord]>, containerId: string, opts: { firstIndex?: number; gateway?: NetworkRecord; gateway6?: NetworkRecord } = {}): void {
  const firstIndex = opts.firstIndex ?? 0;
  const pairs: VethPair[] = [];
  const ifaces: InsideInterface[] = [];
  let gateway6: { address: Buffer; iface: string } | undefined;
  eps.forEach(([net, ep], i) => {
    const iface = `eth${firstIndex + i}`;
    pairs.push({ host: ep.HostVeth, bridge: net.Bridge, peer: iface, mac: ep.Mac });
    const inside: InsideInterface = { name: iface, ip: ep.IP, prefix: ipam.parseCidr(net.Subnet).prefix };
    if (ep.IP6 && net.Subnet6) inside.ip6 = { address: ip6Bytes(parseIp6(ep.IP6)), prefix: tryParseCidr6(net.Subnet6)!.cidr.prefix };
    ifaces.push(inside);
    if (opts.gateway6?.Id === net.Id && net.Gateway6 && ep.IP6) gateway6 = { address: ip6Bytes(parseIp6(net.Gateway6)), iface };
  });
  createVeths(nsPath, pairs);
  configureInside(nsPath, { lo: firstIndex === 0, ifaces, gateway: opts.gateway?.Gateway, gateway6 });
  log.debug({ id: containerId, ns: nsPath }, 'network plumbed');
}

/** The lowest `eth<n>` not yet in the namespace at `nsPath`. */
export async function nextIfaceIndex(nsPath: string): Promise<number> {
  const out = JSON.parse(await execIn(nsPath, 'ip', ['-j', 'link', 'show'], '')) as Array<{ ifname: string }>;
  let i = 0;
  while (out.some((l) => l.ifname === `eth${i}`)) i++;
  return i;
}

/**
 * The kernel deletes a stopped container's veth pairs with its namespace, off the stop's path.
 * A namespace something else still holds (a `--network container:` joiner) keeps them: host
 * veths still there after a while are deleted then (one cheap lookup each when they are gone).
 */
export class VethReaper {
  private readonly pending = new Map<NodeJS.Timeout, string[]>();

  /** `live()`: the host veths of current endpoints (a name drawn again meanwhile is theirs). */
  constructor(private readonly live: () => Set<string>) {}

  later(veths: string[]): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      this.reap(veths).catch((err: unknown) => log.warn({ err, veths }, 'removing veths of a stopped container'));
    }, 2000);
    timer.unref();
    this.pending.set(timer, veths);
  }

  /** Reap everything pending now (at shutdown); failures are logged. */
  async flush(): Promise<void> {
    for (const [timer, veths] of this.pending) {
      clearTimeout(timer);
      await this.reap(veths).catch((err: unknown) => log.warn({ err, veths }, 'removing veths of a stopped container'));
    }
    this.pending.clear();
  }

  private async reap(veths: string[]): Promise<void> {
    const live = this.live();
    await deleteLinks(veths.filter((v) => !live.has(v) && linkExists(v)));
  }
}
