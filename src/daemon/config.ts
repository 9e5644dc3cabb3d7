import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { invalid } from '../errors.js';
import type { UsernsLayers } from '../snapshots/snapshotter.js';

/**
 * pierd's configuration: command-line flags over a `daemon.json`-style file (`--config`),
 * where a key has a Docker meaning it keeps it.
 */
export interface DaemonConfig {
  root: string;
  execRoot: string;
  /** Path of the API's (first) unix socket. */
  socket: string;
  /** Every address the API is served on (`-H` given several times, daemon.json `hosts`). */
  listeners: Listener[];
  /** The group that owns the unix sockets (mode 0660): Docker's `-G`/`group`; pier's default `pier`. */
  group: string;
  /** TLS with verified client certificates: required for any TCP listener. */
  tls?: { ca: string; cert: string; key: string };
  runtime: 'crun' | 'runc' | 'auto';
  logLevel: string;
  insecureRegistries: string[];
  defaultUlimits: Array<{ Name: string; Soft: number; Hard: number }>;
  /** The default log driver of containers (daemon.json `log-driver`, default json-file) and its options (`log-opts`). */
  logDriver: string;
  logOpts: Record<string, string>;
  /** Run tini as PID 1 by default (Docker's `init` key; pier's default is true). */
  init: boolean;
  defaultShmSize: number;
  /** The default bridge's subnet (daemon.json `bip`, as `a.b.c.d/n`); default: a free /16 of the pool. */
  bip?: string;
  /** IPv6 on the default bridge (daemon.json `ipv6`), from `fixed-cidr-v6` or else a /64 of the daemon's ULA pool. */
  ipv6?: boolean;
  /** The default bridge's IPv6 subnet (daemon.json `fixed-cidr-v6`), with `ipv6`. */
  fixedCidrV6?: string;
  /** Previous versions of each tag kept from image pruning (pier's `image-versions-kept`, default 5). */
  versionsKept?: number;
  /** Containers run with no-new-privileges unless they say otherwise (Docker's `no-new-privileges`). */
  noNewPrivileges?: boolean;
  /** Docker's `userns-remap`: `default` or `user[:group]`; containers naming no `--userns` run in that user's range. */
  usernsRemap?: string;
  /** `auto`: containers naming no `--userns` get a range of their own (pier's, as Podman's `userns = "auto"`). */
  defaultUsernsMode?: 'auto';
  /** The user `userns-remap: default` stands for and `auto` ranges come from (made when missing); default `pier`. */
  usernsDefaultUser: string;
  /**
   * How containers with a user namespace see the image's layers (pier's `userns-layers`):
   * `idmap` (idmapped mounts), `copy` (chown'd copies per range), `auto` (default: idmapped
   * where the kernel allows them on overlayfs, else copies).
   */
  usernsLayers: UsernsLayers;
}

export type Listener = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

const FileSchema = z.looseObject({
  group: z.string().optional(),
  tlsverify: z.boolean().optional(),
  tlscacert: z.string().optional(),
  tlscert: z.string().optional(),
  tlskey: z.string().optional(),
  'data-root': z.string().optional(),
  'exec-root': z.string().optional(),
  hosts: z.array(z.string()).optional(),
  'default-runtime': z.string().optional(),
  runtime: z.string().optional(),
  'log-level': z.string().optional(),
  'insecure-registries': z.array(z.string()).optional(),
  'default-ulimits': z.record(z.string(), z.object({ Name: z.string().optional(), Soft: z.number(), Hard: z.number() })).optional(),
  'log-driver': z.string().optional(),
  'log-opts': z.record(z.string(), z.string()).optional(),
  init: z.boolean().optional(),
  'default-shm-size': z.union([z.string(), z.number()]).optional(),
  bip: z.string().optional(),
  ipv6: z.boolean().optional(),
  'fixed-cidr-v6': z.string().optional(),
  'image-versions-kept': z.number().int().nonnegative().optional(),
  'no-new-privileges': z.boolean().optional(),
  'userns-remap': z.string().optional(),
  'default-userns-mode': z.string().optional(),
  'userns-default-user': z.string().optional(),
  'userns-layers': z.string().optional(),
});

export const USAGE = `Usage: pierd [--root DIR] [--exec-root DIR] [--host unix:///PATH|tcp://HOST:PORT]... [--group GROUP]
             [--tlsverify --tlscacert FILE --tlscert FILE --tlskey FILE]
             [--runtime crun|runc|auto] [--config FILE] [--log-level debug|info|warn|error]
             [--userns-remap default|USER[:GROUP]] [--default-userns-mode auto] [--userns-default-user USER]
             [--userns-layers auto|idmap|copy]

pierd serves the Docker Engine API (v1.51) on unix sockets, and on TCP with TLS only.
  --root       state directory (default /var/lib/pier)
  --exec-root  runtime state: bundles, sockets (default /run/pier)
  --host, -H   where the API is served, several times if wanted: unix:///path (default
               unix:///run/pier/pier.sock), or tcp://host:port with --tlsverify
  --group, -G  group owning the unix sockets, mode 0660 (default pier, created if missing)
  --tlsverify  serve TCP with TLS and accept only clients whose certificate --tlscacert signed
  --runtime    OCI runtime: crun, runc, or auto (crun where the cgroup layout allows it)
  --config     daemon.json-style file (keys: data-root, exec-root, hosts, default-runtime,
               insecure-registries, default-ulimits, log-driver, log-opts, log-level, init,
               default-shm-size, image-versions-kept, no-new-privileges, userns-remap,
               default-userns-mode, userns-default-user, userns-layers)
  --log-level  log level (default info)
  --userns-remap         run containers in a user namespace: default (the user pier, made
                         when missing) or USER[:GROUP], with their /etc/subuid and /etc/subgid
  --default-userns-mode  auto: each container gets a range of 65536 IDs of its own unless it
                         says --userns=host
  --userns-default-user  the user of default and of auto ranges (default pier)
  --userns-layers        how remapped containers see image layers: idmap (idmapped mounts),
                         copy (chown'd copies, one per range, shared), auto (default: idmap
                         where the kernel allows it on overlayfs, else copy)
`;

export function parseSize(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalid(`invalid size: ${v}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

/** `unix:///path`, `/path` or `tcp://host:port` (`fd://` and ssh are not served). */
export function parseHost(host: string): Listener {
  if (host.startsWith('unix://')) return { kind: 'unix', path: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { kind: 'unix', path: host };
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]*):(\d+)\/?$/.exec(host);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port < 1 || port > 65535) throw invalid(`invalid --host ${host}: bad port`);
    return { kind: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
  }
  throw invalid(`unsupported --host ${host}: pierd listens on unix:///path or tcp://host:port (with TLS)`);
}

const VALUE_FLAGS = ['--root', '--exec-root', '--host', '--runtime', '--config', '--log-level', '--data-root', '--group', '--tlscacert', '--tlscert', '--tlskey', '--userns-remap', '--default-userns-mode', '--userns-default-user', '--userns-layers'];
const BOOLEAN_FLAGS = ['--tlsverify'];

export async function loadConfig(argv: string[]): Promise<DaemonConfig> {
  const flags = new Map<string, string>();
  const hosts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const m = /^(--[a-z-]+|-H|-G)(?:=(.*))?$/.exec(arg);
    if (!m) throw invalid(`unknown argument: ${arg}\n${USAGE}`);
    const name = m[1] === '-H' ? '--host' : m[1] === '-G' ? '--group' : m[1]!;
    if (BOOLEAN_FLAGS.includes(name)) {
      flags.set(name, m[2] ?? 'true');
      continue;
    }
    if (!VALUE_FLAGS.includes(name)) throw invalid(`unknown flag: ${name}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw invalid(`flag ${name} needs a value`);
    if (name === '--host') hosts.push(value);
    flags.set(name === '--data-root' ? '--root' : name, value);
  }
  let file: z.infer<typeof FileSchema> = {};
  const configPath = flags.get('--config');
  if (configPath) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (err) {
      throw invalid(`cannot read --config ${configPath}: ${(err as Error).message}`);
    }
    const parsed = FileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw invalid(`${configPath}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    file = parsed.data;
  }
  const runtime = flags.get('--runtime') ?? file['default-runtime'] ?? file.runtime ?? 'auto';
  if (runtime !== 'crun' && runtime !== 'runc' && runtime !== 'auto') throw invalid(`unknown runtime ${runtime}: pier runs crun or runc`);
  const listeners = (hosts.length > 0 ? hosts : (file.hosts ?? ['unix:///run/pier/pier.sock'])).map(parseHost);
  const unix = listeners.find((l) => l.kind === 'unix');
  const tlsverify = flags.has('--tlsverify') ? flags.get('--tlsverify') !== 'false' : (file.tlsverify ?? false);
  const tlsFiles = { ca: flags.get('--tlscacert') ?? file.tlscacert, cert: flags.get('--tlscert') ?? file.tlscert, key: flags.get('--tlskey') ?? file.tlskey };
  let tls: DaemonConfig['tls'];
  if (tlsverify) {
    if (!tlsFiles.ca || !tlsFiles.cert || !tlsFiles.key) throw invalid('--tlsverify needs --tlscacert, --tlscert and --tlskey');
    tls = { ca: tlsFiles.ca, cert: tlsFiles.cert, key: tlsFiles.key };
  }
  if (listeners.some((l) => l.kind === 'tcp') && !tls) {
    // Anyone who reaches a plain TCP socket of the daemon is root on this machine.
    throw invalid('pierd never listens on TCP without TLS and verified client certificates: add --tlsverify --tlscacert CA.pem --tlscert SERVER-CERT.pem --tlskey SERVER-KEY.pem, or serve a unix socket');
  }
  const usernsRemap = flags.get('--userns-remap') ?? file['userns-remap'];
  if (usernsRemap !== undefined && usernsRemap !== '' && !/^[a-z_][a-z0-9_.-]*\$?(:[a-z_][a-z0-9_.-]*\$?)?$/i.test(usernsRemap) && !/^\d+(:\d+)?$/.test(usernsRemap)) {
    throw invalid(`invalid userns-remap ${JSON.stringify(usernsRemap)}: want default or user[:group]`);
  }
  const defaultUsernsMode = flags.get('--default-userns-mode') ?? file['default-userns-mode'];
  if (defaultUsernsMode !== undefined && defaultUsernsMode !== 'auto' && defaultUsernsMode !== 'host' && defaultUsernsMode !== '') {
    throw invalid(`invalid default-userns-mode ${JSON.stringify(defaultUsernsMode)}: want auto or host`);
  }
  const usernsDefaultUser = flags.get('--userns-default-user') ?? file['userns-default-user'] ?? 'pier';
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(usernsDefaultUser)) throw invalid(`invalid userns-default-user ${JSON.stringify(usernsDefaultUser)}: want a user name`);
  const usernsLayers = flags.get('--userns-layers') ?? file['userns-layers'] ?? 'auto';
  if (usernsLayers !== 'auto' && usernsLayers !== 'idmap' && usernsLayers !== 'copy') throw invalid(`invalid userns-layers ${JSON.stringify(usernsLayers)}: want auto, idmap or copy`);
  return {
    root: flags.get('--root') ?? file['data-root'] ?? '/var/lib/pier',
    execRoot: flags.get('--exec-root') ?? file['exec-root'] ?? '/run/pier',
    // With TCP listeners only, the daemon's own tools still get a unix socket beside its state.
    socket: unix?.kind === 'unix' ? unix.path : join(flags.get('--exec-root') ?? file['exec-root'] ?? '/run/pier', 'pier.sock'),
    listeners: unix ? listeners : [{ kind: 'unix', path: join(flags.get('--exec-root') ?? file['exec-root'] ?? '/run/pier', 'pier.sock') }, ...listeners],
    group: flags.get('--group') ?? file.group ?? 'pier',
    tls,
    runtime,
    logLevel: flags.get('--log-level') ?? file['log-level'] ?? 'info',
    insecureRegistries: file['insecure-registries'] ?? [],
    defaultUlimits: Object.entries(file['default-ulimits'] ?? {}).map(([name, u]) => ({ Name: u.Name ?? name, Soft: u.Soft, Hard: u.Hard })),
    logDriver: file['log-driver'] || 'json-file',
    logOpts: file['log-opts'] ?? {},
    init: file.init ?? true,
    defaultShmSize: file['default-shm-size'] !== undefined ? parseSize(file['default-shm-size']) : 64 * 1024 * 1024,
    bip: file.bip,
    ipv6: file.ipv6 ?? false,
    fixedCidrV6: file['fixed-cidr-v6'],
    versionsKept: file['image-versions-kept'] ?? 5,
    noNewPrivileges: file['no-new-privileges'] ?? false,
    usernsRemap: usernsRemap === '' ? undefined : usernsRemap,
    defaultUsernsMode: defaultUsernsMode === 'auto' ? 'auto' : undefined,
    usernsDefaultUser,
    usernsLayers,
  };
}
