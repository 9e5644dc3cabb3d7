import { invalid } from '../errors.js';

/**
 * Docker's image reference grammar (distribution/reference, as the Docker engine uses it):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain    := host [ ":" port ]          host: DNS name, `localhost` or `[ipv6]`
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" hex{32,}
 *
 * A name without a domain belongs to Docker Hub (`docker.io`), and a Hub name of one
 * component lives under `library/`. The first component is a domain only when it holds a
 * `.` or `:`, is `localhost`, or has an upper-case letter.
 */

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredTagRegexp = new RegExp(`^${tagPat}$`);
const anchoredDomainRegexp = new RegExp(`^${domainAndPort}$`);
const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
const sha256DigestRegexp = /^sha256:[a-f0-9]{64}$/;

/** A parsed, normalized reference. `name` is `domain/path`. */
export interface Reference {
  domain: string;
  /** Path within the registry: `library/busybox`, `a/b`. */
  path: string;
  tag?: string;
  digest?: string;
}

/** `domain/path` of a reference: `docker.io/library/busybox`. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized string: `docker.io/library/busybox:latest`, `localhost:5000/a@sha256:…`. */
export function referenceString(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/**
 * Parse a reference as the Docker engine does (ParseNormalizedNamed): adds `docker.io` and
 * `library/`, keeps tag and digest as given (no default tag; see `withDefaultTag`). Throws
 * `invalid` with Docker's messages: `invalid reference format`, `invalid reference format:
 * repository name (library/Busybox) must be lowercase`, and refuses a bare 64-hex ID.
 */
export function parseReference(s: string): Reference {
  if (anchoredIdentifierRegexp.test(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  return parseStrict(`${domain}/${remainder}`);
}

/** Parse a complete reference (with its domain) against the grammar, with no defaults added. */
function parseStrict(s: string): Reference {
  const m = referenceRegexp.exec(s);
  if (!m) {
    if (s === '') throw invalid('invalid reference format: repository name must have at least one component');
    if (referenceRegexp.test(s.toLowerCase())) throw invalid('invalid reference format: repository name must be lowercase');
    throw invalid('invalid reference format');
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(`invalid reference format: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const slash = name.indexOf('/');
  const ref: Reference = { domain: name.slice(0, slash), path: name.slice(slash + 1) };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    const digest = m[3];
    // Only sha256 is a known algorithm; its hex must be exactly 64 lower-case digits.
    if (!sha256DigestRegexp.test(digest)) {
      if (digest.startsWith('sha256:')) {
        throw invalid(digest.length === 71 ? 'invalid checksum digest format' : 'invalid checksum digest length');
      }
      throw invalid('unsupported digest algorithm');
    }
    ref.digest = digest;
  }
  return ref;
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  let domain: string;
  let remainder: string;
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/** Add the `latest` tag to a reference that has neither tag nor digest (Docker's TagNameOnly). */
export function withDefaultTag(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/** `busybox` → `docker.io/library/busybox:latest`; throws `invalid` like parseReference. */
export function normalize(s: string): string {
  return referenceString(withDefaultTag(parseReference(s)));
}

/** The repository as Docker shows it: `busybox`, `user/app`, `localhost:5000/x`. */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX) && !ref.path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return ref.path;
}

/**
 * A reference as Docker shows it: `busybox:latest`, `localhost:5000/x:1`, `user/app@sha256:…`.
 * Accepts a parsed reference or a string (parsed first; no default tag added).
 */
export function familiarName(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return familiarRepository(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** Whether a string is a valid tag. */
export function isValidTag(tag: string): boolean {
  return anchoredTagRegexp.test(tag);
}

/** Whether a string is a valid registry domain (`localhost:5000`, `registry.example.com`). */
export function isValidDomain(domain: string): boolean {
  return anchoredDomainRegexp.test(domain);
}

/**
 * `repo` + `tag` as the tag, import and commit endpoints take them (Docker's RepoTagReference):
 * the tag parameter replaces any tag in repo, no tag means `latest`, a digest is refused.
 * Returns undefined when repo is empty.
 */
export function repoTagReference(repo: string | undefined, tag: string | undefined): Reference | undefined {
  if (!repo) return undefined;
  const ref = parseReference(repo);
  if (ref.digest !== undefined) throw invalid('cannot import digest reference');
  if (tag) {
    if (!isValidTag(tag)) throw invalid('invalid tag format');
    return { domain: ref.domain, path: ref.path, tag };
  }
  return withDefaultTag(ref);
}

/**
 * Whether a string can only be meant as an image ID (a full or short one): hex of 1 to 64
 * characters, optionally prefixed `sha256:`. A short hex string may also be a name
 * (`docker run abc`): callers try names first, as Docker does.
 */
export function isImageIdLike(s: string): boolean {
  return /^(?:sha256:)?[a-f0-9]{1,64}$/.test(s);
}

/** Whether a string is a full image ID: 64 hex, or `sha256:` + 64 hex. */
export function isFullImageId(s: string): boolean {
  return anchoredIdentifierRegexp.test(s) || sha256DigestRegexp.test(s);
}

/** `sha256:<hex>` from a full ID given with or without the prefix. */
export function fullImageId(s: string): string {
  return s.startsWith('sha256:') ? s : `sha256:${s}`;
}

/** The 12-hex short ID Docker prints (`3f57d9401f8d`). */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * Docker's `reference` filter match (FamiliarMatch): a shell pattern against the familiar
 * `name:tag` and against the familiar name alone.
 */
export function familiarMatch(pattern: string, ref: Reference): boolean {
  const re = globToRegExp(pattern);
  return re.test(familiarName(ref)) || re.test(familiarRepository(ref));
}

/** Go's path.Match patterns: `*` and `?` do not cross `/`, `[...]` classes, `\` escapes. */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) out += escapeRe(pattern[++i]!);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '!' + cls.slice(1);
      out += cls.startsWith('!') ? `[^${cls.slice(1).replace(/\\/g, '\\\\')}]` : `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += escapeRe(c);
  }
  return new RegExp(`^${out}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
