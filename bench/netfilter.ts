/**
 * Netfilter state around Docker's engine, shared by the benchmarks: Docker adds chains, a
 * FORWARD DROP policy and NAT rules; reference-docker's stop.sh restores only what it saved on
 * its first start, and not when that save was empty, which would leave pier's network tests
 * behind a DROP. Save with `netfilterState()` before starting Docker, `restoreNetfilter()` after.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { run } from '../test/harness.js';

export interface NetfilterState {
  rules: string;
  ipForward: string;
}

async function iptablesSave(): Promise<string> {
  const r = await run('iptables-save', [], process.env);
  if (r.code !== 0) throw new Error(`iptables-save: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The host's iptables rules and ip_forward, now. */
export async function netfilterState(): Promise<NetfilterState> {
  return { rules: await iptablesSave(), ipForward: await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8') };
}

/**
 * Put netfilter and ip_forward back as `saved` had them. Tables that `saved` lacks are
 * emptied (no rules, ACCEPT policies).
 */
export async function restoreNetfilter(saved: NetfilterState): Promise<void> {
  const tables = (rules: string): string[] => [...rules.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]!);
  const now = await iptablesSave();
  let restore = saved.rules;
  for (const table of tables(now).filter((t) => !tables(saved.rules).includes(t))) {
    const section = now.slice(now.indexOf(`*${table}\n`));
    const builtins = [...section.slice(0, section.indexOf('COMMIT')).matchAll(/^:(\S+) (?!-)\S+/gm)].map((m) => `:${m[1]!} ACCEPT [0:0]`);
    restore += `*${table}\n${builtins.join('\n')}\nCOMMIT\n`;
  }
  const r = await run('iptables-restore', [], process.env, { input: restore });
  if (r.code !== 0) throw new Error(`iptables-restore: exit ${r.code}: ${r.stderr.trim()}`);
  await writeFile('/proc/sys/net/ipv4/ip_forward', saved.ipForward);
}
