import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { invalid } from '../errors.js';

/**
 * IPv6 address arithmetic for pier's address management, on 128-bit bigints: parsing and
 * RFC 5952 formatting, CIDRs, overlap, the ULA pool a daemon carves /64 subnets from, and the
 * choice of a free address in a subnet.
 */

export interface Cidr6 {
  /** The network address. */
  base: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

/** Whether `text` looks like an IPv6 address (it has a colon); says nothing of its validity. */
export function isV6(text: string): boolean {
  return text.includes(':');
}

/** Parse an IPv6 address (`::` compression and a trailing dotted quad allowed; no zone). Undefined when it is not one. */
export function tryParseIp6(text: string): bigint | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split('::').length > 2) return undefined;
  const groups: number[] = [];
  const tail = /(?:^|:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (tail) {
    const octets = tail[1]!.split('.').map(Number);
    if (octets.some((o) => o > 255)) return undefined;
    s = `${s.slice(0, s.length - tail[1]!.length)}${((octets[0]! << 8) | octets[1]!).toString(16)}:${((octets[2]! << 8) | octets[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  if (halves.length === 2) {
    if (head.length + rest.length > 7) return undefined;
    groups.push(...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest);
  } else {
    if (head.length !== 8) return undefined;
    groups.push(...head);
  }
  return groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

/** Parse an IPv6 address; invalid (Docker's words) when it is not one. */
export function parseIp6(text: string): bigint {
  const n = tryParseIp6(text);
  if (n === undefined) throw invalid(`invalid IPv6 address: ${text}`);
  return n;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIp6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

/** Parse `addr/n`, undefined when it is not an IPv6 CIDR; `exact` tells whether host bits were clear. */
export function tryParseCidr6(text: string): { cidr: Cidr6; exact: boolean } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m || Number(m[2]) > 128) return undefined;
  const ip = tryParseIp6(m[1]!);
  if (ip === undefined) return undefined;
  const prefix = Number(m[2]);
  const base = ip & mask(prefix);
  return { cidr: { base, prefix }, exact: base === ip };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIp6(c.base)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & mask(c.prefix)) === c.base;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) === (b.base & mask(p));
}

/**
 * The ULA prefix (`fd` and a 40-bit global ID, /48) a daemon takes its IPv6 subnets from when
 * none is given, derived from its root as Docker derives it from its host ID (RFC 4193 §3.2.2,
 * loosely): stable across restarts, different for every daemon on the machine.
 */
export function ulaBase(root: string): Cidr6 {
  const gid = BigInt(`0x${createHash('sha256').update(`pier-ula:${resolve(root)}`).digest('hex').slice(0, 10)}`);
  return { base: (0xfdn << 120n) | (gid << 80n), prefix: 48 };
}

/** The first /64 of the /48 `pool` that overlaps none of `taken`. */
export function pickSubnet6(pool: Cidr6, taken: Cidr6[]): Cidr6 {
  for (let i = 0n; i < 1n << BigInt(64 - pool.prefix); i++) {
    const c: Cidr6 = { base: pool.base | (i << 64n), prefix: 64 };
    if (!taken.some((t) => overlaps6(c, t))) return c;
  }
  throw invalid('could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network');
}

/** A free address in `range` (inside `subnet`): never the subnet-router anycast address (the first), nor any of `used`. Lowest first. */
export function pickAddress6(subnet: Cidr6, range: Cidr6, used: Set<bigint>): bigint {
  const first = range.base > subnet.base ? range.base : subnet.base + 1n;
  const end = range.base + (1n << BigInt(128 - range.prefix));
  // Checked one by one from the lowest: the leases of a network are few.
  for (let ip = first; ip < end && ip < first + BigInt(used.size) + 2n; ip++) if (!used.has(ip)) return ip;
  throw invalid(`no available IPv6 addresses on this network's address pools: ${formatCidr6(subnet)}`);
}

/** The 16 bytes of an address, network order (what netlink takes). */
export function ip6Bytes(n: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(n >> 64n, 0);
  b.writeBigUInt64BE(n & 0xffffffffffffffffn, 8);
  return b;
}
