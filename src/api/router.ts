import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * pier's router. Docker's paths carry names with slashes in them
 * (`/images/docker.io/library/alpine:3/json`), so a pattern segment `{name*}` matches one or
 * more path segments, and the rest of the pattern is matched against the end of the path.
 * Routes are registered per part in api/routes/<part>.ts.
 */

export interface RequestContext {
  req: IncomingMessage;
  /** Present for ordinary requests; absent for upgrade requests until hijack() is called. */
  res: ServerResponse | undefined;
  /** The body of an upgrade request, read before the stream begins (absent for ordinary requests). */
  upgradeBody?: Buffer;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the client asked for (the path prefix), or the maximum for unversioned paths. */
  apiVersion: string;
  /**
   * Take over the connection for a bidirectional stream (attach, exec start). On a request
   * with `Upgrade: tcp` this answers `101 UPGRADED`; without it, `200 OK`. Returns the raw socket
   * (half-open: the client's FIN is stdin's end; the socket stays writable).
   */
  hijack(contentType: string): Duplex;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  get(pattern: string, handler: Handler): void {
    this.add('GET', pattern, handler);
    this.add('HEAD', pattern, handler);
  }
  post(pattern: string, handler: Handler): void {
    this.add('POST', pattern, handler);
  }
  put(pattern: string, handler: Handler): void {
    this.add('PUT', pattern, handler);
  }
  delete(pattern: string, handler: Handler): void {
    this.add('DELETE', pattern, handler);
  }
  head(pattern: string, handler: Handler): void {
    this.add('HEAD', pattern, handler);
  }

  add(method: string, pattern: string, handler: Handler): void {
    const names: string[] = [];
    const source = pattern
      .split('/')
      .map((seg) => {
        const m = /^\{(\w+)(\*?)\}$/.exec(seg);
        if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]!);
        return m[2] ? '(.+)' : '([^/]+)';
      })
      .join('/');
    // An explicit HEAD registration wins over the implicit one that comes with GET.
    if (method === 'HEAD') {
      const i = this.routes.findIndex((r) => r.method === 'HEAD' && r.pattern === pattern);
      if (i >= 0) this.routes.splice(i, 1);
    }
    this.routes.push({ method, pattern, regex: new RegExp(`^${source}/?$`), names, handler });
  }

  /** Find the handler for a method and a path (without the version prefix). */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'methodNotAllowed' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]!);
      });
      return { handler: route.handler, params };
    }
    return pathMatched ? 'methodNotAllowed' : undefined;
  }
}
