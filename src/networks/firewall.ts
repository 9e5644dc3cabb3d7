import { log } from '../log.js';
import { applyRules, exec, installJumps, missingSetup, renderRules } from './rules.js';
import type { NetworkStore } from './store.js';

/**
 * The daemon's netfilter rules kept equal to its records: every change rewrites its chains
 * whole (rules.ts), and a watchdog puts back what another program took away.
 */

/** How often the daemon checks that its netfilter chains and jumps are still there. */
const RULES_CHECK_MS = 5000;

export class Firewall {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: NetworkStore,
    private readonly tag: string,
  ) {}

  /** Create the chains if missing and the jumps to them (at start, before the records are applied). */
  async install(): Promise<void> {
    await installJumps(this.tag);
  }

  /** Rewrite the daemon's chains from its records; the jumps to them are put back if they went. Call under the store's lock. */
  async apply(): Promise<void> {
    const nets = this.store.all().map((n) => ({ bridge: n.Bridge, subnet: n.Subnet, internal: n.Internal }));
    await applyRules(renderRules(this.tag, nets, this.store.allPorts()));
    const { jumps: missing } = missingSetup(this.tag, await exec('iptables-save', []));
    if (missing.length > 0) await installJumps(this.tag);
  }

  /**
   * Every RULES_CHECK_MS, put back the chains and jumps another program took away (a firewall
   * reload, another engine's flush), so published ports keep working without a restart.
   * Docker loses its rules to a firewalld reload until it restarts.
   */
  watch(): void {
    const check = (): void => {
      this.store.serial(async () => {
        const { chains, jumps: missing } = missingSetup(this.tag, await exec('iptables-save', []));
        if (chains.length === 0 && missing.length === 0) return;
        log.warn({ chains, jumps: missing.map(([t, c]) => `${t}/${c}`) }, 'netfilter rules were removed by another program: putting them back');
        await installJumps(this.tag);
        await this.apply();
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
