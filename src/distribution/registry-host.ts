import { isIP } from 'node:net';

/** Where a registry is reached: its base URL, and whether plain HTTP may be used for it. */

/** The base URL of a registry (`docker.io` is `https://registry-1.docker.io`). */
export function registryBaseUrl(domain: string, insecure: readonly string[] = []): string {
  if (domain === 'docker.io') return 'https://registry-1.docker.io';
  return `${isInsecure(domain, insecure) ? 'http' : 'https'}://${domain}`;
}

/** Whether plain HTTP may be used: loopback hosts, and the configured insecure registries. */
export function isInsecure(domain: string, insecure: readonly string[]): boolean {
  const host = hostOf(domain);
  if (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  for (const entry of insecure) {
    const e = entry.replace(/^https?:\/\//, '').replace(/\/$/, '');
    if (e === domain || e === host) return true;
    if (e.includes('/') && isIP(host) === 4 && inCidr(host, e)) return true;
  }
  return false;
}

/** The host of a registry domain (`[::1]:5000` is `::1`). */
function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(1, domain.indexOf(']'));
  const i = domain.lastIndexOf(':');
  return i > 0 ? domain.slice(0, i) : domain;
}

/** Whether the IPv4 address `ip` is in `cidr` (`10.0.0.0/8`). */
function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (net === undefined || isIP(net) !== 4) return false;
  const bits = Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const toInt = (s: string): number => s.split('.').reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(net) & mask) >>> 0);
}
