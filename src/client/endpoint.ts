/** Where the daemon listens: the `-H` / `DOCKER_HOST` address and its parsed form. */

export const DEFAULT_HOST = 'unix:///run/pier/pier.sock';

/** The daemon address in use: `-H`/`--host`, else `PIER_HOST`, else `DOCKER_HOST`, else pier's socket. */
export function resolveHost(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.PIER_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Parse `unix:///path`, a bare absolute path, `tcp://host:port` or `http://host:port`. */
export function parseHost(host: string): Endpoint {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (path === '') throw new Error(`unable to parse docker host \`${host}\``);
    return { socketPath: path };
  }
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (m) return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2375 };
  throw new Error(`unable to parse docker host \`${host}\``);
}
