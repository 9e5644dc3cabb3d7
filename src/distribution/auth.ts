import { invalid } from '../errors.js';

/**
 * Registry credentials as Docker passes them: `X-Registry-Auth` (base64url JSON of an
 * AuthConfig), `X-Registry-Config` (base64url JSON map of registry → AuthConfig), the body of
 * `POST /auth`, and the `auths` of a Docker `config.json`.
 */

export interface AuthConfig {
  username?: string;
  password?: string;
  /** `auth` of config.json: base64 of `user:password`. */
  auth?: string;
  serveraddress?: string;
  /** A refresh token from an earlier login (OAuth2 identity token). */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
}

/** Decode a base64 (standard or url-safe, padded or not) JSON header value. */
function decodeHeaderJson(value: string, what: string): unknown {
  const b64 = value.trim().replace(/-/g, '+').replace(/_/g, '/');
  let text: string;
  try {
    text = Buffer.from(b64, 'base64').toString('utf8');
  } catch {
    throw invalid(`${what}: not base64`);
  }
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(`${what}: invalid JSON`);
  }
}

/** Normalise an AuthConfig: a config.json `auth` field becomes username and password. */
export function normalizeAuth(raw: unknown): AuthConfig | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    const v = r[k] ?? r[k.charAt(0).toUpperCase() + k.slice(1)];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const out: AuthConfig = {};
  const username = str('username');
  const password = str('password');
  const auth = str('auth');
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  if (auth !== undefined && out.username === undefined) {
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      out.username = plain.slice(0, i);
      out.password = plain.slice(i + 1);
    }
  }
  const server = str('serveraddress');
  if (server !== undefined) out.serveraddress = server;
  const identity = str('identitytoken');
  if (identity !== undefined) out.identitytoken = identity;
  const token = str('registrytoken');
  if (token !== undefined) out.registrytoken = token;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `X-Registry-Auth`: one AuthConfig (absent or `{}` means anonymous). */
export function parseRegistryAuthHeader(value: string | undefined): AuthConfig | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return normalizeAuth(decodeHeaderJson(value, 'X-Registry-Auth'));
}

/** `X-Registry-Config`: registry → AuthConfig. */
export function parseRegistryConfigHeader(value: string | undefined): Map<string, AuthConfig> {
  const out = new Map<string, AuthConfig>();
  if (value === undefined || value.trim() === '') return out;
  const raw = decodeHeaderJson(value, 'X-Registry-Config');
  if (typeof raw !== 'object' || raw === null) return out;
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    const a = normalizeAuth(v);
    if (a) out.set(registryKey(key), a);
  }
  return out;
}

/** The key Docker's config.json uses for a registry: the host (`https://index.docker.io/v1/` for Docker Hub). */
export function registryKey(server: string): string {
  let s = server.trim();
  s = s.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io') return 'docker.io';
  return s;
}

/** The config.json key under which `docker login` stores a registry's credentials. */
export function configKey(domain: string): string {
  return domain === 'docker.io' ? 'https://index.docker.io/v1/' : domain;
}

/** One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse a `WWW-Authenticate` header (RFC 7235 auth-params, quoted or token values). */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (header === undefined) return [];
  const out: Challenge[] = [];
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?\s*,?\s*/g;
  let current: Challenge | undefined;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) !== null && m[0] !== '') {
    const name = m[1]!;
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    if (value === undefined) {
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    } else if (current) {
      current.params[name.toLowerCase()] = value;
    }
  }
  return out;
}
