import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { EmitFn } from '../events/events.js';
import { conflict, forbidden, invalid, isKind, notFound } from '../errors.js';
import { log } from '../log.js';
import { emptySettings, endpointError, gatewayNetwork, membership, newEndpoint, settings, validateMembership, withTopLevel, type Membership } from './endpoints.js';
import { EmbeddedDns } from './dns.js';
import { Firewall, hostHasIPv6 } from './firewall.js';
import { HostsFiles } from './hosts.js';
import { pseudoId } from './inspect.js';
import * as ipam from './ipam.js';
import { formatCidr6, formatIp6, pickSubnet6, tryParseCidr6, ulaBase, type Cidr6 } from './ipam6.js';
import { LocalNetworks } from './local.js';
import { configureInside, createNetns, removeNetns } from './netns.js';
import type { Endpoint, EndpointConfig, EndpointRequest, NetworkCreateBody, NetworkMembership, NetworkRegistry, NetworkService, NetworkSettings } from './networks.js';
import { createBridge, deleteLinks, links, nextIfaceIndex, plumb, VethReaper } from './plumbing.js';
import { assignHostPorts, portsOf, proxied, withIPv6Twins } from './ports.js';
import { PortProxy } from './proxy.js';
import { Registry, type TakenSubnets } from './registry.js';
import { exec, removeAllRules } from './rules.js';
import { NetworkStore, type EndpointRecord, type NetworkRecord } from './store.js';

/**
 * Bridge networks: the default `bridge`, user-defined bridges, `host` and `none`. Each bridge
 * network is a Linux bridge named `pier<tag>b<n>` (tag: five hex digits of the daemon's root,
 * so that two daemons never share one); a container gets its own network namespace, bind-mounted
 * at `<execRoot>/netns/<id>`, with one veth pair per network. Addresses are leased at start and
 * returned at stop; the leases live in the network's record (store.ts). Containers on a
 * user-defined network find each other through their /etc/hosts (hosts.ts).
 *
 * This class wires the parts (store, endpoints, plumbing, ports, hosts files, firewall,
 * registry) and fulfils the three roles of networks.ts; it also owns the daemon's networking
 * on the host from start (init) to stop (shutdown).
 */

export type { NetworkCreateBody };

export interface BridgeOptions {
  root: string;
  execRoot: string;
  /** The default bridge's subnet (daemon.json `bip`-like); default: the first free of the pool. */
  defaultSubnet?: string;
  /** IPv6 on the default bridge (daemon.json `ipv6`), on `subnet` (`fixed-cidr-v6`) or a /64 of the ULA pool. */
  defaultIPv6?: { subnet?: string };
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

export class BridgeNetworks implements NetworkService, NetworkMembership, NetworkRegistry {
  private readonly nsDir: string;
  readonly tag: string;
  private readonly local: LocalNetworks;
  private readonly store: NetworkStore;
  private readonly firewall: Firewall;
  private readonly hosts: HostsFiles;
  private readonly reaper: VethReaper;
  private readonly registry: Registry;
  private readonly proxy = new PortProxy();
  private readonly dns: EmbeddedDns;

  constructor(private readonly opts: BridgeOptions) {
    this.nsDir = join(opts.execRoot, 'netns');
    this.tag = networkTag(opts.root);
    this.local = new LocalNetworks(opts.hostResolvConf);
    this.store = new NetworkStore(opts.root, this.tag);
    this.firewall = new Firewall(this.store, this.tag);
    this.hosts = new HostsFiles(this.store);
    this.reaper = new VethReaper(() => this.store.liveVeths());
    this.dns = new EmbeddedDns(this.store, opts.hostResolvConf);
    this.registry = new Registry({
      store: this.store,
      firewall: this.firewall,
      tag: this.tag,
      takenSubnets: () => this.takenSubnets(),
      ula: ulaBase(opts.root),
      usersOf: (rec) => this.usersOf(rec),
      dns: this.dns,
      emit: opts.emit,
    });
  }

  /** Containers (stopped ones too) whose configuration names the network (set by the daemon). */
  usersOf: (rec: { Id: string; Name: string }) => string[] = () => [];

  // ---- start-up and shutdown ---------------------------------------------------------------

  /**
   * Read the records, make the host ready (ip_forward, chains), create the default bridge,
   * recreate missing bridges, drop endpoints of containers that no longer exist and remove
   * this daemon's links and namespaces that no record explains. Rules are rewritten whole.
   */
  async init(): Promise<void> {
    const { store } = this;
    await store.load();
    await mkdir(this.nsDir, { recursive: true });
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    await this.firewall.install();
    if (!store.all().some((n) => n.Default)) {
      const taken = await this.takenSubnets();
      const subnet = this.opts.defaultSubnet
        ? ipam.parseCidr(this.opts.defaultSubnet)
        : ipam.pickSubnet(ipam.defaultPool(parseInt(this.tag, 16)), taken.v4.map((t) => t.cidr));
      const rec = store.newRecord('bridge', subnet, undefined, undefined, {});
      rec.Default = true;
      // Docker's options of its default bridge, with pier's bridge name.
      rec.Options = {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
        'com.docker.network.bridge.name': rec.Bridge,
        'com.docker.network.driver.mtu': '1500',
      };
      await store.save(rec);
    }
    await this.defaultIPv6();
    const known = this.opts.knownContainers();
    const present = await links();
    for (const rec of store.all()) {
      let changed = false;
      for (const id of Object.keys(rec.Endpoints)) {
        if (!known.has(id)) {
          Reflect.deleteProperty(rec.Endpoints, id);
          changed = true;
        }
      }
      if (changed) await store.save(rec);
      if (!present.has(rec.Bridge)) await createBridge(rec);
    }
    const wanted = new Set<string>([...store.all().map((n) => n.Bridge), ...store.liveVeths()]);
    const stale = [...present].filter((l) => l.startsWith(`pier${this.tag}`) && !wanted.has(l));
    await deleteLinks(stale).catch((err: unknown) => log.warn({ err }, 'removing stale links'));
    const liveIds = new Set(store.all().flatMap((n) => Object.keys(n.Endpoints)));
    for (const name of await readdir(this.nsDir)) if (!liveIds.has(name)) removeNetns(join(this.nsDir, name));
    await this.firewall.apply();
    this.firewall.watch();
    for (const rec of store.all()) await this.serveDns(rec);
    // The bindings pierd's proxy serves were closed with the last pierd: opened again.
    for (const rec of store.all()) {
      for (const ep of Object.values(rec.Endpoints)) {
        await this.proxy.start(ep.ContainerId, proxied(ep.Ports)).catch((err: unknown) => log.warn({ err, id: ep.ContainerId }, 'published ports served by pierd'));
      }
    }
  }

  /**
   * On daemon shutdown: when no container is attached anywhere, remove the bridges and the
   * chains (the records stay; the next start recreates them), so a stopped pierd leaves the
   * host's networking as it found it. With attached containers, everything stays for them.
   */
  async shutdown(): Promise<void> {
    this.firewall.stop();
    this.proxy.stopAll();
    this.dns.closeAll();
    await this.reaper.flush();
    await this.store.serial(async () => {
      if (this.store.all().some((n) => Object.keys(n.Endpoints).length > 0)) return;
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
    let nets: Membership;
    try {
      nets = membership(this.store, req);
    } catch (err) {
      // As Docker: an unknown network is an error of start, not of create.
      if (!isKind(err, 'notFound')) throw err;
      const ep = await this.local.prepare({ ...req, networkMode: 'none' });
      ep.settings = { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} };
      return ep;
    }
    validateMembership(nets);
    portsOf(req); // validates
    const ep = await this.local.prepare({ ...req, networkMode: 'none', extraHosts: this.hosts.extraHosts(req) });
    ep.attachment.netns = { kind: 'path', path: this.nsPath(req.containerId) };
    ep.settings = settings(req, nets, this.nsPath(req.containerId));
    ep.warnings = [];
    return ep;
  }

  async connect(req: EndpointRequest): Promise<Endpoint> {
    const mode = req.networkMode;
    if (req.detached) {
      // Loopback only, in a namespace of pier's own: `network connect` can add to it later.
      await this.disconnect(req);
      const nsPath = this.nsPath(req.containerId);
      createNetns(nsPath);
      try {
        configureInside(nsPath, { lo: true, ifaces: [] });
      } catch (err) {
        removeNetns(nsPath);
        throw err;
      }
      const ep = await this.local.connect(req);
      ep.attachment.netns = { kind: 'path', path: nsPath };
      return ep;
    }
    if (mode === 'none' || mode === 'host') return this.local.connect(req);
    if (mode.startsWith('container:')) {
      const target = this.joinedContainer(mode);
      const path = this.nsPath(target.id);
      if (!target.running || !existsSync(path)) throw conflict(`cannot join network namespace of container ${target.id}: it is not running on a bridge network`);
      const ep = await this.local.connect({ ...req, networkMode: 'none' });
      ep.attachment.netns = { kind: 'path', path };
      ep.settings = { Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: {} };
      ep.warnings = [];
      return ep;
    }
    await this.disconnect(req);
    const nets = membership(this.store, req);
    const nsPath = this.nsPath(req.containerId);
    createNetns(nsPath);
    try {
      const twinned = withIPv6Twins(portsOf(req), nets[0]![0].EnableIPv6 === true && nets[0]![0].Subnet6 !== undefined);
      const ports = twinned.ports;
      const eps = await this.store.serial(async () => {
        const out: Array<[NetworkRecord, EndpointRecord]> = [];
        await assignHostPorts(ports, this.store.allPorts(), twinned.twins);
        for (const [i, [net, cfg]] of nets.entries()) {
          const ep = newEndpoint(this.tag, net, cfg, req, i === 0 ? { mac: req.macAddress, ports } : {});
          net.Endpoints[req.containerId] = ep;
          await this.store.save(net);
          out.push([net, ep]);
        }
        return out;
      });
      plumb(nsPath, eps, req.containerId, { gateway: gatewayNetwork(nets, 4), gateway6: gatewayNetwork(nets, 6) });
      if (ports.length > 0) await this.store.serial(() => this.firewall.apply());
      await this.proxy.start(req.containerId, proxied(eps[0]![1].Ports));
      await this.hosts.writeFor(eps.map(([n]) => n), req);
      // On a user network, names are asked of pier's DNS (Docker's 127.0.0.11).
      await this.local.writeResolvConf(req, this.dns.nameserverFor(nets[0]![0]));
    } catch (err) {
      await this.disconnect(req).catch((e: unknown) => log.warn({ err: e, id: req.containerId }, 'undoing a failed network connect'));
      throw err;
    }
    const ep = await this.local.connect({ ...req, networkMode: 'none', extraHosts: this.hosts.extraHosts(req) });
    ep.attachment.netns = { kind: 'path', path: nsPath };
    ep.settings = settings(req, nets, nsPath);
    ep.warnings = [];
    return ep;
  }

  async disconnect(req: EndpointRequest): Promise<void> {
    const touched = await this.store.serial(async () => {
      const out: Array<[NetworkRecord, EndpointRecord]> = [];
      for (const net of this.store.all()) {
        const ep = net.Endpoints[req.containerId];
        if (!ep) continue;
        Reflect.deleteProperty(net.Endpoints, req.containerId);
        await this.store.save(net);
        out.push([net, ep]);
      }
      if (out.some(([, ep]) => ep.Ports.length > 0)) await this.firewall.apply();
      return out;
    });
    this.proxy.stop(req.containerId);
    removeNetns(this.nsPath(req.containerId));
    if (touched.length > 0) this.reaper.later(touched.map(([, ep]) => ep.HostVeth));
    const user = touched.filter(([n]) => !n.Default).map(([n]) => n);
    if (user.length > 0) await this.hosts.rewriteMembers(user);
  }

  // ---- NetworkMembership -----------------------------------------------------------------

  get(ref: string): NetworkRecord {
    return this.store.get(ref);
  }

  canonicalName(ref: string): string {
    if (ref === '' || ref === 'default' || ref === 'bridge') return 'bridge';
    if (ref === 'host' || ref === 'none' || ref.startsWith('container:')) return ref;
    return this.store.get(ref).Name;
  }

  async attach(req: EndpointRequest, netName: string): Promise<void> {
    const net = this.store.get(netName);
    if (net.Endpoints[req.containerId]) throw forbidden(`endpoint with name ${req.containerName} already exists in network ${net.Name}`);
    const nsPath = this.nsPath(req.containerId);
    if (!existsSync(nsPath)) throw conflict(`container ${req.containerId} has no network namespace to connect (network mode ${req.networkMode})`);
    const cfg = req.endpointsConfig?.[net.Name] ?? req.endpointsConfig?.[net.Id] ?? undefined;
    this.validate(net.Name, cfg ?? {});
    // The container keeps the default routes it has; one it lacks (its first network, or its
    // last one left and this is a new one) comes from this network.
    const mine = this.store.networksOf(req.containerId).filter((n) => !n.Internal);
    const has4 = mine.length > 0;
    const has6 = mine.some((n) => n.EnableIPv6 && n.Endpoints[req.containerId]?.IP6);
    const ep = await this.store.serial(async () => {
      const e = newEndpoint(this.tag, net, cfg, req);
      net.Endpoints[req.containerId] = e;
      await this.store.save(net);
      return e;
    });
    const index = await nextIfaceIndex(nsPath);
    try {
      plumb(nsPath, [[net, ep]], req.containerId, { firstIndex: index, gateway: has4 ? undefined : gatewayNetwork([[net, cfg]], 4), gateway6: has6 ? undefined : gatewayNetwork([[net, cfg]], 6) });
    } catch (err) {
      await this.detach(req, net.Name);
      throw err;
    }
    await this.hosts.writeFor([net], req);
  }

  async detach(req: EndpointRequest, netName: string): Promise<void> {
    const net = this.store.get(netName);
    const ep = await this.store.serial(async () => {
      const e = net.Endpoints[req.containerId];
      if (!e) return undefined;
      Reflect.deleteProperty(net.Endpoints, req.containerId);
      await this.store.save(net);
      if (e.Ports.length > 0) await this.firewall.apply();
      return e;
    });
    if (!ep) return;
    if (ep.Ports.length > 0) this.proxy.stop(req.containerId);
    // Peers stop resolving the container's names before its interface goes, so that a name
    // shared by several containers (a service's replicas) never resolves to a dead address.
    if (!net.Default) await this.hosts.rewriteMembers([net]);
    await exec('ip', ['link', 'del', ep.HostVeth]).catch(() => undefined);
    await this.hosts.writeFor([], req);
  }

  validate(network: string, config: EndpointConfig): void {
    let net: NetworkRecord | undefined;
    try {
      net = this.canonicalName(network) === 'bridge' ? this.store.defaultNet() : this.store.get(network);
    } catch (err) {
      if (!isKind(err, 'notFound')) throw err;
    }
    const e = endpointError(net?.Default ? 'bridge' : (net?.Name ?? network), net, config);
    if (e) throw invalid(e);
  }

  settingsOf(req: EndpointRequest): NetworkSettings {
    const mode = req.networkMode;
    if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) {
      const networks = mode.startsWith('container:') ? {} : { [mode]: emptySettings(pseudoId(this.tag, mode as 'host' | 'none')) };
      return withTopLevel({ Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, Networks: networks });
    }
    return settings(req, membership(this.store, req), this.nsPath(req.containerId));
  }

  // ---- NetworkRegistry -------------------------------------------------------------------

  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    return this.registry.create(body);
  }

  list(filters: Map<string, string[]>): unknown[] {
    return this.registry.list(filters);
  }

  inspect(ref: string): unknown {
    return this.registry.inspect(ref);
  }

  remove(ref: string): Promise<void> {
    return this.registry.remove(ref);
  }

  prune(filters: Map<string, string[]>): Promise<string[]> {
    return this.registry.prune(filters);
  }

  // ---- internals ------------------------------------------------------------------------

  private nsPath(containerId: string): string {
    return join(this.nsDir, containerId);
  }

  /** The container a `container:<name|id>` mode joins; notFound when there is none. */
  private joinedContainer(mode: string): { id: string; running: boolean } {
    const ref = mode.slice('container:'.length);
    const target = this.opts.findContainer(ref);
    if (!target) throw notFound(`No such container: ${ref}`);
    return target;
  }

  /**
   * Give the default bridge the IPv6 daemon.json asks for, or take it away (its record, and
   * its bridge made again). While containers are attached the change waits for the next start.
   */
  private async defaultIPv6(): Promise<void> {
    const rec = this.store.defaultNet();
    const want = this.opts.defaultIPv6;
    let subnet: Cidr6 | undefined;
    if (want) {
      const given = want.subnet ? tryParseCidr6(want.subnet) : undefined;
      if (want.subnet && (!given || !given.exact)) throw invalid(`invalid fixed-cidr-v6 ${want.subnet}: not an IPv6 network address`);
      subnet = given?.cidr ?? (rec.Subnet6 && !want.subnet ? tryParseCidr6(rec.Subnet6)!.cidr : pickSubnet6(ulaBase(this.opts.root), (await this.takenSubnets()).v6.map((t) => t.cidr)));
    }
    const now = rec.EnableIPv6 && rec.Subnet6 ? rec.Subnet6 : undefined;
    if ((subnet ? formatCidr6(subnet) : undefined) === now) return;
    if (Object.keys(rec.Endpoints).length > 0) {
      log.warn({ ipv6: subnet ? formatCidr6(subnet) : false }, 'daemon.json ipv6 of the default bridge: applied at a start with no container attached');
      return;
    }
    if (subnet) {
      rec.EnableIPv6 = true;
      rec.Subnet6 = formatCidr6(subnet);
      rec.Gateway6 = formatIp6(subnet.base + 1n);
    } else {
      Reflect.deleteProperty(rec, 'EnableIPv6');
      Reflect.deleteProperty(rec, 'Subnet6');
      Reflect.deleteProperty(rec, 'Gateway6');
    }
    await this.store.save(rec);
    await exec('ip', ['link', 'del', rec.Bridge]).catch(() => undefined);
  }

  /** Serve the embedded DNS on a user network; a gateway port 53 already taken is logged (names then resolve through the hosts files only). */
  private async serveDns(rec: NetworkRecord): Promise<void> {
    await this.dns.serve(rec).catch((err: unknown) => log.warn({ err, network: rec.Name }, 'embedded DNS: cannot answer on the gateway (names resolve through the hosts files only)'));
  }

  /** Subnets in use: pier's networks and the host's routes (other daemons' bridges included), per family. */
  private async takenSubnets(): Promise<TakenSubnets> {
    const taken: TakenSubnets = { v4: [], v6: [] };
    for (const n of this.store.all()) {
      taken.v4.push({ cidr: ipam.parseCidr(n.Subnet), route: false });
      if (n.Subnet6) taken.v6.push({ cidr: tryParseCidr6(n.Subnet6)!.cidr, route: false });
    }
    const routes = JSON.parse(await exec('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as Array<{ dst?: string }>;
    for (const r of routes) {
      if (!r.dst || r.dst === 'default') continue;
      try {
        const c = ipam.parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
        if (c.prefix >= 8 && !(c.base >>> 24 === 127)) taken.v4.push({ cidr: c, route: true });
      } catch {
        // not an IPv4 destination
      }
    }
    if (!hostHasIPv6()) return taken;
    const routes6 = JSON.parse(await exec('ip', ['-j', '-6', 'route', 'show', 'table', 'all'])) as Array<{ dst?: string }>;
    for (const r of routes6) {
      if (!r.dst || r.dst === 'default') continue;
      const c = tryParseCidr6(r.dst.includes('/') ? r.dst : `${r.dst}/128`)?.cidr;
      // Link-local, multicast and loopback routes are on every host; they hold no subnet.
      if (!c || c.prefix < 8 || c.base >> 118n === 0x3fan || c.base >> 120n === 0xffn || c.base === 1n) continue;
      taken.v6.push({ cidr: c, route: true });
    }
    return taken;
  }
}

/**
 * Remove everything the daemon tagged `tag` made on the host: its chains and their jumps (both families), its
 * bridges and veths (`pier<tag>*`), and its namespaces under `<execRoot>/netns`.
 */
export async function removeDaemonNetworking(tag: string, execRoot: string): Promise<void> {
  await removeAllRules(tag, 4);
  if (hostHasIPv6()) await removeAllRules(tag, 6);
  const mine = [...(await links())].filter((n) => n.startsWith(`pier${tag}`));
  await deleteLinks(mine).catch(() => undefined);
  const nsDir = join(execRoot, 'netns');
  for (const name of await readdir(nsDir).catch(() => [] as string[])) removeNetns(join(nsDir, name));
}
