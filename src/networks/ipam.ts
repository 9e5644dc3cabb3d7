import { invalid } from '../errors.js';

/**
 * IPv4 address arithmetic for pier's address management: CIDR parsing, overlap, the pool of
 * subnets networks are carved from, and the choice of a free address in a subnet.
 */

export interface Cidr {
  /** The network address as a 32-bit unsigned number. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw invalid(`invalid IP address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw invalid(`invalid IP address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parse `a.b.c.d/n`; the address is brought down to its network address when `strict` is false. */
export function parseCidr(text: string, what = 'subnet'): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || Number(m[2]) > 32) throw invalid(`invalid ${what} ${text}: not a CIDR (a.b.c.d/n)`);
  let ip: number;
  try {
    ip = ipToInt(m[1]!);
  } catch {
    throw invalid(`invalid ${what} ${text}: not a CIDR (a.b.c.d/n)`);
  }
  const prefix = Number(m[2]);
  return { base: (ip & mask(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/**
 * The subnets pier hands to networks created without one: 172.17.0.0/16 to 172.31.0.0/16
 * (Docker's), then 10.128.0.0/16 to 10.255.0.0/16. `start` rotates the order, so that private
 * test daemons started at once each begin somewhere else.
 */
export function defaultPool(start = 0): Cidr[] {
  const pool: Cidr[] = [];
  for (let b = 17; b <= 31; b++) pool.push({ base: ipToInt(`172.${b}.0.0`), prefix: 16 });
  for (let b = 128; b <= 255; b++) pool.push({ base: ipToInt(`10.${b}.0.0`), prefix: 16 });
  const k = start % pool.length;
  return [...pool.slice(k), ...pool.slice(0, k)];
}

/** The first subnet of `pool` that overlaps none of `taken`. */
export function pickSubnet(pool: Cidr[], taken: Cidr[]): Cidr {
  const free = pool.find((c) => !taken.some((t) => overlaps(c, t)));
  if (!free) throw invalid('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  return free;
}

/**
 * A free address in `range` (inside `subnet`): never the network address, the broadcast
 * address, nor any of `used` (the gateway is in `used`). Lowest first, as Docker does.
 */
export function pickAddress(subnet: Cidr, range: Cidr, used: Set<number>): number {
  const first = Math.max(subnet.base + 1, range.base);
  const last = Math.min(subnet.base + size(subnet) - 2, range.base + size(range) - 1);
  for (let ip = first; ip <= last; ip++) if (!used.has(ip)) return ip;
  throw invalid(`no available IPv4 addresses on this network's address pools: ${formatCidr(subnet)}`);
}

/** A MAC address derived from an IPv4 address, as Docker does (02:42 and the four bytes). */
export function macOf(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
