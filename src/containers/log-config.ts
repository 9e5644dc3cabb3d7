import { invalid } from '../errors.js';

/**
 * Log drivers, as a container's `HostConfig.LogConfig` and daemon.json's `log-driver` and
 * `log-opts` name them. Pure functions: no I/O, no state.
 *
 * pier knows Docker's `json-file` (the default), `local` and `none`. Whatever the name, pier
 * keeps the output in conmon's k8s-file format on disk (the format on disk is not part of
 * Docker's API); the name decides the defaults and what inspect says. Unlike Docker's
 * json-file, pier's rotates by default: 10 MB a file, 3 files (moby #27957).
 */

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** What pier does with a container's output. */
export interface LogPolicy {
  /** false for `none`: no log is kept and `docker logs` is refused. */
  readable: boolean;
  /** Bytes a file holds before the next one begins. */
  maxSize: number;
  /** Files kept, the one being written included. */
  maxFile: number;
  /** Files no longer written are gzip-compressed. */
  compress: boolean;
}

export const DRIVERS = ['json-file', 'local', 'none'] as const;

/** pier's json-file rotation where the user set none (Docker's json-file never rotates by default). */
export const JSON_FILE_DEFAULTS = { maxSize: 10_000_000, maxFile: 3 };
/** Docker's defaults for its `local` driver. */
export const LOCAL_DEFAULTS = { maxSize: 20_000_000, maxFile: 5, compress: true };

/** Options every driver takes (moby's logger.builtInLogOpts). */
const BUILTIN_OPTS = new Set(['mode', 'max-buffer-size']);
/** Options that add attributes to each entry (`docker logs --details`), json-file and local alike. */
const ATTRIBUTE_OPTS = new Set(['env', 'env-regex', 'labels', 'labels-regex', 'tag']);
const ROTATION_OPTS = new Set(['max-file', 'max-size', 'compress']);

/**
 * A container's log config at create, as moby's mergeAndVerifyLogConfig makes it: no driver
 * named means the daemon's; a container of the daemon's driver gets the daemon's options it
 * did not set itself. Checked (`invalid`, Docker's messages) before it is returned.
 */
export function mergeLogConfig(asked: { Type?: string; Config?: Record<string, string> | null } | null | undefined, daemon: LogConfig): LogConfig {
  const Type = asked?.Type || daemon.Type;
  const Config = { ...(asked?.Config ?? {}) };
  if (Type === daemon.Type) {
    for (const [k, v] of Object.entries(daemon.Config)) if (!(k in Config)) Config[k] = v;
  }
  const merged = { Type, Config };
  validateLogConfig(merged);
  return merged;
}

/** Docker's checks of a log config (moby's ValidateLogOpts, then what the driver refuses as it starts). */
export function validateLogConfig(cfg: LogConfig): void {
  const { Type, Config } = cfg;
  if (Type === 'none') return;
  const mode = Config.mode ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') throw invalid(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in Config) {
    if (mode !== 'non-blocking') throw invalid(`logger: max-buffer-size option is only supported with 'mode=non-blocking'`);
    try {
      parseHumanSize(Config['max-buffer-size'], 1024);
    } catch (err) {
      throw invalid(`error parsing option max-buffer-size: ${(err as Error).message}`);
    }
  }
  if (!(DRIVERS as readonly string[]).includes(Type)) throw invalid(`logger: no log driver named '${Type}' is registered`);
  for (const key of Object.keys(Config)) {
    if (BUILTIN_OPTS.has(key) || ATTRIBUTE_OPTS.has(key) || ROTATION_OPTS.has(key)) continue;
    throw invalid(Type === 'local' ? `unknown log opt '${key}' for log driver local` : `unknown log opt '${key}' for json-file log driver`);
  }
  for (const key of ['labels-regex', 'env-regex']) {
    const re = Config[key];
    if (re === undefined || re === '') continue;
    try {
      new RegExp(re);
    } catch (err) {
      throw invalid(`error parsing regexp: ${(err as Error).message}`);
    }
  }
  logPolicy(cfg);
}

/** What a (checked) log config asks of pier; throws `invalid` with Docker's message for a bad value. */
export function logPolicy(cfg: LogConfig): LogPolicy {
  const c = cfg.Config;
  if (cfg.Type === 'none') return { readable: false, maxSize: 0, maxFile: 0, compress: false };
  if (cfg.Type === 'local') {
    // moby's local driver: its own defaults, a size of 0 meaning none (pier keeps its json-file one).
    const maxSize = c['max-size'] !== undefined ? humanSize(c['max-size'], (m) => `invalid value for max-size: ${c['max-size']}: ${m}`) : LOCAL_DEFAULTS.maxSize;
    const maxFile = c['max-file'] !== undefined ? atoi(c['max-file'], (m) => `invalid value for max-file: ${c['max-file']}: ${m}`) : LOCAL_DEFAULTS.maxFile;
    const compress = c.compress !== undefined ? parseBool(c.compress, (m) => `invalid boolean value for compress: ${m}`) : LOCAL_DEFAULTS.compress;
    if (maxSize < 0) throw invalid('max-size must not be negative');
    if (maxFile < 0) throw invalid('max-file must not be negative');
    if (compress && maxFile <= 1) throw invalid('compression cannot be enabled when max file count is 1');
    return { readable: true, maxSize: maxSize || JSON_FILE_DEFAULTS.maxSize, maxFile: Math.max(maxFile, 1), compress };
  }
  // json-file, as moby's jsonfilelog.New checks it.
  let maxSize = -1;
  if (c['max-size'] !== undefined) {
    maxSize = humanSize(c['max-size'], (m) => m);
    if (maxSize <= 0) throw invalid('max-size must be a positive number');
  }
  let maxFile = JSON_FILE_DEFAULTS.maxFile;
  if (c['max-file'] !== undefined) {
    maxFile = atoi(c['max-file'], (m) => m);
    if (maxFile < 1) throw invalid('max-file cannot be less than 1');
  }
  let compress = false;
  if (c.compress !== undefined) {
    compress = parseBool(c.compress, (m) => m);
    if (compress && (c['max-file'] === undefined || maxFile === 1 || maxSize === -1)) {
      throw invalid('compress cannot be true when max-file is less than 2 or max-size is not set');
    }
  }
  return { readable: true, maxSize: maxSize > 0 ? maxSize : JSON_FILE_DEFAULTS.maxSize, maxFile, compress };
}

/**
 * The attributes `docker logs --details` shows before each entry, from the container's labels
 * and environment as the `labels`, `labels-regex`, `env`, `env-regex` and `tag` options pick
 * them (moby's logger.Info.ExtraAttributes): `k=v` pairs, query-escaped, sorted by key, joined
 * by commas.
 */
export function logAttributes(cfg: LogConfig, c: { Id: string; Name: string; Image: string; Config: { Image: string; Env: string[]; Labels: Record<string, string> } }): string {
  const o = cfg.Config;
  const attrs = new Map<string, string>();
  for (const l of (o.labels ?? '').split(',')) if (l !== '' && l in c.Config.Labels) attrs.set(l, c.Config.Labels[l]!);
  if (o['labels-regex']) {
    const re = new RegExp(o['labels-regex']);
    for (const [k, v] of Object.entries(c.Config.Labels)) if (re.test(k)) attrs.set(k, v);
  }
  const env = new Map<string, string>();
  for (const e of c.Config.Env) {
    const i = e.indexOf('=');
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const k of (o.env ?? '').split(',')) if (k !== '' && env.has(k)) attrs.set(k, env.get(k)!);
  if (o['env-regex']) {
    const re = new RegExp(o['env-regex']);
    for (const [k, v] of env) if (re.test(k)) attrs.set(k, v);
  }
  if (o.tag) attrs.set('tag', logTag(o.tag, c));
  return [...attrs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${queryEscape(k)}=${queryEscape(v)}`)
    .join(',');
}

/** A `tag` option's template, with the fields moby's logger.Info offers (`{{.ID}}`, `{{.Name}}`, ...). */
function logTag(template: string, c: { Id: string; Name: string; Image: string; Config: { Image: string } }): string {
  const fields: Record<string, string> = {
    ID: c.Id.slice(0, 12),
    FullID: c.Id,
    Name: c.Name,
    ImageID: c.Image.replace(/^sha256:/, '').slice(0, 12),
    ImageFullID: c.Image,
    ImageName: c.Config.Image,
    DaemonName: 'docker',
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (whole, name: string) => fields[name] ?? whole);
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A size as Docker's go-units reads it: `10m`, `1.5GB`, `20 kB`, `512` (bytes); k, m, g, t, p
 * with an optional `b` or `ib`, powers of `base` (1000 for FromHumanSize, 1024 for RAMInBytes).
 */
export function parseHumanSize(text: string, base = 1000): number {
  let sep = -1;
  for (let i = text.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(text[i]!)) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new Error(`invalid size: '${text}'`);
  const num = text[sep] === ' ' ? text.slice(0, sep) : text.slice(0, sep + 1);
  let sfx = text.slice(sep + 1);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(num)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(num)}: invalid syntax`);
  const size = Number(num);
  if (size < 0) throw new Error(`invalid size: '${text}'`);
  if (sfx === '') return Math.trunc(size);
  const bad = (): Error => new Error(`invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) throw bad();
    return Math.trunc(size);
  }
  const power = 'kmgtp'.indexOf(sfx[0]!);
  if (power < 0) throw bad();
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size * base ** (power + 1));
}

function humanSize(text: string, message: (m: string) => string): number {
  try {
    return parseHumanSize(text);
  } catch (err) {
    throw invalid(message((err as Error).message));
  }
}

/** Go's strconv.Atoi. */
function atoi(text: string, message: (m: string) => string): number {
  if (!/^[+-]?\d+$/.test(text)) throw invalid(message(`strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`));
  return Number(text);
}

/** Go's strconv.ParseBool. */
function parseBool(text: string, message: (m: string) => string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw invalid(message(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`));
}
