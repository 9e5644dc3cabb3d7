import type { NetworkAttachment } from '../runtime/runtime.js';
import type { EndpointSettings as WireEndpointSettings, NetworkSettings as WireNetworkSettings } from '../wire/engine.js';

/**
 * Networks give a container its network namespace and the files /etc/hosts,
 * /etc/resolv.conf and /etc/hostname: `none` and `host` (networks/local.ts), bridges
 * (networks/bridge.ts), `container:<x>` (the namespace of another container). Three roles:
 * NetworkService (a container's networking through its life), NetworkMembership (moving a
 * container between networks) are what the containers part calls; NetworkRegistry (the
 * networks themselves) is what the `/networks` routes call.
 */

export interface EndpointRequest {
  containerId: string;
  containerName: string;
  hostname: string;
  domainname: string;
  /** HostConfig.NetworkMode as the client sent it (`''`/`default` mean the default network); `none` for a detached container. */
  networkMode: string;
  /**
   * The container left every network (`docker network disconnect` of its last one): it runs
   * with loopback only, in a namespace a later `network connect` can give an interface to.
   */
  detached?: boolean;
  extraHosts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** Where the container's files live (hosts, resolv.conf, hostname are written here). */
  containerDir: string;
  /** NetworkingConfig.EndpointsConfig: per network, `--ip`, `--network-alias`, `--mac-address`. */
  endpointsConfig?: Record<string, EndpointConfig | null | undefined>;
  /** HostConfig.PortBindings (`-p`): "8080/tcp" → host bindings. */
  portBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;
  /** Config.ExposedPorts keys ("80/tcp"), image's included. */
  exposedPorts?: string[];
  /** HostConfig.PublishAllPorts (`-P`). */
  publishAllPorts?: boolean;
  /** Config.MacAddress (older clients put `--mac-address` there). */
  macAddress?: string;
  /**
   * Legacy links (`--link` on the default bridge), `container:alias`: on the default network,
   * names only this container resolves, like an endpoint's `Links`, but not shown as its config.
   */
  legacyLinks?: string[];
}

/**
 * One entry of NetworkingConfig.EndpointsConfig: Docker's EndpointSettings as a client sends
 * it, its configuration fields only, each optional. IPAMConfig is `--ip`/`--ip6` (static
 * addresses: user networks with user-configured subnets only); Links is `--link name[:alias]`
 * on this network (names only this container resolves); Aliases is `--network-alias` (more
 * names peers resolve the container by, user networks only); DriverOpts are kept and shown as
 * given; the endpoint with the highest GwPriority gives the container its default gateway
 * (ties: network names in order).
 */
export type EndpointConfig = Partial<Pick<EndpointSettings, 'IPAMConfig' | 'Links' | 'Aliases' | 'MacAddress' | 'DriverOpts' | 'GwPriority' | 'NetworkID'>>;

/** The keys of an endpoint Docker always sends that say "not set" when empty. */
type EndpointUnset = 'IPAMConfig' | 'Links' | 'DriverOpts' | 'GwPriority' | 'IPv6Gateway' | 'GlobalIPv6Address' | 'GlobalIPv6PrefixLen';

/**
 * One network of a container as the networks part records it: Docker's EndpointSettings (its
 * configuration, then what it has now), the keys of what was not set optional; the containers
 * part's inspect gives them Docker's values for "not set".
 */
export type EndpointSettings = Omit<WireEndpointSettings, EndpointUnset> & Partial<Pick<WireEndpointSettings, EndpointUnset>>;

/** What `docker inspect` shows under NetworkSettings: Docker 28's shape (deprecated top-level fields included), its endpoints as recorded, and pier's note. */
export type NetworkSettings = Omit<WireNetworkSettings, 'Networks'> & {
  Networks: Record<string, EndpointSettings>;
  /** pier: a plain-words note on the container's networking, when it differs from what was asked. */
  Note?: string;
};

export interface Endpoint {
  attachment: NetworkAttachment;
  settings: NetworkSettings;
  /** Warnings for the create response (e.g. no bridge yet). */
  warnings: string[];
}

export interface NetworkService {
  /** Validate the mode and write the container's hosts/resolv.conf/hostname (at create). */
  prepare(req: EndpointRequest): Promise<Endpoint>;
  /** Bring the container's networking up just before its runtime create (at start). */
  connect(req: EndpointRequest): Promise<Endpoint>;
  /** Undo connect after the container stopped (addresses back to the pool, rules removed). */
  disconnect(req: EndpointRequest): Promise<void>;
}

/** What the containers part needs to move a container between networks (`docker network connect|disconnect`). */
export interface NetworkMembership {
  /** The network a reference names (notFound otherwise). */
  get(ref: string): { Id: string; Name: string };
  /** The canonical name of a network reference (`default`/'' → bridge; host, none, container:x as they are). */
  canonicalName(ref: string): string;
  /** Give a running container an endpoint on one more network. */
  attach(req: EndpointRequest, network: string): Promise<void>;
  /**
   * Refuse an endpoint config `network` cannot take (Docker's checks and words: a static
   * address outside its user-configured subnets, an alias on the default bridge, a bad MAC).
   */
  validate(network: string, config: EndpointConfig): void;
  /** Take a running container's endpoint on one network away (nothing when it has none). */
  detach(req: EndpointRequest, network: string): Promise<void>;
  /** NetworkSettings for a container as its endpoints now are. */
  settingsOf(req: EndpointRequest): NetworkSettings;
}

/** The body of `POST /networks/create` (Docker's NetworkCreateRequest), nulls removed. */
export interface NetworkCreateBody {
  Name?: string;
  CheckDuplicate?: boolean;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv4?: boolean;
  /** IPv6 besides IPv4: a v6 subnet of IPAM.Config, else a /64 of the daemon's ULA pool. */
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }> | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** The networks themselves: `docker network create|ls|inspect|rm|prune`. */
export interface NetworkRegistry {
  /** Create a bridge network: its record, bridge and rules, all or none (`create` event). */
  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }>;
  /** Every network (host and none included) that passes the filters, without their containers. */
  list(filters: Map<string, string[]>): unknown[];
  /** One network by name, ID or unique ID prefix, with its containers (notFound otherwise). */
  inspect(ref: string): unknown;
  /** Remove a network nobody uses (conflict otherwise; forbidden for the predefined ones). */
  remove(ref: string): Promise<void>;
  /** Remove every unused user network that passes the filters; the names removed. */
  prune(filters: Map<string, string[]>): Promise<string[]>;
}
