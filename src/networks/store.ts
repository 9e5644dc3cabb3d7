import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import * as ipam from './ipam.js';
import { formatCidr6, formatIp6, type Cidr6 } from './ipam6.js';
import type { RulePort } from './rules.js';

/**
 * The records of a daemon's bridge networks, one JSON file each (`<root>/networks/<id>.json`),
 * with the endpoints (address leases) of the containers attached to them. The store owns the
 * records in memory and on disk and the lock that serialises every change to them; it knows
 * nothing of links, rules or files inside containers.
 */

const EndpointRecordSchema = z.object({
  ContainerId: z.string(),
  Name: z.string(),
  EndpointID: z.string(),
  IP: z.string(),
  /** The IPv6 address, on a network with IPv6. */
  IP6: z.string().optional(),
  Mac: z.string(),
  Aliases: z.array(z.string()),
  /** The names peers resolve the container by on this network (Docker's DNSNames; user networks only). */
  DNSNames: z.array(z.string()).optional(),
  /** `--link name[:alias]` entries: names only this container resolves. */
  Links: z.array(z.string()).optional(),
  /** `--dns` servers: where the embedded DNS relays this container's other questions (absent: the host's). */
  Dns: z.array(z.string()).optional(),
  Ports: z.array(z.object({ proto: z.enum(['tcp', 'udp']), hostIp: z.string(), hostPort: z.number(), containerIp: z.string(), containerPort: z.number() })),
  HostVeth: z.string(),
  HostsPath: z.string(),
});
/** A container's endpoint on one network: its address lease, veth and published ports. */
export type EndpointRecord = z.infer<typeof EndpointRecordSchema>;

const NetworkRecordSchema = z.object({
  Name: z.string(),
  Id: z.string(),
  Created: z.string(),
  Driver: z.string(),
  Internal: z.boolean(),
  Labels: z.record(z.string(), z.string()),
  Options: z.record(z.string(), z.string()),
  Subnet: z.string(),
  Gateway: z.string(),
  IPRange: z.string().optional(),
  EnableIPv6: z.boolean().optional(),
  /** The IPv6 subnet, gateway and range, on a network with IPv6. */
  Subnet6: z.string().optional(),
  Gateway6: z.string().optional(),
  IPRange6: z.string().optional(),
  /** The IPAM configuration as the client gave it (Docker shows it as given); absent in records older than it. */
  IPAM: z
    .object({
      Driver: z.string(),
      Options: z.record(z.string(), z.string()).nullable(),
      Config: z.array(z.object({ Subnet: z.string(), Gateway: z.string().optional(), IPRange: z.string().optional(), AuxiliaryAddresses: z.record(z.string(), z.string()).optional() })),
    })
    .optional(),
  Attachable: z.boolean().optional(),
  Bridge: z.string(),
  Default: z.boolean().optional(),
  Endpoints: z.record(z.string(), EndpointRecordSchema),
});
/** One bridge network as it is saved. */
export type NetworkRecord = z.infer<typeof NetworkRecordSchema>;

export class NetworkStore {
  private readonly dir: string;
  private readonly nets = new Map<string, NetworkRecord>();
  private lock: Promise<unknown> = Promise.resolve();

  /** `tag` names the daemon's bridges (`pier<tag>b<n>`). */
  constructor(root: string, private readonly tag: string) {
    this.dir = join(root, 'networks');
  }

  /** Read every record from disk; an unreadable one is logged and skipped. */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const rec = NetworkRecordSchema.parse(await readJsonIfExists(join(this.dir, name)));
        this.nets.set(rec.Id, rec);
      } catch (err) {
        log.warn({ err, file: name }, 'unreadable network record skipped');
      }
    }
  }

  /** Run `fn` after every change queued before it; changes to records, links and rules go through here. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  all(): NetworkRecord[] {
    return [...this.nets.values()];
  }

  /** Resolve a network by name, full ID or unique ID prefix (pseudo networks excluded). */
  get(ref: string): NetworkRecord {
    const byName = this.byName(ref);
    if (byName) return byName;
    const exact = this.nets.get(ref);
    if (exact) return exact;
    const prefix = this.all().filter((n) => ref.length > 0 && n.Id.startsWith(ref));
    if (prefix.length === 1) return prefix[0]!;
    if (prefix.length > 1) throw invalid(`network ${ref} is ambiguous (${prefix.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  byName(name: string): NetworkRecord | undefined {
    return this.all().find((n) => n.Name === name);
  }

  /** The default `bridge` network (notFound before init made it). */
  defaultNet(): NetworkRecord {
    const d = this.all().find((n) => n.Default);
    if (!d) throw notFound('network bridge not found');
    return d;
  }

  /** A new record (not saved) on a bridge name no other record uses; the gateways default to the first address of each subnet. */
  newRecord(name: string, subnet: ipam.Cidr, gateway: number | undefined, range: ipam.Cidr | undefined, labels: Record<string, string>, v6?: { subnet: Cidr6; gateway?: bigint; range?: Cidr6 }): NetworkRecord {
    const used = new Set(this.all().map((n) => n.Bridge));
    let i = 0;
    while (used.has(`pier${this.tag}b${i.toString(36)}`)) i++;
    const rec: NetworkRecord = {
      Name: name,
      Id: randomBytes(32).toString('hex'),
      Created: new Date().toISOString(),
      Driver: 'bridge',
      Internal: false,
      Labels: labels,
      Options: {},
      Subnet: ipam.formatCidr(subnet),
      Gateway: ipam.intToIp(gateway ?? subnet.base + 1),
      Bridge: `pier${this.tag}b${i.toString(36)}`,
      Endpoints: {},
    };
    if (range) rec.IPRange = ipam.formatCidr(range);
    if (v6) {
      rec.EnableIPv6 = true;
      rec.Subnet6 = formatCidr6(v6.subnet);
      rec.Gateway6 = formatIp6(v6.gateway ?? v6.subnet.base + 1n);
      if (v6.range) rec.IPRange6 = formatCidr6(v6.range);
    }
    return rec;
  }

  /** Keep `rec` in memory and write it atomically. */
  async save(rec: NetworkRecord): Promise<void> {
    this.nets.set(rec.Id, rec);
    await writeJsonAtomic(join(this.dir, `${rec.Id}.json`), rec);
  }

  /** Forget `rec`, in memory and on disk. */
  async delete(rec: NetworkRecord): Promise<void> {
    this.nets.delete(rec.Id);
    await rm(join(this.dir, `${rec.Id}.json`), { force: true });
  }

  /** Every published port of every endpoint. */
  allPorts(): RulePort[] {
    return this.all().flatMap((n) => Object.values(n.Endpoints).flatMap((e) => e.Ports));
  }

  /** The host-side veths of every endpoint. */
  liveVeths(): Set<string> {
    return new Set(this.all().flatMap((n) => Object.values(n.Endpoints).map((e) => e.HostVeth)));
  }

  /** The networks a container has an endpoint on. */
  networksOf(containerId: string): NetworkRecord[] {
    return this.all().filter((n) => n.Endpoints[containerId]);
  }
}
