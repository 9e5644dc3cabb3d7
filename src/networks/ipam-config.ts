import { invalid } from '../errors.js';
import { joinErrors } from './endpoints.js';
import * as ipam from './ipam.js';
import { contains6, formatCidr6, formatIp6, isV6, overlaps6, tryParseCidr6, tryParseIp6, type Cidr6 } from './ipam6.js';
import type { NetworkCreateBody } from './networks.js';

/**
 * The IPAM configuration of `POST /networks/create`, checked as Docker's ValidateIPAM checks
 * it (same rules, same words: `invalid network config:` and one line per fault), and read
 * into at most one subnet per family with its gateway and range.
 */

export interface Pool4 {
  subnet: ipam.Cidr;
  gateway?: number;
  range?: ipam.Cidr;
}

export interface Pool6 {
  subnet: Cidr6;
  gateway?: bigint;
  range?: Cidr6;
}

type Config = NonNullable<NonNullable<NetworkCreateBody['IPAM']>['Config']>[number];

/** A CIDR of either family, as Go's netip.ParsePrefix reads it; undefined when it is not one. */
function parsePrefix(text: string): { v6: false; cidr: ipam.Cidr; exact: boolean } | { v6: true; cidr: Cidr6; exact: boolean } | undefined {
  if (isV6(text)) {
    const p = tryParseCidr6(text);
    return p ? { v6: true, ...p } : undefined;
  }
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32 || m[1]!.split('.').some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) return undefined;
  const cidr = ipam.parseCidr(text);
  return { v6: false, cidr, exact: ipam.formatCidr(cidr) === text };
}

/** An address of either family; undefined when it is not one. */
function parseAddr(text: string): { v6: false; ip: number } | { v6: true; ip: bigint } | undefined {
  if (isV6(text)) {
    const ip = tryParseIp6(text);
    return ip === undefined ? undefined : { v6: true, ip };
  }
  try {
    return { v6: false, ip: ipam.ipToInt(text) };
  } catch {
    return undefined;
  }
}

/** Go's Prefix.String() of a parsed subnet: the address as given, then the length. */
function given(p: NonNullable<ReturnType<typeof parsePrefix>>, text: string): string {
  return p.v6 ? `${formatIp6(tryParseIp6(text.split('/')[0]!)!)}/${p.cidr.prefix}` : text;
}

/**
 * Check the configs (IPv6 ones only when `enableIPv6`, as Docker) and read the pools.
 * Throws invalid with Docker's messages; pier's own limits (one subnet per family, room for
 * a gateway and a container) are stated in pier's words.
 */
export function readPools(configs: Config[], enableIPv6: boolean): { v4?: Pool4; v6?: Pool6 } {
  const errs: string[] = [];
  const out: { v4?: Pool4; v6?: Pool6 } = {};
  for (const cfg of configs) {
    const text = cfg.Subnet ?? '';
    const p = parsePrefix(text);
    if (!p) {
      errs.push(`invalid subnet ${text}: invalid CIDR block notation`);
      continue;
    }
    const family = p.v6 ? 'IPv6' : 'IPv4';
    if (p.v6 && !enableIPv6) continue;
    const masked = p.v6 ? formatCidr6(p.cidr) : ipam.formatCidr(p.cidr);
    if (!p.exact) errs.push(`invalid subnet ${given(p, text)}: it should be ${masked}`);
    let range: ipam.Cidr | Cidr6 | undefined;
    if (cfg.IPRange) {
      const r = parsePrefix(cfg.IPRange);
      if (!r) errs.push(`invalid ip-range ${cfg.IPRange}: invalid CIDR block notation`);
      else if (r.v6 !== p.v6) errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet is an ${family} block`);
      else {
        if (r.cidr.prefix < p.cidr.prefix) errs.push(`invalid ip-range ${cfg.IPRange}: CIDR block is bigger than its parent subnet ${given(p, text)}`);
        if (!r.exact) errs.push(`invalid ip-range ${given(r, cfg.IPRange)}: it should be ${r.v6 ? formatCidr6(r.cidr) : ipam.formatCidr(r.cidr)}`);
        const inside = r.v6 ? overlaps6(p.cidr as Cidr6, r.cidr) : ipam.overlaps(p.cidr as ipam.Cidr, r.cidr);
        if (!inside) errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet ${given(p, text)} doesn't contain ip-range`);
        range = r.cidr;
      }
    }
    const addressError = (address: string): string | undefined => {
      const a = parseAddr(address);
      if (!a) return 'invalid address';
      if (a.v6 !== p.v6) return `parent subnet is an ${family} block`;
      const inside = a.v6 ? contains6(p.cidr as Cidr6, a.ip) : ipam.contains(p.cidr as ipam.Cidr, a.ip);
      return inside ? undefined : `parent subnet ${given(p, text)} doesn't contain this address`;
    };
    let gateway: number | bigint | undefined;
    if (cfg.Gateway) {
      const e = addressError(cfg.Gateway);
      if (e) errs.push(`invalid gateway ${cfg.Gateway}: ${e}`);
      else gateway = parseAddr(cfg.Gateway)!.ip;
    }
    for (const [name, aux] of Object.entries(cfg.AuxiliaryAddresses ?? {})) {
      const e = addressError(aux);
      if (e) errs.push(`invalid auxiliary address ${name}: ${e}`);
    }
    if (p.v6 ? out.v6 : out.v4) throw invalid(`pier supports one ${family} subnet per network`);
    if (p.cidr.prefix > (p.v6 ? 126 : 30)) errs.push(`invalid subnet ${given(p, text)}: too small for a network (pier needs room for a gateway and a container)`);
    if (p.v6) out.v6 = { subnet: p.cidr, gateway: gateway as bigint | undefined, range: range as Cidr6 | undefined };
    else out.v4 = { subnet: p.cidr, gateway: gateway as number | undefined, range: range as ipam.Cidr | undefined };
  }
  if (errs.length > 0) throw invalid(`invalid network config:\n${joinErrors(errs)}`);
  return out;
}
