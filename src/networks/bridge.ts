import type { EmitFn } from '../events/events.js';
import { matchLabels } from '../util/filters.js';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { conflict, forbidden, invalid, isKind, notFound } from '../errors.js';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import * as ipam from './ipam.js';
import { LocalNetworks } from './local.js';
import { configureInside, createNetns, createVeths, execIn, linkExists, removeNetns, type InsideInterface, type VethPair } from './netns.js';
import type { Endpoint, EndpointConfig, EndpointRequest, EndpointSettings, NetworkService, NetworkSettings } from './networks.js';
import { applyRules, exec, installJumps, missingSetup, removeAllRules, renderRules, type RulePort } from './rules.js';

/**
 * Bridge networks: the default `bridge`, user-defined bridges, `host` and `none`. Each bridge
 * network is a Linux bridge named `pier<tag>b<n>` (tag: five hex digits of the daemon's root,
 * so that two daemons never share one); a container gets its own network namespace, bind-mounted
 * at `<execRoot>/netns/<id>`, with one veth pair per network. Addresses are leased at start and
 * returned at stop; the leases live in the network's record (`<root>/networks/<id>.json`).
 * Containers on a user-defined network find each other through their /etc/hosts, which pier
 * rewrites (in place, so the bind mount sees it) whenever a member comes or goes; the files
 * keep working while pierd is down.
 */

const EndpointRecordSchema = z.object({
  ContainerId: z.string(),
  Name: z.string(),
  EndpointID: z.string(),
  IP: z.string(),
  Mac: z.string(),
  Aliases: z.array(z.string()),
  Ports: z.array(z.object({ proto: z.enum(['tcp', 'udp']), hostIp: z.string(), hostPort: z.number(), containerIp: z.string(), containerPort: z.number() })),
  HostVeth: z.string(),
  HostsPath: z.string(),
});
type EndpointRecord = z.infer<typeof EndpointRecordSchema>;

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
  Bridge: z.string(),
  Default: z.boolean().optional(),
  Endpoints: z.record(z.string(), EndpointRecordSchema),
});
type NetworkRecord = z.infer<typeof NetworkRecordSchema>;

export interface NetworkCreateBody {
  Name?: string;
  CheckDuplicate?: boolean;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface BridgeOptions {
  root: string;
  execRoot: string;
  /** The default bridge's subnet (daemon.json `bip`-like); default: the first free of the pool. */
  defaultSubnet?: string;
  hostResolvConf?: string;
  /** The containers the daemon knows, by ID: endpoints of any other are stale. */
  knownContainers(): Set<string>;
  /** Resolve a container reference (for `container:<name|id>`). */
  findContainer(ref: string): { id: string; running: boolean } | undefined;
  /** Network events (`create`, `destroy`); connect and disconnect are the containers part's. */
  emit?: EmitFn;
}

/** Five hex digits naming a daemon's bridges, veths and chains, derived from its root. */
export function networkTag(root: string): string {
  return createHash('sha256').update(resolve(root)).digest('hex').slice(0, 5);
}

const PREDEFINED = ['bridge', 'host', 'none'];
/** How often the daemon checks that its netfilter chains and jumps are still there. */
const RULES_CHECK_MS = 5000;

export class BridgeNetworks implements NetworkService {
  private readonly dir: string;
  private readonly nsDir: string;
  readonly tag: string;
  private readonly local: LocalNetworks;
  private readonly nets = new Map<string, NetworkRecord>();
  private lock: Promise<unknown> = Promise.resolve();
  /** Host veths of stopped containers to check on later (see reapLater), by timer. */
  private readonly reaps = new Map<NodeJS.Timeout, string[]>();
  private rulesTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BridgeOptions) {
    this.dir = join(opts.root, 'networks');
    this.nsDir = join(opts.execRoot, 'netns');
    this.tag = networkTag(opts.root);
    this.local = new LocalNetworks(opts.hostResolvConf);
  }

  /** Serialise changes to records, links and rules. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  // ---- start-up -----------------------------------------------------------------------

  /**
   * Read the records, make the host ready (ip_forward, chains), create the default bridge,
   * recreate missing bridges, drop endpoints of containers that no longer exist and remove
   * this daemon's links and namespaces that no record explains. Rules are rewritten whole.
   */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await mkdir(this.nsDir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const rec = NetworkRecordSchema.parse(await readJsonIfExists(join(this.dir, name)));
        this.nets.set(rec.Id, rec);
      } catch (err) {
        log.warn({ err, file: name }, 'unreadable network record skipped');
      }
    }
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    await installJumps(this.tag);
    if (![...this.nets.values()].some((n) => n.Default)) {
      const taken = await this.takenSubnets();
      const subnet = this.opts.defaultSubnet
        ? ipam.parseCidr(this.opts.defaultSubnet)
        : ipam.pickSubnet(ipam.defaultPool(parseInt(this.tag, 16)), taken);
      const rec = this.newRecord('bridge', subnet, undefined, undefined, {});
      rec.Default = true;
      rec.Options = { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': rec.Bridge };
      await this.save(rec);
    }
    const known = this.opts.knownContainers();
    const links = await this.links();
    for (const rec of this.nets.values()) {
      let changed = false;
      for (const id of Object.keys(rec.Endpoints)) {
        if (!known.has(id)) {
          Reflect.deleteProperty(rec.Endpoints, id);
          changed = true;
        }
      }
      if (changed) await this.save(rec);
      if (!links.has(rec.Bridge)) await this.createBridge(rec);
    }
    const wanted = new Set<string>();
    for (const rec of this.nets.values()) {
      wanted.add(rec.Bridge);
      for (const ep of Object.values(rec.Endpoints)) wanted.add(ep.HostVeth);
    }
    const stale = [...links].filter((l) => l.startsWith(`pier${this.tag}`) && !wanted.has(l));
    if (stale.length > 0) await exec('ip', ['-force', '-batch', '-'], stale.map((l) => `link del ${l}`).join('\n') + '\n').catch((err: unknown) => log.warn({ err }, 'removing stale links'));
    const liveIds = new Set([...this.nets.values()].flatMap((n) => Object.keys(n.Endpoints)));
    for (const name of await readdir(this.nsDir)) if (!liveIds.has(name)) removeNetns(join(this.nsDir, name));
    await this.applyAllRules();
    this.watchRules();
  }

  /**
   * Every RULES_CHECK_MS, put back the chains and jumps another program took away (a firewall
   * reload, another engine's flush), so published ports keep working without a restart.
   * Docker loses its rules to a firewalld reload until it restarts.
   */
  private watchRules(): void {
    const check = (): void => {
      this.serial(async () => {
        const { chains, jumps: missing } = missingSetup(this.tag, await exec('iptables-save', []));
        if (chains.length === 0 && missing.length === 0) return;
        log.warn({ chains, jumps: missing.map(([t, c]) => `${t}/${c}`) }, 'netfilter rules were removed by another program: putting them back');
        await installJumps(this.tag);
        await this.applyAllRules();
      }).catch((err: unknown) => log.warn({ err }, 'checking netfilter rules'));
    };
    this.rulesTimer = setInterval(check, RULES_CHECK_MS);
    this.rulesTimer.unref();
  }

  /**
   * On daemon shutdown: when no container is attached anywhere, remove the bridges and the
   * chains (the records stay; the next start recreates them), so a stopped pierd leaves the
   * host's networking as it found it. With attached containers, everything stays for them.
   */
  async shutdown(): Promise<void> {
    clearInterval(this.rulesTimer);
    for (const [timer, veths] of this.reaps) {
      clearTimeout(timer);
      await this.reap(veths).catch((err: unknown) => log.warn({ err, veths }, 'removing veths of a stopped container'));
    }
    this.reaps.clear();
    await this.serial(async () => {
      if ([...this.nets.values()].some((n) => Object.keys(n.Endpoints).length > 0)) return;
      await removeDaemonNetworking(this.tag, this.opts.execRoot);
    });
  }

  // ---- NetworkService --------------------------------------------------------------------

  async prepare(req: EndpointRequest): Promise<Endpoint> {
    const mode = req.networkMode;
    if (mode === 'none' || mode === 'host') return this.local.prepare(req);
    if (mode.startsWith('container:')) {
      const target = this.joinedContainer(mode);
      if (target.id === req.containerId) throw invalid('cannot join own network namespace');
      return this.local.prepare({ ...req, networkMode: 'none' });
    }
    let nets: Array<[NetworkRecord, EndpointConfig | null | undefined]>;
    try {
      nets = this.membership(req);
    } catch (err) {
      // As Docker: an unknown network is an error of start, not of create.
      if (!isKind(err, 'notFound')) throw err;
      const ep = await this.local.prepare({ ...req, networkMode: 'none' });
      ep.settings = { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} };
      return ep;
    }
    for (const [net, cfg] of nets) {
      const ip = cfg?.IPAMConfig?.IPv4Address;
      if (ip) {
        if (net.Default) throw invalid('user specified IP address is supported on user defined networks only');
        if (!ipam.contains(ipam.parseCidr(net.Subnet), ipam.ipToInt(ip))) throw invalid(`no configured subnet contains IP address ${ip}`);
      }
      if (net.Default && cfg?.Aliases && cfg.Aliases.length > 0) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    }
    this.portsOf(req); // validates
    const ep = await this.local.prepare({ ...req, networkMode: 'none', extraHosts: this.extraHosts(req) });
    ep.attachment.netns = { kind: 'path', path: join(this.nsDir, req.containerId) };
    ep.settings = this.settings(req, nets);
    ep.warnings = [];
    return ep;
  }

  /** The container a `container:<name|id>` mode joins; notFound when there is none. */
  private joinedContainer(mode: string): { id: string; running: boolean } {
    const ref = mode.slice('container:'.length);
    const target = this.opts.findContainer(ref);
    if (!target) throw notFound(`No such container: ${ref}`);
    return target;
  }

  async connect(req: EndpointRequest): Promise<Endpoint> {
    const mode = req.networkMode;
    if (mode === 'none' || mode === 'host') return this.local.connect(req);
    if (mode.startsWith('container:')) {
      const target = this.joinedContainer(mode);
      const path = join(this.nsDir, target.id);
      if (!target.running || !existsSync(path)) throw conflict(`cannot join network namespace of container ${target.id}: it is not running on a bridge network`);
      const ep = await this.local.connect({ ...req, networkMode: 'none' });
      ep.attachment.netns = { kind: 'path', path };
      ep.settings = { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} };
      ep.warnings = [];
      return ep;
    }
    await this.disconnect(req);
    const nets = this.membership(req);
    const nsPath = join(this.nsDir, req.containerId);
    createNetns(nsPath);
    try {
      const ports = this.portsOf(req);
      const eps = await this.serial(async () => {
        const out: Array<[NetworkRecord, EndpointRecord]> = [];
        const requested = ports.filter((p) => p.hostPort !== 0);
        await checkPortsFree(requested, this.allPorts());
        for (const p of ports) if (p.hostPort === 0) p.hostPort = await randomPort(p.proto, this.allPorts());
        let first = true;
        for (const [net, cfg] of nets) {
          const ip = this.allocate(net, cfg?.IPAMConfig?.IPv4Address);
          const ep: EndpointRecord = {
            ContainerId: req.containerId,
            Name: req.containerName,
            EndpointID: randomBytes(32).toString('hex'),
            IP: ipam.intToIp(ip),
            Mac: cfg?.MacAddress || (first && req.macAddress) || ipam.macOf(ip),
            Aliases: net.Default ? [] : [...(cfg?.Aliases ?? [])],
            Ports: [],
            HostVeth: this.vethName(),
            HostsPath: join(req.containerDir, 'hosts'),
          };
          if (first) ep.Ports = ports.map((p) => ({ ...p, containerIp: ep.IP }));
          first = false;
          net.Endpoints[req.containerId] = ep;
          await this.save(net);
          out.push([net, ep]);
        }
        return out;
      });
      this.plumb(nsPath, eps, req);
      if (ports.length > 0) await this.serial(() => this.applyAllRules());
      await this.writeHostsFor(eps.map(([n]) => n), req);
    } catch (err) {
      await this.disconnect(req).catch((e: unknown) => log.warn({ err: e, id: req.containerId }, 'undoing a failed network connect'));
      throw err;
    }
    const ep = await this.local.connect({ ...req, networkMode: 'none', extraHosts: this.extraHosts(req) });
    ep.attachment.netns = { kind: 'path', path: nsPath };
    ep.settings = this.settings(req, nets);
    ep.warnings = [];
    return ep;
  }

  async disconnect(req: EndpointRequest): Promise<void> {
    const nsPath = join(this.nsDir, req.containerId);
    const touched = await this.serial(async () => {
      const out: Array<[NetworkRecord, EndpointRecord]> = [];
      for (const net of this.nets.values()) {
        const ep = net.Endpoints[req.containerId];
        if (!ep) continue;
        Reflect.deleteProperty(net.Endpoints, req.containerId);
        await this.save(net);
        out.push([net, ep]);
      }
      if (out.some(([, ep]) => ep.Ports.length > 0)) await this.applyAllRules();
      return out;
    });
    removeNetns(nsPath);
    if (touched.length > 0) this.reapLater(touched.map(([, ep]) => ep.HostVeth));
    const user = touched.filter(([n]) => !n.Default).map(([n]) => n);
    if (user.length > 0) await this.rewriteMembers(user);
  }

  /**
   * The kernel deletes a stopped container's veth pairs with its namespace, off the stop's path.
   * A namespace something else still holds (a `--network container:` joiner) keeps them: host
   * veths still there after a while are deleted then (one cheap lookup each when they are gone).
   */
  private reapLater(veths: string[]): void {
    const timer = setTimeout(() => {
      this.reaps.delete(timer);
      this.reap(veths).catch((err: unknown) => log.warn({ err, veths }, 'removing veths of a stopped container'));
    }, 2000);
    timer.unref();
    this.reaps.set(timer, veths);
  }

  private async reap(veths: string[]): Promise<void> {
    // (a name drawn again meanwhile for a running container is that container's)
    const live = new Set([...this.nets.values()].flatMap((n) => Object.values(n.Endpoints).map((e) => e.HostVeth)));
    const left = veths.filter((v) => !live.has(v) && linkExists(v));
    if (left.length > 0) await exec('ip', ['-force', '-batch', '-'], left.map((l) => `link del ${l}`).join('\n') + '\n');
  }

  // ---- networks API ------------------------------------------------------------------------

  async create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
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
    return this.serial(async () => {
      if (this.byName(name)) throw conflict(`network with name ${name} already exists`);
      let subnet: ipam.Cidr;
      const taken = await this.takenSubnets();
      if (cfg.Subnet) {
        subnet = ipam.parseCidr(cfg.Subnet);
        if (ipam.formatCidr(subnet) !== cfg.Subnet.trim()) throw invalid(`invalid subnet ${cfg.Subnet}: it is not a network address (did you mean ${ipam.formatCidr(subnet)}?)`);
        if (subnet.prefix > 30) throw invalid(`invalid subnet ${cfg.Subnet}: too small for a network`);
        const clash = taken.find((t) => ipam.overlaps(t, subnet));
        if (clash) throw forbidden(`invalid pool request: Pool overlaps with other one on this address space (${cfg.Subnet} overlaps ${ipam.formatCidr(clash)})`);
      } else {
        if (cfg.Gateway || cfg.IPRange) throw invalid('a gateway or ip-range needs a subnet');
        subnet = ipam.pickSubnet(ipam.defaultPool(parseInt(this.tag, 16)), taken);
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
      const rec = this.newRecord(name, subnet, gateway, range, body.Labels ?? {});
      rec.Internal = body.Internal ?? false;
      rec.Options = body.Options ?? {};
      await this.createBridge(rec);
      try {
        await this.save(rec);
        await this.applyAllRules();
      } catch (err) {
        this.nets.delete(rec.Id);
        await rm(join(this.dir, `${rec.Id}.json`), { force: true });
        await exec('ip', ['link', 'del', rec.Bridge]).catch(() => undefined);
        throw err;
      }
      this.opts.emit?.('network', 'create', rec.Id, { name: rec.Name, type: 'bridge' });
      return { Id: rec.Id, Warning: '' };
    });
  }

  list(filters: Map<string, string[]>): unknown[] {
    const all = [...this.nets.values()].map((n) => this.inspectRecord(n, false));
    all.push(this.pseudo('host'), this.pseudo('none'));
    return all.filter((n) => matches(n, filters));
  }

  inspect(ref: string): unknown {
    if (ref === 'host' || ref === 'none' || ref === this.pseudo('host').Id || ref === this.pseudo('none').Id) {
      return this.pseudo(ref === 'host' || ref === this.pseudo('host').Id ? 'host' : 'none');
    }
    return this.inspectRecord(this.get(ref), true);
  }

  async remove(ref: string): Promise<void> {
    if (ref === 'host' || ref === 'none') throw forbidden(`${ref} is a pre-defined network and cannot be removed`);
    const rec = this.get(ref);
    if (rec.Default) throw forbidden(`${rec.Name} is a pre-defined network and cannot be removed`);
    await this.serial(async () => {
      if (Object.keys(rec.Endpoints).length > 0) throw conflict(`error while removing network: network ${rec.Name} id ${rec.Id} has active endpoints`);
      const users = this.usersOf(rec);
      if (users.length > 0) throw conflict(`error while removing network: network ${rec.Name} id ${rec.Id} is in use by container ${users[0]}`);
      this.nets.delete(rec.Id);
      await rm(join(this.dir, `${rec.Id}.json`), { force: true });
      await this.applyAllRules();
      await exec('ip', ['link', 'del', rec.Bridge]).catch((err: unknown) => log.warn({ err }, 'bridge removal'));
      this.opts.emit?.('network', 'destroy', rec.Id, { name: rec.Name, type: 'bridge' });
    });
  }

  async prune(filters: Map<string, string[]>): Promise<string[]> {
    const deleted: string[] = [];
    for (const rec of [...this.nets.values()]) {
      if (rec.Default || Object.keys(rec.Endpoints).length > 0 || this.usersOf(rec).length > 0) continue;
      if (!matchLabels(filters, rec.Labels)) continue;
      await this.remove(rec.Id);
      deleted.push(rec.Name);
    }
    return deleted;
  }

  /** Containers (stopped ones too) whose configuration names the network. */
  usersOf: (rec: { Id: string; Name: string }) => string[] = () => [];

  /** Resolve a network by name, full ID or unique ID prefix (pseudo networks excluded). */
  get(ref: string): NetworkRecord {
    const byName = this.byName(ref);
    if (byName) return byName;
    const exact = this.nets.get(ref);
    if (exact) return exact;
    const prefix = [...this.nets.values()].filter((n) => ref.length > 0 && n.Id.startsWith(ref));
    if (prefix.length === 1) return prefix[0]!;
    if (prefix.length > 1) throw invalid(`network ${ref} is ambiguous (${prefix.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  /** The canonical name of a network reference (`default`/'' → bridge). */
  canonicalName(ref: string): string {
    if (ref === '' || ref === 'default' || ref === 'bridge') return 'bridge';
    if (ref === 'host' || ref === 'none' || ref.startsWith('container:')) return ref;
    return this.get(ref).Name;
  }

  /** Attach a running container to one more network (docker network connect). */
  async attach(req: EndpointRequest, netName: string): Promise<void> {
    const net = this.get(netName);
    if (net.Endpoints[req.containerId]) throw forbidden(`endpoint with name ${req.containerName} already exists in network ${net.Name}`);
    const nsPath = join(this.nsDir, req.containerId);
    if (!existsSync(nsPath)) throw conflict(`container ${req.containerId} has no network namespace to connect (network mode ${req.networkMode})`);
    const cfg = req.endpointsConfig?.[net.Name] ?? req.endpointsConfig?.[net.Id] ?? undefined;
    const ep = await this.serial(async () => {
      const ip = this.allocate(net, cfg?.IPAMConfig?.IPv4Address);
      const e: EndpointRecord = {
        ContainerId: req.containerId,
        Name: req.containerName,
        EndpointID: randomBytes(32).toString('hex'),
        IP: ipam.intToIp(ip),
        Mac: cfg?.MacAddress || ipam.macOf(ip),
        Aliases: net.Default ? [] : [...(cfg?.Aliases ?? [])],
        Ports: [],
        HostVeth: this.vethName(),
        HostsPath: join(req.containerDir, 'hosts'),
      };
      net.Endpoints[req.containerId] = e;
      await this.save(net);
      return e;
    });
    const index = await this.nextIfaceIndex(nsPath);
    try {
      this.plumb(nsPath, [[net, ep]], req, index, false);
    } catch (err) {
      await this.detach(req, net.Name);
      throw err;
    }
    await this.writeHostsFor([net], req);
  }

  /** Detach a running container from one network (docker network disconnect). */
  async detach(req: EndpointRequest, netName: string): Promise<void> {
    const net = this.get(netName);
    const ep = await this.serial(async () => {
      const e = net.Endpoints[req.containerId];
      if (!e) return undefined;
      Reflect.deleteProperty(net.Endpoints, req.containerId);
      await this.save(net);
      if (e.Ports.length > 0) await this.applyAllRules();
      return e;
    });
    if (!ep) return;
    await exec('ip', ['link', 'del', ep.HostVeth]).catch(() => undefined);
    if (!net.Default) await this.rewriteMembers([net]);
    await this.writeHostsFor([], req);
  }

  /** NetworkSettings for a container as its endpoints now are. */
  settingsOf(req: EndpointRequest): NetworkSettings {
    const mode = req.networkMode;
    if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) {
      return { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: mode.startsWith('container:') ? {} : { [mode]: emptySettings(this.pseudo(mode as 'host' | 'none').Id) } };
    }
    return this.settings(req, this.membership(req));
  }

  // ---- internals ------------------------------------------------------------------------

  /** The networks a container belongs to, primary first, with the endpoint config of each. */
  private membership(req: EndpointRequest): Array<[NetworkRecord, EndpointConfig | null | undefined]> {
    const primary = req.networkMode === '' || req.networkMode === 'default' || req.networkMode === 'bridge' ? this.defaultNet() : this.get(req.networkMode);
    const out: Array<[NetworkRecord, EndpointConfig | null | undefined]> = [];
    const cfgs = req.endpointsConfig ?? {};
    const cfgOf = (n: NetworkRecord): EndpointConfig | null | undefined => cfgs[n.Name] ?? cfgs[n.Id] ?? (n.Default ? cfgs.default : undefined);
    out.push([primary, cfgOf(primary)]);
    for (const key of Object.keys(cfgs)) {
      const n = key === 'bridge' || key === 'default' ? this.defaultNet() : this.get(key);
      if (!out.some(([o]) => o.Id === n.Id)) out.push([n, cfgs[key]]);
    }
    return out;
  }

  private defaultNet(): NetworkRecord {
    const d = [...this.nets.values()].find((n) => n.Default);
    if (!d) throw notFound('network bridge not found');
    return d;
  }

  private byName(name: string): NetworkRecord | undefined {
    return [...this.nets.values()].find((n) => n.Name === name);
  }

  private newRecord(name: string, subnet: ipam.Cidr, gateway: number | undefined, range: ipam.Cidr | undefined, labels: Record<string, string>): NetworkRecord {
    const used = new Set([...this.nets.values()].map((n) => n.Bridge));
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
    return rec;
  }

  private async save(rec: NetworkRecord): Promise<void> {
    this.nets.set(rec.Id, rec);
    await writeJsonAtomic(join(this.dir, `${rec.Id}.json`), rec);
  }

  /** Subnets in use: pier's networks and the host's routes (other daemons' bridges included). */
  private async takenSubnets(): Promise<ipam.Cidr[]> {
    const taken = [...this.nets.values()].map((n) => ipam.parseCidr(n.Subnet));
    const routes = JSON.parse(await exec('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as Array<{ dst?: string }>;
    for (const r of routes) {
      if (!r.dst || r.dst === 'default') continue;
      try {
        const c = ipam.parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
        if (c.prefix >= 8 && !(c.base >>> 24 === 127)) taken.push(c);
      } catch {
        // not an IPv4 destination
      }
    }
    return taken;
  }

  private async links(): Promise<Set<string>> {
    const out = JSON.parse(await exec('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
    return new Set(out.map((l) => l.ifname));
  }

  private async createBridge(rec: NetworkRecord): Promise<void> {
    const prefix = ipam.parseCidr(rec.Subnet).prefix;
    await exec('ip', ['-batch', '-'], `link add ${rec.Bridge} type bridge\naddr add ${rec.Gateway}/${prefix} dev ${rec.Bridge}\nlink set ${rec.Bridge} up\n`);
    // Published ports on 127.0.0.1 are DNATed to the bridge: the kernel must route 127/8 sources there.
    await writeFile(`/proc/sys/net/ipv4/conf/${rec.Bridge}/route_localnet`, '1');
  }

  private allocate(net: NetworkRecord, wanted: string | undefined): number {
    const subnet = ipam.parseCidr(net.Subnet);
    const used = new Set<number>([ipam.ipToInt(net.Gateway), ...Object.values(net.Endpoints).map((e) => ipam.ipToInt(e.IP))]);
    if (wanted) {
      const ip = ipam.ipToInt(wanted);
      if (!ipam.contains(subnet, ip)) throw invalid(`no configured subnet contains IP address ${wanted}`);
      if (used.has(ip)) throw conflict(`Address already in use: ${wanted} on network ${net.Name}`);
      return ip;
    }
    return ipam.pickAddress(subnet, net.IPRange ? ipam.parseCidr(net.IPRange) : subnet, used);
  }

  /**
   * A fresh name for a host-side veth (`pier<tag>v<5 hex>`, 15 characters, the kernel's
   * limit). Fresh at every connect: a stopped container's pair is deleted by the kernel with
   * its namespace, asynchronously, and may outlive the stop by a moment.
   */
  private vethName(): string {
    return `pier${this.tag}v${randomBytes(3).toString('hex').slice(0, 5)}`;
  }

  /**
   * Make the veth pairs, addresses and routes of `eps` in the namespace at `nsPath`, from the
   * daemon itself (netlink and ioctls; no process is spawned).
   */
  private plumb(nsPath: string, eps: Array<[NetworkRecord, EndpointRecord]>, req: EndpointRequest, firstIndex = 0, withDefaultRoute = true): void {
    const pairs: VethPair[] = [];
    const ifaces: InsideInterface[] = [];
    let gateway: string | undefined;
    eps.forEach(([net, ep], i) => {
      const iface = `eth${firstIndex + i}`;
      pairs.push({ host: ep.HostVeth, bridge: net.Bridge, peer: iface, mac: ep.Mac });
      ifaces.push({ name: iface, ip: ep.IP, prefix: ipam.parseCidr(net.Subnet).prefix });
      if (withDefaultRoute && gateway === undefined && !net.Internal) gateway = net.Gateway;
    });
    createVeths(nsPath, pairs);
    configureInside(nsPath, { lo: firstIndex === 0, ifaces, gateway });
    log.debug({ id: req.containerId, ns: nsPath }, 'network plumbed');
  }

  private async nextIfaceIndex(nsPath: string): Promise<number> {
    const out = JSON.parse(await execIn(nsPath, 'ip', ['-j', 'link', 'show'], '')) as Array<{ ifname: string }>;
    let i = 0;
    while (out.some((l) => l.ifname === `eth${i}`)) i++;
    return i;
  }

  private allPorts(): RulePort[] {
    return [...this.nets.values()].flatMap((n) => Object.values(n.Endpoints).flatMap((e) => e.Ports));
  }

  /** Rewrite the daemon's chains from its records; the jumps to them are put back if they went. */
  private async applyAllRules(): Promise<void> {
    const nets = [...this.nets.values()].map((n) => ({ bridge: n.Bridge, subnet: n.Subnet, internal: n.Internal }));
    await applyRules(renderRules(this.tag, nets, this.allPorts()));
    const { jumps: missing } = missingSetup(this.tag, await exec('iptables-save', []));
    if (missing.length > 0) await installJumps(this.tag);
  }

  /** The ports a container publishes (host port 0: to be chosen), validated. */
  private portsOf(req: EndpointRequest): RulePort[] {
    const out: RulePort[] = [];
    const bindings = req.portBindings ?? {};
    const keys = new Set(Object.keys(bindings));
    if (req.publishAllPorts) for (const k of req.exposedPorts ?? []) keys.add(k);
    for (const key of keys) {
      const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
      if (!m) throw invalid(`invalid port specification: "${key}"`);
      if (m[2] === 'sctp') throw invalid('pier does not publish sctp ports');
      const containerPort = Number(m[1]);
      if (containerPort < 1 || containerPort > 65535) throw invalid(`invalid port specification: "${key}"`);
      const list = bindings[key] && bindings[key].length > 0 ? bindings[key] : [{ HostIp: '', HostPort: '' }];
      for (const b of list) {
        const hostIp = b.HostIp ?? '';
        if (hostIp && hostIp !== '0.0.0.0') {
          if (hostIp.includes(':')) continue; // IPv6 bindings: pier publishes on IPv4 only
          ipam.ipToInt(hostIp);
        }
        const hp = b.HostPort ?? '';
        const range = /^(\d+)(?:-(\d+))?$/.exec(hp);
        if (hp !== '' && !range) throw invalid(`invalid hostPort: ${hp}`);
        const hostPort = hp === '' ? 0 : Number(range![1]);
        if (hostPort > 65535) throw invalid(`invalid hostPort: ${hp}`);
        out.push({ proto: (m[2] ?? 'tcp') as 'tcp' | 'udp', hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort, containerIp: '', containerPort });
      }
    }
    return out;
  }

  private extraHosts(req: EndpointRequest): string[] {
    const gw = this.defaultNet().Gateway;
    return req.extraHosts.map((e) => e.replace(/:host-gateway$/, `:${gw}`).replace(/=host-gateway$/, `=${gw}`).replace(/^([^:=]+)=/, '$1:'));
  }

  private settings(req: EndpointRequest, nets: Array<[NetworkRecord, EndpointConfig | null | undefined]>): NetworkSettings {
    const networks: Record<string, EndpointSettings> = {};
    let ports: NetworkSettings['Ports'] = {};
    for (const k of req.exposedPorts ?? []) ports[k.includes('/') ? k : `${k}/tcp`] = null;
    for (const [net, cfg] of nets) {
      const ep = net.Endpoints[req.containerId];
      const prefix = ipam.parseCidr(net.Subnet).prefix;
      networks[net.Name] = {
        NetworkID: net.Id,
        EndpointID: ep?.EndpointID ?? '',
        Gateway: ep ? net.Gateway : '',
        IPAddress: ep?.IP ?? '',
        IPPrefixLen: ep ? prefix : 0,
        MacAddress: ep?.Mac ?? '',
        Aliases: net.Default ? null : (cfg?.Aliases ?? []),
        DNSNames: net.Default || !ep ? null : [req.containerName, ...(cfg?.Aliases ?? []), req.containerId.slice(0, 12)],
      };
      if (ep && ep.Ports.length > 0) {
        ports = { ...ports };
        for (const p of ep.Ports) {
          const key = `${p.containerPort}/${p.proto}`;
          (ports[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
        }
      }
    }
    const sandbox = join(this.nsDir, req.containerId);
    const primary = nets[0]![0];
    return {
      Bridge: '',
      SandboxID: primary.Endpoints[req.containerId] ? createHash('sha256').update(sandbox).digest('hex') : '',
      SandboxKey: primary.Endpoints[req.containerId] ? sandbox : '',
      Ports: ports,
      Networks: networks,
    };
  }

  /** Rewrite the hosts files of every member of `nets`. */
  private async rewriteMembers(nets: NetworkRecord[]): Promise<void> {
    const ids = new Set(nets.flatMap((n) => Object.keys(n.Endpoints)));
    for (const id of ids) {
      const ep = nets.flatMap((n) => (n.Endpoints[id] ? [n.Endpoints[id]] : []))[0]!;
      await this.writeHosts(id, ep.HostsPath).catch((err: unknown) => log.warn({ err, id }, 'hosts file update'));
    }
  }

  /** Write the container's own hosts file and those of its peers on the user-defined `nets`. */
  private async writeHostsFor(nets: NetworkRecord[], req: EndpointRequest): Promise<void> {
    await this.writeHosts(req.containerId, join(req.containerDir, 'hosts'), req);
    await this.rewriteMembers(nets.filter((n) => !n.Default && Object.keys(n.Endpoints).some((id) => id !== req.containerId)).map((n) => ({ ...n, Endpoints: Object.fromEntries(Object.entries(n.Endpoints).filter(([id]) => id !== req.containerId)) })));
  }

  /**
   * A container's /etc/hosts: the standard lines, `--add-host` entries, its own address and
   * names, then every peer on its user-defined networks (name, aliases, short ID). Written in
   * place (same inode), since the file is bind-mounted into the running container.
   */
  private async writeHosts(id: string, path: string, req?: EndpointRequest): Promise<void> {
    let current = '';
    try {
      current = await readFile(path, 'utf8');
    } catch {
      return;
    }
    // The head pier wrote at create (standard lines and --add-host) is kept as it is.
    const marker = '# pier: container addresses';
    const head = current.split(`\n${marker}\n`)[0]!.split('\n').filter((l) => !/^127\.0\.1\.1\t/.test(l) && l !== marker).join('\n').replace(/\n+$/, '');
    const lines: string[] = [];
    const seen = new Set<string>();
    const add = (ip: string, names: string[]): void => {
      const fresh = names.filter((n) => n && !seen.has(n));
      for (const n of fresh) seen.add(n);
      if (fresh.length > 0) lines.push(`${ip}\t${fresh.join(' ')}`);
    };
    const mine = [...this.nets.values()].filter((n) => n.Endpoints[id]);
    const own = mine[0]?.Endpoints[id];
    const hostname = req?.hostname ?? '';
    if (own) {
      const fqdn = req?.domainname ? [`${hostname}.${req.domainname}`] : [];
      add(own.IP, [...fqdn, hostname || id.slice(0, 12), ...mine.flatMap((n) => n.Endpoints[id]!.Aliases)]);
    } else if (hostname) {
      add('127.0.1.1', [hostname]);
    }
    for (const net of mine) {
      if (net.Default) continue;
      for (const peer of Object.values(net.Endpoints)) {
        if (peer.ContainerId === id) continue;
        add(peer.IP, [peer.Name, ...peer.Aliases, peer.ContainerId.slice(0, 12)]);
      }
    }
    // Same inode: the running container sees the change.
    await writeFile(path, `${head}\n${marker}\n${lines.join('\n')}\n`);
  }

  private inspectRecord(n: NetworkRecord, withContainers: boolean): Record<string, unknown> {
    const containers: Record<string, unknown> = {};
    if (withContainers) {
      for (const ep of Object.values(n.Endpoints)) {
        containers[ep.ContainerId] = {
          Name: ep.Name,
          EndpointID: ep.EndpointID,
          MacAddress: ep.Mac,
          IPv4Address: `${ep.IP}/${ipam.parseCidr(n.Subnet).prefix}`,
          IPv6Address: '',
        };
      }
    }
    const ipamConfig: Record<string, string> = { Subnet: n.Subnet, Gateway: n.Gateway };
    if (n.IPRange) ipamConfig.IPRange = n.IPRange;
    return {
      Name: n.Name,
      Id: n.Id,
      Created: n.Created,
      Scope: 'local',
      Driver: 'bridge',
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [ipamConfig] },
      Internal: n.Internal,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: n.Options,
      Labels: n.Labels,
    };
  }

  private pseudo(name: 'host' | 'none'): Record<string, unknown> & { Id: string } {
    return {
      Name: name,
      Id: createHash('sha256').update(`${this.tag}/${name}`).digest('hex'),
      Created: '0001-01-01T00:00:00Z',
      Scope: 'local',
      Driver: name === 'host' ? 'host' : 'null',
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: null },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: {},
      Labels: {},
    };
  }
}

function emptySettings(networkId: string): EndpointSettings {
  return { NetworkID: networkId, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '', Aliases: null, DNSNames: null };
}

function matches(n: Record<string, unknown>, filters: Map<string, string[]>): boolean {
  const name = n.Name as string;
  const id = n.Id as string;
  const builtin = ['bridge', 'host', 'none'].includes(name) && (n.Options as Record<string, string>)['com.docker.network.bridge.default_bridge'] !== undefined || n.Driver !== 'bridge';
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    switch (key) {
      case 'name':
        if (!values.some((v) => name.includes(v))) return false;
        break;
      case 'id':
        if (!values.some((v) => id.startsWith(v))) return false;
        break;
      case 'driver':
        if (!values.includes(n.Driver as string)) return false;
        break;
      case 'scope':
        if (!values.includes('local')) return false;
        break;
      case 'type':
        if (!values.some((v) => (v === 'builtin') === builtin)) return false;
        break;
      case 'label':
        if (!matchLabels(filters, n.Labels as Record<string, string>)) return false;
        break;
      case 'dangling':
        break;
      default:
        throw invalid(`invalid filter '${key}'`);
    }
  }
  return true;
}

/** Fail (as Docker does) when a host port is taken, by pier or by any process on the host. */
async function checkPortsFree(ports: RulePort[], ours: RulePort[]): Promise<void> {
  const seen: RulePort[] = [...ours];
  for (const p of ports) {
    const addr = p.hostIp || '0.0.0.0';
    const clash = seen.find((o) => o.proto === p.proto && o.hostPort === p.hostPort && (!o.hostIp || !p.hostIp || o.hostIp === p.hostIp));
    if (clash || !(await portFree(p.proto, p.hostIp, p.hostPort))) {
      throw conflict(`driver failed programming external connectivity: Bind for ${addr}:${p.hostPort} failed: port is already allocated`);
    }
    seen.push(p);
  }
}

function portFree(proto: 'tcp' | 'udp', hostIp: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    if (proto === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => resolvePromise(false));
      s.bind(port, hostIp || '0.0.0.0', () => s.close(() => resolvePromise(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ port, host: hostIp || '0.0.0.0', exclusive: true }, () => srv.close(() => resolvePromise(true)));
  });
}

/** A host port nobody uses now (the kernel's choice from its ephemeral range). */
async function randomPort(proto: 'tcp' | 'udp', ours: RulePort[]): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolvePromise, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => {
        const a = srv.address();
        srv.close(() => resolvePromise(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (!ours.some((o) => o.proto === proto && o.hostPort === port) && (proto === 'tcp' || (await portFree('udp', '', port)))) return port;
  }
  throw conflict('could not find a free host port to publish on');
}

/**
 * Remove everything the daemon tagged `tag` made on the host: its chains and their jumps, its
 * bridges and veths (`pier<tag>*`), and its namespaces under `<execRoot>/netns`.
 */
export async function removeDaemonNetworking(tag: string, execRoot: string): Promise<void> {
  await removeAllRules(tag);
  const out = JSON.parse(await exec('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  const mine = out.map((l) => l.ifname).filter((n) => n.startsWith(`pier${tag}`));
  if (mine.length > 0) await exec('ip', ['-force', '-batch', '-'], mine.map((n) => `link del ${n}`).join('\n') + '\n').catch(() => undefined);
  const nsDir = join(execRoot, 'netns');
  for (const name of await readdir(nsDir).catch(() => [] as string[])) removeNetns(join(nsDir, name));
}
