import { spawn } from 'node:child_process';
import { internal } from '../errors.js';

/**
 * pier's netfilter rules, through Debian's iptables and ip6tables (nft backend). All of a
 * daemon's rules live in its own chains, named `PIER-<tag>-*` in both families, which the
 * built-in chains jump to; every change rewrites those chains whole from the daemon's state in
 * one `iptables-restore --noflush` per family (one transaction), so the rules never drift from
 * the records and a restart repairs them.
 */

/** The address family a rule set is for: 4 (iptables) or 6 (ip6tables). */
export type Family = 4 | 6;

const TOOLS: Record<Family, { cmd: string; save: string; restore: string }> = {
  4: { cmd: 'iptables', save: 'iptables-save', restore: 'iptables-restore' },
  6: { cmd: 'ip6tables', save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

/** The family's `*-save` dump, whole or of one table. */
export function saveRules(family: Family, table?: string): Promise<string> {
  return exec(TOOLS[family].save, table ? ['-t', table] : []);
}

export interface RuleNetwork {
  bridge: string;
  /** The network's subnet of the family the rules are for. */
  subnet: string;
  internal: boolean;
}

export interface RulePort {
  proto: 'tcp' | 'udp';
  /** '' (or 0.0.0.0): every IPv4 address of the host; `::`: every IPv6 address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export function chainNames(tag: string): { fwd: string; dnat: string; post: string } {
  return { fwd: `PIER-${tag}-FWD`, dnat: `PIER-${tag}-DNAT`, post: `PIER-${tag}-POST` };
}

/** The wildcard that matches every bridge of the daemon tagged `tag` (and nothing else). */
export function bridgeWildcard(tag: string): string {
  return `pier${tag}b+`;
}

/**
 * The `iptables-restore --noflush` (or `ip6tables-restore`) input that sets the daemon's
 * chains of `family` to exactly these rules; `ports` are those whose container address is of
 * that family.
 */
export function renderRules(tag: string, networks: RuleNetwork[], ports: RulePort[], family: Family = 4): string {
  const c = chainNames(tag);
  const f: string[] = ['*filter', `:${c.fwd} - [0:0]`];
  // Replies and published ports first: isolation below must not drop them.
  for (const n of networks) {
    if (!n.internal) {
      f.push(`-A ${c.fwd} -o ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
      f.push(`-A ${c.fwd} -o ${n.bridge} -m conntrack --ctstate DNAT -j ACCEPT`);
    }
    f.push(`-A ${c.fwd} -i ${n.bridge} -o ${n.bridge} -j ACCEPT`);
  }
  for (const n of networks) {
    if (n.internal) {
      f.push(`-A ${c.fwd} -i ${n.bridge} -j DROP`);
      f.push(`-A ${c.fwd} -o ${n.bridge} -j DROP`);
    } else {
      f.push(`-A ${c.fwd} -i ${n.bridge} -o ${bridgeWildcard(tag)} -j DROP`);
      f.push(`-A ${c.fwd} -i ${n.bridge} -j ACCEPT`);
    }
  }
  f.push('COMMIT');

  const n: string[] = ['*nat', `:${c.dnat} - [0:0]`, `:${c.post} - [0:0]`];
  for (const p of ports) {
    const any = p.hostIp === '' || p.hostIp === '0.0.0.0' || p.hostIp === '::';
    // IPv6 loopback is left to pierd's proxy (proxy.ts): DNAT cannot take it out of the host.
    const dst = any ? (family === 6 ? ' ! -d ::1/128' : '') : ` -d ${p.hostIp}/${family === 4 ? 32 : 128}`;
    const to = family === 4 ? `${p.containerIp}:${p.containerPort}` : `[${p.containerIp}]:${p.containerPort}`;
    n.push(`-A ${c.dnat}${dst} -p ${p.proto} -m ${p.proto} --dport ${p.hostPort} -j DNAT --to-destination ${to}`);
  }
  for (const net of networks) {
    // Connections to 127.0.0.1 leave through the bridge with a host source the container can
    // answer (IPv6 has no route_localnet: ::1 is never DNATed out of the host).
    if (family === 4) n.push(`-A ${c.post} -s 127.0.0.0/8 -o ${net.bridge} -j MASQUERADE`);
    // A container reaching a published port of its own network through a host address.
    n.push(`-A ${c.post} -s ${net.subnet} -o ${net.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`);
    if (!net.internal) n.push(`-A ${c.post} -s ${net.subnet} ! -o ${net.bridge} -j MASQUERADE`);
  }
  n.push('COMMIT');
  return `${f.join('\n')}\n${n.join('\n')}\n`;
}

/** The jumps from the built-in chains into the daemon's chains: [table, chain, rule spec]. */
export function jumps(tag: string): Array<[string, string, string[]]> {
  const c = chainNames(tag);
  return [
    ['filter', 'FORWARD', ['-j', c.fwd]],
    ['nat', 'PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat]],
    ['nat', 'OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat]],
    ['nat', 'POSTROUTING', ['-j', c.post]],
  ];
}

/** Run a command; resolves with stdout, rejects (`internal`) with its stderr when it fails. */
export function exec(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e) => reject(internal(`${cmd}: ${e.message}`, e)));
    child.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(internal(`${cmd} ${args.join(' ')}: ${Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`}`));
    });
    // A command that exits without reading its input (EPIPE) is judged by its exit code.
    child.stdin?.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(internal(`${cmd}: writing its input: ${e.message}`, e));
    });
    if (input !== undefined && child.stdin) child.stdin.end(input);
  });
}

/** Create the daemon's chains of `family` if missing and make sure each built-in chain jumps to them once, first. */
export async function installJumps(tag: string, family: Family = 4): Promise<void> {
  await applyRules(renderRules(tag, [], [], family), { keepContents: true, tag, family });
  const { cmd } = TOOLS[family];
  for (const [table, chain, spec] of jumps(tag)) {
    const present = await exec(cmd, ['-w', '-t', table, '-C', chain, ...spec]).then(() => true, () => false);
    if (!present) await exec(cmd, ['-w', '-t', table, '-I', chain, '1', ...spec]);
  }
}

/**
 * What is missing of the daemon's netfilter setup in an `iptables-save` (or `ip6tables-save`) dump: its chains, and
 * the jumps to them from the built-in chains (another program's flush or firewall reload
 * takes them away).
 */
export function missingSetup(tag: string, saved: string): { chains: string[]; jumps: Array<[string, string, string[]]> } {
  const tables = new Map<string, string[]>();
  let current = '';
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) tables.set((current = line.slice(1)), []);
    else if (current) tables.get(current)!.push(line);
  }
  const c = chainNames(tag);
  const chains = [['filter', c.fwd], ['nat', c.dnat], ['nat', c.post]].filter(([t, name]) => !(tables.get(t!) ?? []).some((l) => l.startsWith(`:${name} `))).map(([, name]) => name!);
  const missing = jumps(tag).filter(([table, chain, spec]) => !(tables.get(table) ?? []).includes(`-A ${chain} ${spec.join(' ')}`));
  return { chains, jumps: missing };
}

/**
 * Load rules. With `keepContents`, only chains that do not exist yet are created (used at
 * start, before the state is read back). nft transactions can collide with another daemon's:
 * retried a few times.
 */
export async function applyRules(text: string, opts: { keepContents?: boolean; tag?: string; family?: Family } = {}): Promise<void> {
  const family = opts.family ?? 4;
  let input = text;
  if (opts.keepContents && opts.tag) {
    const existing = await saveRules(family);
    const c = chainNames(opts.tag);
    const missing = [c.fwd, c.dnat, c.post].filter((name) => !existing.includes(`:${name} `));
    if (missing.length === 0) return;
    input = text.split('\n').filter((l) => !l.startsWith(':') || missing.some((m) => l.startsWith(`:${m} `))).filter((l) => !l.startsWith('-A')).join('\n');
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await exec(TOOLS[family].restore, ['-w', '--noflush'], input);
      return;
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

/**
 * Remove every rule and chain of the daemon tagged `tag` in `family`: the jumps from the
 * built-in chains, then its chains. Touches nothing else.
 */
export async function removeAllRules(tag: string, family: Family = 4): Promise<void> {
  const { cmd } = TOOLS[family];
  for (const table of ['filter', 'nat']) {
    const saved = await saveRules(family, table);
    const prefix = `PIER-${tag}-`;
    for (const line of saved.split('\n')) {
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (!m || m[1]!.startsWith(prefix) || !line.includes(`-j ${prefix}`)) continue;
      await exec(cmd, ['-w', '-t', table, '-D', m[1]!, ...m[2]!.split(' ')]);
    }
    for (const line of saved.split('\n')) {
      const m = /^:(\S+) /.exec(line);
      if (!m || !m[1]!.startsWith(prefix)) continue;
      await exec(cmd, ['-w', '-t', table, '-F', m[1]!]);
      await exec(cmd, ['-w', '-t', table, '-X', m[1]!]);
    }
  }
}
