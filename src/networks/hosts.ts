import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../log.js';
import type { EndpointRequest } from './networks.js';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store.js';

/**
 * Name resolution between containers through their /etc/hosts files. On user-defined networks
 * a container's file lists every peer (name, aliases, short ID, hostname; IPv4 and IPv6); pier rewrites the files of a
 * network's members whenever one comes or goes. Files are rewritten in place (same inode),
 * since each is bind-mounted into its running container, and keep working while pierd is down.
 */

const MARKER = '# pier: container addresses';

export class HostsFiles {
  constructor(private readonly store: NetworkStore) {}

  /** `--add-host` entries as the hosts file takes them (`name:ip`), `host-gateway` resolved to the default bridge's gateway. */
  extraHosts(req: EndpointRequest): string[] {
    const gw = this.store.defaultNet().Gateway;
    return req.extraHosts.map((e) => e.replace(/:host-gateway$/, `:${gw}`).replace(/=host-gateway$/, `=${gw}`).replace(/^([^:=]+)=/, '$1:'));
  }

  /** Rewrite the hosts files of every member of `nets`; a failure is logged, never thrown. */
  async rewriteMembers(nets: NetworkRecord[]): Promise<void> {
    // Taken before the first await: other connects and disconnects change the records meanwhile.
    const files = new Map<string, string>();
    for (const n of nets) for (const [id, ep] of Object.entries(n.Endpoints)) if (!files.has(id)) files.set(id, ep.HostsPath);
    for (const [id, path] of files) {
      await this.write(id, path).catch((err: unknown) => log.warn({ err, id }, 'hosts file update'));
    }
  }

  /** Write the container's own hosts file and those of its peers on the user-defined `nets`. */
  async writeFor(nets: NetworkRecord[], req: EndpointRequest): Promise<void> {
    await this.write(req.containerId, join(req.containerDir, 'hosts'), req);
    const others = nets.filter((n) => !n.Default && Object.keys(n.Endpoints).some((id) => id !== req.containerId));
    await this.rewriteMembers(others.map((n) => ({ ...n, Endpoints: Object.fromEntries(Object.entries(n.Endpoints).filter(([id]) => id !== req.containerId)) })));
  }

  /**
   * A container's /etc/hosts: the standard lines, `--add-host` entries, its own addresses
   * (IPv4, and IPv6 on a network with it) and names, then every peer on its user-defined
   * networks (its DNSNames: name, aliases, short ID, hostname) and the peers its `--link`s
   * name, by their alias. A file that does not exist (the container is gone) is left alone.
   */
  private async write(id: string, path: string, req?: EndpointRequest): Promise<void> {
    let current = '';
    try {
      current = await readFile(path, 'utf8');
    } catch {
      return;
    }
    // The head pier wrote at create (standard lines and --add-host) is kept as it is.
    const head = current.split(`\n${MARKER}\n`)[0]!.split('\n').filter((l) => !/^127\.0\.1\.1\t/.test(l) && l !== MARKER).join('\n').replace(/\n+$/, '');
    const lines: string[] = [];
    // A name appears once per family: on its first address of each.
    const seen = { 4: new Set<string>(), 6: new Set<string>() };
    const addOne = (ip: string, family: 4 | 6, names: string[]): void => {
      const fresh = names.filter((n) => n && !seen[family].has(n));
      for (const n of fresh) seen[family].add(n);
      if (fresh.length > 0) lines.push(`${ip}\t${fresh.join(' ')}`);
    };
    const add = (ep: EndpointRecord, names: string[]): void => {
      addOne(ep.IP, 4, names);
      if (ep.IP6) addOne(ep.IP6, 6, names);
    };
    const mine = this.store.networksOf(id);
    const own = mine[0]?.Endpoints[id];
    const hostname = req?.hostname ?? '';
    if (own) {
      const fqdn = req?.domainname ? [`${hostname}.${req.domainname}`] : [];
      const names = [...fqdn, hostname || id.slice(0, 12), ...mine.flatMap((n) => n.Endpoints[id]!.Aliases)];
      addOne(own.IP, 4, names);
      const own6 = mine.map((n) => n.Endpoints[id]!).find((e) => e.IP6);
      if (own6) addOne(own6.IP6!, 6, names);
    } else if (hostname) {
      addOne('127.0.1.1', 4, [hostname]);
    }
    for (const net of mine) {
      const peers = Object.values(net.Endpoints).filter((p) => p.ContainerId !== id);
      for (const link of net.Endpoints[id]!.Links ?? []) {
        const [target, alias] = link.replace(/^\//, '').split(':') as [string, string | undefined];
        const peer = peers.find((p) => p.Name === target || p.ContainerId.startsWith(target));
        if (peer) add(peer, [alias ?? target, peer.Name]);
      }
      if (net.Default) continue;
      for (const peer of peers) add(peer, peer.DNSNames ?? [peer.Name, ...peer.Aliases, peer.ContainerId.slice(0, 12)]);
    }
    // Same inode: the running container sees the change. Written over the old bytes, then cut
    // to length (never truncated first), so a resolver reading meanwhile never finds it empty.
    const bytes = Buffer.from(`${head}\n${MARKER}\n${lines.join('\n')}\n`);
    const fh = await open(path, 'r+').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (!fh) return writeFile(path, bytes);
    try {
      await fh.write(bytes, 0, bytes.length, 0);
      await fh.truncate(bytes.length);
    } finally {
      await fh.close();
    }
  }
}
