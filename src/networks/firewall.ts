import { existsSync } from 'node:fs';
import { log } from '../log.js';
import { enableForwarding6, forwardingLost6 } from './plumbing.js';
import { byDnat, hostFamily } from './ports.js';
import { applyRules, installJumps, missingSetup, removeAllRules, renderRules, saveRules, type Family } from './rules.js';
import type { NetworkRecord, NetworkStore } from './store.js';

/**
 * The daemon's netfilter rules kept equal to its records, in both families: every change
 * rewrites its chains whole (rules.ts), and a watchdog puts back what another program took
 * away. IPv4 chains live as long as the daemon; IPv6 chains only while some network has
 * IPv6, so that a host without IPv6 networks has no trace of pier in ip6tables.
 */

/** How often the daemon checks that its netfilter chains and jumps are still there. */
const RULES_CHECK_MS = 5000;

/** Whether this kernel has IPv6 at all. */
export function hostHasIPv6(): boolean {
  return existsSync('/proc/net/if_inet6');
}

export class Firewall {
  private timer: NodeJS.Timeout | undefined;
  /** Whether the daemon's IPv6 chains are installed (undefined: not known yet). */
  private v6: boolean | undefined;

  constructor(
    private readonly store: NetworkStore,
    private readonly tag: string,
  ) {}

  /** Create the IPv4 chains if missing and the jumps to them (at start, before the records are applied). */
  async install(): Promise<void> {
    await installJumps(this.tag, 4);
  }

  /**
   * Rewrite the daemon's chains from its records; the jumps to them are put back if they went.
   * IPv6 chains are made with the first network with IPv6 and removed with the last.
   * Call under the store's lock.
   */
  async apply(): Promise<void> {
    const nets = this.store.all();
    const ports = this.store.allPorts().filter(byDnat);
    await this.applyFamily(4, nets.map((n) => ({ bridge: n.Bridge, subnet: n.Subnet, internal: n.Internal })), ports.filter((p) => hostFamily(p.hostIp) === 4));
    const nets6 = ipv6Networks(nets);
    if (nets6.length > 0) {
      if (this.v6 !== true) await installJumps(this.tag, 6);
      this.v6 = true;
      await this.applyFamily(6, nets6.map((n) => ({ bridge: n.Bridge, subnet: n.Subnet6!, internal: n.Internal })), ports.filter((p) => hostFamily(p.hostIp) === 6));
    } else if (this.v6 !== false) {
      if (hostHasIPv6()) await removeAllRules(this.tag, 6);
      this.v6 = false;
    }
  }

  private async applyFamily(family: Family, nets: Array<{ bridge: string; subnet: string; internal: boolean }>, ports: ReturnType<NetworkStore['allPorts']>): Promise<void> {
    await applyRules(renderRules(this.tag, nets, ports, family), { family });
    const { jumps: missing } = missingSetup(this.tag, await saveRules(family));
    if (missing.length > 0) await installJumps(this.tag, family);
  }

  /**
   * Every RULES_CHECK_MS, put back the chains and jumps another program took away (a firewall
   * reload, another engine's flush), and the IPv6 forwarding of pier's bridges (a write of 0
   * to all.forwarding resets it), so published ports keep working without a restart.
   * Docker loses its rules to a firewalld reload until it restarts.
   */
  watch(): void {
    const check = (): void => {
      this.store.serial(async () => {
        const families: Family[] = this.v6 ? [4, 6] : [4];
        let repair = false;
        for (const family of families) {
          const { chains, jumps: missing } = missingSetup(this.tag, await saveRules(family));
          if (chains.length === 0 && missing.length === 0) continue;
          log.warn({ family, chains, jumps: missing.map(([t, c]) => `${t}/${c}`) }, 'netfilter rules were removed by another program: putting them back');
          await installJumps(this.tag, family);
          repair = true;
        }
        if (repair) await this.apply();
        for (const n of ipv6Networks(this.store.all())) {
          if (!(await forwardingLost6(n.Bridge))) continue;
          log.warn({ bridge: n.Bridge }, 'IPv6 forwarding of a bridge was turned off by another program: turning it on again');
          await enableForwarding6(n.Bridge);
        }
      }).catch((err: unknown) => log.warn({ err }, 'checking netfilter rules'));
    };
    this.timer = setInterval(check, RULES_CHECK_MS);
    this.timer.unref();
  }

  /** Stop the watchdog. */
  stop(): void {
    clearInterval(this.timer);
  }
}

/** The networks with IPv6 on. */
export function ipv6Networks(nets: NetworkRecord[]): NetworkRecord[] {
  return nets.filter((n) => n.EnableIPv6 && n.Subnet6);
}
