import { conflict, EngineError, invalid } from '../errors.js';
import type { ContainerStore } from './store.js';
import type { ContainerRecord, HostConfig, LegacyLink } from './types.js';

/**
 * Docker's legacy links (`--link name[:alias]` on the default bridge): the parent container
 * gets the child's address in /etc/hosts and the child's name, ports and environment as
 * variables (`ALIAS_NAME=/parent/alias`, `ALIAS_PORT_80_TCP=tcp://ip:80`, `ALIAS_ENV_FOO=1`).
 * A link names the child by ID, so a rename of the child keeps it; it is known as
 * `/<parent>/<alias>` (`docker ps` shows that name for the child, `DELETE
 * /containers/<parent>/<alias>?link=1` removes the link). On a user-defined network a link
 * is the network's affair (NetworkingConfig's `Links`), not this.
 */

/** Whether a NetworkMode is the default bridge, where HostConfig.Links make legacy links. */
export function onDefaultBridge(networkMode: string | undefined): boolean {
  return !networkMode || networkMode === 'bridge' || networkMode === 'default';
}

/**
 * The links of a new container from its HostConfig.Links (`name[:alias]`, or the
 * `/name:/parent/alias` that inspect shows): each child must exist (`invalid`: Docker's
 * "could not get container for x") and must not use the host's network. None off the
 * default bridge.
 */
export function linksAtCreate(store: ContainerStore, hc: HostConfig, selfId: string): LegacyLink[] {
  if (!onDefaultBridge(hc.NetworkMode)) return [];
  const out: LegacyLink[] = [];
  for (const spec of hc.Links ?? []) {
    const [name, aliasPart] = splitLink(spec);
    if (!name) throw invalid(`invalid link: ${JSON.stringify(spec)}`);
    const alias = (aliasPart || name).replace(/^.*\//, '');
    const child = store.find(name);
    // 400, not 404: the CLI answers a 404 from create by pulling the image.
    if (!child) throw invalid(`could not get container for ${name}: No such container: ${name}`);
    if (child.Id === selfId) throw invalid(`cannot link a container to itself`);
    if (child.HostConfig.NetworkMode === 'host') throw invalid(`conflicting options: host type networking can't be used with links. This would result in undefined behavior`);
    if (out.some((l) => l.Alias === alias)) throw conflict(`Conflict. The name "${alias}" is already in use as a link of this container`);
    out.push({ Id: child.Id, Alias: alias });
  }
  return out;
}

function splitLink(spec: string): [string, string | undefined] {
  const i = spec.indexOf(':');
  const name = (i < 0 ? spec : spec.slice(0, i)).replace(/^\//, '');
  return [name, i < 0 ? undefined : spec.slice(i + 1)];
}

/** HostConfig.Links as Docker's inspect shows them: `/<child>:/<parent>/<alias>` (null: none). */
export function linksShown(rec: ContainerRecord, store: ContainerStore): string[] | null {
  const shown = (rec.LegacyLinks ?? []).flatMap((l) => {
    const child = store.find(l.Id);
    return child ? [`/${child.Name}:/${rec.Name}/${l.Alias}`] : [];
  });
  return shown.length > 0 ? shown : null;
}

/** The names `/<parent>/<alias>` by which the parents' links know `child` (for `docker ps`'s Names). */
export function linkNamesOf(child: ContainerRecord, all: Iterable<ContainerRecord>): string[] {
  const out: string[] = [];
  for (const parent of all) for (const l of parent.LegacyLinks ?? []) if (l.Id === child.Id) out.push(`/${parent.Name}/${l.Alias}`);
  return out;
}

/** The `name:alias` entries that put the children in the parent's /etc/hosts (the child named by ID). */
export function hostsLinks(rec: ContainerRecord): string[] {
  return (rec.LegacyLinks ?? []).map((l) => `${l.Id}:${l.Alias}`);
}

/**
 * The variables a starting parent gets from its children, in Docker's order and spelling: per
 * child, `<ALIAS>_PORT` (its lowest exposed port), `<ALIAS>_PORT_<port>_<PROTO>` with `_ADDR`,
 * `_PORT` and `_PROTO` for each exposed port, `<ALIAS>_NAME`, and `<ALIAS>_ENV_<name>` for each
 * of the child's variables but HOME and PATH (ALIAS: the alias in upper case, `-` as `_`).
 * Docker's extra `_START`/`_END` variables for runs of consecutive ports are not given. A child
 * that is gone or not running fails the start, as in Docker.
 */
export function linkEnv(rec: ContainerRecord, store: ContainerStore): string[] {
  const env: string[] = [];
  for (const l of rec.LegacyLinks ?? []) {
    const child = store.find(l.Id);
    const linkName = `/${rec.Name}/${l.Alias}`;
    if (!child || (child.State.Status !== 'running' && child.State.Status !== 'paused')) {
      throw new EngineError('internal', `Cannot link to a non running container: ${child ? `/${child.Name}` : l.Id} AS ${linkName}`);
    }
    const ip = Object.values(child.NetworkSettings.Networks ?? {}).find((n) => n?.IPAddress)?.IPAddress ?? '';
    const prefix = l.Alias.toUpperCase().replace(/-/g, '_');
    const ports = Object.keys(child.Config.ExposedPorts ?? {})
      .map((k) => {
        const [port, proto = 'tcp'] = k.split('/') as [string, string | undefined];
        return { port: Number(port), proto };
      })
      .filter((p) => Number.isInteger(p.port))
      .sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : a.proto.localeCompare(b.proto)));
    if (ports[0]) env.push(`${prefix}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
    for (const p of ports) {
      const key = `${prefix}_PORT_${p.port}_${p.proto.toUpperCase()}`;
      env.push(`${key}=${p.proto}://${ip}:${p.port}`, `${key}_ADDR=${ip}`, `${key}_PORT=${p.port}`, `${key}_PROTO=${p.proto}`);
    }
    env.push(`${prefix}_NAME=${linkName}`);
    for (const v of child.Config.Env ?? []) {
      const i = v.indexOf('=');
      if (i < 0) continue;
      const name = v.slice(0, i);
      if (name === 'HOME' || name === 'PATH') continue;
      env.push(`${prefix}_ENV_${name}=${v.slice(i + 1)}`);
    }
  }
  return env;
}

/** `env` after the link variables, a variable of the container's own replacing a link's of the same name. */
export function withLinkEnv(linkVars: string[], env: string[]): string[] {
  const own = new Set(env.map((v) => v.split('=', 1)[0]));
  return [...linkVars.filter((v) => !own.has(v.split('=', 1)[0])), ...env];
}

/**
 * The parent and alias of a link's name `/<parent>/<alias>`; `invalid` for a name without a
 * parent (Docker's "cannot remove the default link name of the container").
 */
export function parseLinkName(name: string): { parent: string; alias: string } {
  const parts = name.replace(/^\//, '').split('/');
  if (parts.length < 2 || !parts[0] || !parts[parts.length - 1]) throw invalid('Conflict, cannot remove the default link name of the container');
  return { parent: parts.slice(0, -1).join('/'), alias: parts[parts.length - 1]! };
}
