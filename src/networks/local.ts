import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import { errnoCode, invalid, notFound } from '../errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { replaceFile } from '../util/fs.js';
import type { Endpoint, EndpointRequest, NetworkService, NetworkSettings } from './networks.js';

/** The modes without a bridge: none, host, and a private namespace with loopback only. */
const DEFAULT_NOTE =
  'pier has no bridge network yet: the container has a private network namespace with loopback only';

export class LocalNetworks implements NetworkService {
  constructor(private readonly hostResolvConf = '/etc/resolv.conf') {}

  async prepare(req: EndpointRequest): Promise<Endpoint> {
    const mode = modeOf(req.networkMode);
    const hostsPath = join(req.containerDir, 'hosts');
    const resolvPath = join(req.containerDir, 'resolv.conf');
    const hostnamePath = join(req.containerDir, 'hostname');
    const hostname = mode === 'host' ? hostHostname() : req.hostname;
    const hosts = this.hostsFile(mode, hostname, req);
    const resolv = this.resolvConf(req, mode === 'host');
    await Promise.all([replaceFile(hostnamePath, `${hostname}\n`), replaceFile(hostsPath, hosts), replaceFile(resolvPath, resolv)]);
    return this.endpoint(req);
  }

  /** The files were written at create; they are written again only if they went missing. */
  async connect(req: EndpointRequest): Promise<Endpoint> {
    const endpoint = this.endpoint(req);
    if (!existsSync(endpoint.attachment.hostsPath!)) return this.prepare(req);
    return endpoint;
  }

  async disconnect(_req: EndpointRequest): Promise<void> {
    // Nothing to undo for none, host and loopback-only namespaces: the runtime's namespace dies with the container.
  }

  /** The namespace, files and inspect settings of a container's endpoint (writes nothing). */
  private endpoint(req: EndpointRequest): Endpoint {
    const mode = modeOf(req.networkMode);
    const hostsPath = join(req.containerDir, 'hosts');
    const resolvPath = join(req.containerDir, 'resolv.conf');
    const hostnamePath = join(req.containerDir, 'hostname');
    const settings: NetworkSettings = {
      Bridge: '',
      SandboxID: '',
      SandboxKey: '',
      Ports: {},
      Networks: {},
    };
    const warnings: string[] = [];
    if (mode === 'default') {
      settings.Note = DEFAULT_NOTE;
      warnings.push(`${DEFAULT_NOTE}.`);
    } else {
      settings.Networks[mode] = {
        NetworkID: mode,
        EndpointID: '',
        Gateway: '',
        IPAddress: '',
        IPPrefixLen: 0,
        MacAddress: '',
        Aliases: null,
        DNSNames: null,
      };
    }
    return {
      attachment: {
        netns: mode === 'host' ? { kind: 'host' } : { kind: 'new' },
        hostsPath,
        resolvConfPath: resolvPath,
        hostnamePath,
      },
      settings,
      warnings,
    };
  }

  private hostsFile(mode: string, hostname: string, req: EndpointRequest): string {
    if (mode === 'host') {
      try {
        return readFileSync('/etc/hosts', 'utf8');
      } catch {
        // fall through to a standard file
      }
    }
    const lines = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::\tip6-localnet',
      'ff00::\tip6-mcastprefix',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
    ];
    for (const entry of req.extraHosts) {
      const i = entry.indexOf(':');
      if (i <= 0) throw invalid(`invalid argument "${entry}" for "--add-host" flag: bad format for add-host`);
      lines.push(`${entry.slice(i + 1)}\t${entry.slice(0, i)}`);
    }
    // The container's own name: loopback here, since it has no other address yet.
    const fqdn = req.domainname ? `${hostname}.${req.domainname} ` : '';
    lines.push(`127.0.1.1\t${fqdn}${hostname}`);
    return `${lines.join('\n')}\n`;
  }

  /**
   * Write the container's resolv.conf again with `nameserver` (pier's embedded DNS) as its only
   * server and Docker's `options ndots:0` unless the client set ndots; without `nameserver`,
   * as at create. Call before the container runs (the file is replaced, not rewritten in place).
   */
  async writeResolvConf(req: EndpointRequest, nameserver: string | undefined): Promise<void> {
    let text = this.resolvConf(req, false);
    if (nameserver) {
      const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^\s*nameserver\s/.test(l));
      if (!lines.some((l) => /^\s*options\s.*\bndots:/.test(l))) lines.push('options ndots:0');
      text = `${[`nameserver ${nameserver}`, ...lines].join('\n')}\n`;
    }
    await replaceFile(join(req.containerDir, 'resolv.conf'), text);
  }

  private resolvConf(req: EndpointRequest, hostNamespace: boolean): string {
    let base = '';
    try {
      base = readFileSync(this.hostResolvConf, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    // Loopback resolvers of the host cannot answer inside a private namespace (they can in the host's).
    let lines = base.split('\n').filter((l) => hostNamespace || !/^\s*nameserver\s+(127\.|::1)/.test(l));
    if (req.dns.length > 0) lines = lines.filter((l) => !/^\s*nameserver\s/.test(l)).concat(req.dns.map((d) => `nameserver ${d}`));
    if (req.dnsSearch.length > 0) lines = lines.filter((l) => !/^\s*search\s/.test(l)).concat([`search ${req.dnsSearch.join(' ')}`]);
    if (req.dnsOptions.length > 0) lines = lines.filter((l) => !/^\s*options\s/.test(l)).concat([`options ${req.dnsOptions.join(' ')}`]);
    return `${lines.filter((l) => l.trim() !== '').join('\n')}\n`;
  }
}

function modeOf(networkMode: string): 'none' | 'host' | 'default' {
  switch (networkMode) {
    case '':
    case 'default':
    case 'bridge':
      return 'default';
    case 'none':
    case 'host':
      return networkMode;
    default:
      if (networkMode.startsWith('container:')) throw invalid(`network mode ${networkMode} is not supported yet`);
      throw notFound(`network ${networkMode} not found`);
  }
}
