import type { EmitFn } from '../events/events.js';
import { conflict, forbidden, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { matchLabels } from '../util/filters.js';
import type { Firewall } from './firewall.js';
import { inspectRecord, matches, pseudo, pseudoId, type NetworkInspect } from './inspect.js';
import * as ipam from './ipam.js';
import type { NetworkCreateBody, NetworkRegistry } from './networks.js';
import { createBridge } from './plumbing.js';
import { exec } from './rules.js';
import type { NetworkStore } from './store.js';

/**
 * `/networks`: create, list, inspect, remove and prune bridge networks. A network is its
 * record, its bridge and its rules; create makes all three or none, remove takes all three.
 */

const PREDEFINED = ['bridge', 'host', 'none'];

export interface RegistryDeps {
  store: NetworkStore;
  firewall: Firewall;
  tag: string;
  /** Subnets in use on the host (pier's networks and the host's routes). */
  takenSubnets(): Promise<ipam.Cidr[]>;
  /** Containers (stopped ones too) whose configuration names the network. */
  usersOf(rec: { Id: string; Name: string }): string[];
  emit?: EmitFn;
}

export class Registry implements NetworkRegistry {
  constructor(private readonly d: RegistryDeps) {}

  async create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    const { store, firewall, tag } = this.d;
    const name = body.Name ?? '';
    if (!name) throw invalid('network name is required');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalid(`invalid network name "${name}"`);
    const driver = body.Driver || 'bridge';
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    if (PREDEFINED.includes(name)) throw forbidden(`operation is not permitted on predefined ${name} network`);
    const configs = body.IPAM?.Config ?? [];
    const v4 = configs.filter((c) => !c.Subnet || !c.Subnet.includes(':'));
    if (v4.length > 1) throw invalid('pier supports one IPv4 subnet per network');
    const cfg = v4[0] ?? {};
    return store.serial(async () => {
      if (store.byName(name)) throw conflict(`network with name ${name} already exists`);
      let subnet: ipam.Cidr;
      const taken = await this.d.takenSubnets();
      if (cfg.Subnet) {
        subnet = ipam.parseCidr(cfg.Subnet);
        if (ipam.formatCidr(subnet) !== cfg.Subnet.trim()) throw invalid(`invalid subnet ${cfg.Subnet}: it is not a network address (did you mean ${ipam.formatCidr(subnet)}?)`);
        if (subnet.prefix > 30) throw invalid(`invalid subnet ${cfg.Subnet}: too small for a network`);
        const clash = taken.find((t) => ipam.overlaps(t, subnet));
        if (clash) throw forbidden(`invalid pool request: Pool overlaps with other one on this address space (${cfg.Subnet} overlaps ${ipam.formatCidr(clash)})`);
      } else {
        if (cfg.Gateway || cfg.IPRange) throw invalid('a gateway or ip-range needs a subnet');
        subnet = ipam.pickSubnet(ipam.defaultPool(parseInt(tag, 16)), taken);
      }
      let range: ipam.Cidr | undefined;
      if (cfg.IPRange) {
        range = ipam.parseCidr(cfg.IPRange, 'ip-range');
        if (!ipam.contains(subnet, range.base) || range.prefix < subnet.prefix) throw invalid(`invalid ip-range ${cfg.IPRange}: it is not inside subnet ${ipam.formatCidr(subnet)}`);
      }
      let gateway: number | undefined;
      if (cfg.Gateway) {
        gateway = ipam.ipToInt(cfg.Gateway);
        if (!ipam.contains(subnet, gateway)) throw invalid(`invalid gateway ${cfg.Gateway}: it is not inside subnet ${ipam.formatCidr(subnet)}`);
      }
      const rec = store.newRecord(name, subnet, gateway, range, body.Labels ?? {});
      rec.Internal = body.Internal ?? false;
      rec.Options = body.Options ?? {};
      await createBridge(rec);
      try {
        await store.save(rec);
        await firewall.apply();
      } catch (err) {
        await store.delete(rec);
        await exec('ip', ['link', 'del', rec.Bridge]).catch(() => undefined);
        throw err;
      }
      this.d.emit?.('network', 'create', rec.Id, { name: rec.Name, type: 'bridge' });
      return { Id: rec.Id, Warning: '' };
    });
  }

  list(filters: Map<string, string[]>): NetworkInspect[] {
    const all = this.d.store.all().map((n) => inspectRecord(n, false));
    all.push(pseudo(this.d.tag, 'host'), pseudo(this.d.tag, 'none'));
    return all.filter((n) => matches(n, filters));
  }

  inspect(ref: string): NetworkInspect {
    const { tag } = this.d;
    if (ref === 'host' || ref === pseudoId(tag, 'host')) return pseudo(tag, 'host');
    if (ref === 'none' || ref === pseudoId(tag, 'none')) return pseudo(tag, 'none');
    return inspectRecord(this.d.store.get(ref), true);
  }

  async remove(ref: string): Promise<void> {
    const { store, firewall } = this.d;
    if (ref === 'host' || ref === 'none') throw forbidden(`${ref} is a pre-defined network and cannot be removed`);
    const rec = store.get(ref);
    if (rec.Default) throw forbidden(`${rec.Name} is a pre-defined network and cannot be removed`);
    await store.serial(async () => {
      if (Object.keys(rec.Endpoints).length > 0) throw conflict(`error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`);
      const users = this.d.usersOf(rec);
      if (users.length > 0) throw conflict(`error while removing network: network ${rec.Name} id ${rec.Id} is in use by container ${users[0]}`);
      await store.delete(rec);
      await firewall.apply();
      await exec('ip', ['link', 'del', rec.Bridge]).catch((err: unknown) => log.warn({ err }, 'bridge removal'));
      this.d.emit?.('network', 'destroy', rec.Id, { name: rec.Name, type: 'bridge' });
    });
  }

  async prune(filters: Map<string, string[]>): Promise<string[]> {
    const deleted: string[] = [];
    for (const rec of this.d.store.all()) {
      if (rec.Default || Object.keys(rec.Endpoints).length > 0 || this.d.usersOf(rec).length > 0) continue;
      if (!matchLabels(filters, rec.Labels)) continue;
      await this.remove(rec.Id);
      deleted.push(rec.Name);
    }
    return deleted;
  }
}
