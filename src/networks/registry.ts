import type { EmitFn } from '../events/events.js';
import { conflict, forbidden, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { matchLabels } from '../util/filters.js';
import { hostHasIPv6, type Firewall } from './firewall.js';
import { inspectRecord, matches, pseudo, pseudoId, type NetworkInspect } from './inspect.js';
import * as ipam from './ipam.js';
import { readPools } from './ipam-config.js';
import { overlaps6, pickSubnet6, type Cidr6 } from './ipam6.js';
import type { EmbeddedDns } from './dns.js';
import type { NetworkCreateBody, NetworkRegistry } from './networks.js';
import { createBridge } from './plumbing.js';
import { exec } from './rules.js';
import type { NetworkStore } from './store.js';

/**
 * `/networks`: create, list, inspect, remove and prune bridge networks. A network is its
 * record, its bridge and its rules; create makes all three or none, remove takes all three.
 */

const PREDEFINED = ['bridge', 'host', 'none'];
const IPV6_OPTION = 'com.docker.network.enable_ipv6';
const IPV4_OPTION = 'com.docker.network.enable_ipv4';

/** Subnets in use, per family; `route` tells a host route from one of pier's networks. */
export interface TakenSubnets {
  v4: Array<{ cidr: ipam.Cidr; route: boolean }>;
  v6: Array<{ cidr: Cidr6; route: boolean }>;
}

/** Docker's answer to a subnet that overlaps one in use (a host route: pier refuses it too, and says so). */
function overlapError(route: boolean): Error {
  return forbidden(`invalid pool request: Pool overlaps with other one on this address space${route ? ' (a route of the host covers it)' : ''}`);
}

/** A driver option read as Docker reads a bool (absent: the default). */
function boolOption(options: Record<string, string>, key: string): boolean {
  const v = options[key];
  if (v === undefined) return key === IPV4_OPTION;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw invalid(`driver-opt "${key}" is not a valid bool`);
}

export interface RegistryDeps {
  store: NetworkStore;
  firewall: Firewall;
  tag: string;
  /** Subnets in use on the host (pier's networks and the host's routes), each with whether it is a host route. */
  takenSubnets(): Promise<TakenSubnets>;
  /** The ULA prefix IPv6 subnets are taken from when none is given. */
  ula: Cidr6;
  /** Containers (stopped ones too) whose configuration names the network. */
  usersOf(rec: { Id: string; Name: string }): string[];
  /** pier's DNS, served on each user network's gateway while the network exists. */
  dns?: Pick<EmbeddedDns, 'serve' | 'close'>;
  emit?: EmitFn;
}

export class Registry implements NetworkRegistry {
  constructor(private readonly d: RegistryDeps) {}

  async create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    const { store, firewall, tag } = this.d;
    const name = body.Name ?? '';
    // As Docker, any name but an empty one (spaces and all).
    if (!name) throw invalid('invalid name: name is empty');
    if (PREDEFINED.includes(name)) throw forbidden(`operation is not permitted on predefined ${name} network`);
    const driver = body.Driver || 'bridge';
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    const ipamDriver = body.IPAM?.Driver || 'default';
    if (ipamDriver !== 'default') throw notFound(`plugin "${ipamDriver}" not found`);
    const options = { ...(body.Options ?? {}) };
    const enableIPv6 = body.EnableIPv6 ?? boolOption(options, IPV6_OPTION);
    if (body.EnableIPv6 !== undefined) Reflect.deleteProperty(options, IPV6_OPTION);
    const enableIPv4 = body.EnableIPv4 ?? boolOption(options, IPV4_OPTION);
    if (body.EnableIPv4 !== undefined) Reflect.deleteProperty(options, IPV4_OPTION);
    if (!enableIPv4) throw invalid('pier does not create IPv6-only networks: EnableIPv4 must stay true');
    if (enableIPv6 && !hostHasIPv6()) throw invalid('IPv6 is not available on this host (the kernel has IPv6 turned off)');
    const configs = body.IPAM?.Config ?? [];
    const pools = readPools(configs, enableIPv6);
    return store.serial(async () => {
      if (store.byName(name)) throw conflict(`network with name ${name} already exists`);
      const { v4, v6 } = await this.d.takenSubnets();
      let subnet: ipam.Cidr;
      if (pools.v4) {
        subnet = pools.v4.subnet;
        const clash = v4.find((t) => ipam.overlaps(t.cidr, subnet));
        if (clash) throw overlapError(clash.route);
      } else {
        subnet = ipam.pickSubnet(ipam.defaultPool(parseInt(tag, 16)), v4.map((t) => t.cidr));
      }
      let six: { subnet: Cidr6; gateway?: bigint; range?: Cidr6 } | undefined;
      if (enableIPv6) {
        if (pools.v6) {
          six = pools.v6;
          const clash = v6.find((t) => overlaps6(t.cidr, pools.v6!.subnet));
          if (clash) throw overlapError(clash.route);
        } else {
          six = { subnet: pickSubnet6(this.d.ula, v6.map((t) => t.cidr)) };
        }
      }
      const rec = store.newRecord(name, subnet, pools.v4?.gateway, pools.v4?.range, body.Labels ?? {}, six);
      rec.Internal = body.Internal ?? false;
      rec.Attachable = body.Attachable ?? false;
      rec.Options = options;
      rec.IPAM = {
        Driver: ipamDriver,
        Options: body.IPAM?.Options ?? null,
        Config: configs.filter((c) => c.Subnet).map((c) => ({ ...c, Subnet: c.Subnet! })),
      };
      await createBridge(rec);
      try {
        await store.save(rec);
        await firewall.apply();
      } catch (err) {
        await store.delete(rec);
        await exec('ip', ['link', 'del', rec.Bridge]).catch(() => undefined);
        await firewall.apply().catch((e: unknown) => log.warn({ err: e }, 'rules after a failed network create'));
        throw err;
      }
      await this.d.dns?.serve(rec).catch((err: unknown) => log.warn({ err, network: rec.Name }, 'embedded DNS: cannot answer on the gateway (names resolve through the hosts files only)'));
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
      this.d.dns?.close(rec);
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
