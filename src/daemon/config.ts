import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { invalid } from '../errors.js';

/**
 * pierd's configuration: command-line flags over a `daemon.json`-style file (`--config`),
 * where a key has a Docker meaning it keeps it.
 */
export interface DaemonConfig {
  root: string;
  execRoot: string;
  /** Path of the API's unix socket. */
  socket: string;
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
  /** Previous versions of each tag kept from image pruning (pier's `image-versions-kept`, default 5). */
  versionsKept?: number;
}

const FileSchema = z.looseObject({
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
  'image-versions-kept': z.number().int().nonnegative().optional(),
});

export const USAGE = `Usage: pierd [--root DIR] [--exec-root DIR] [--host unix:///PATH] [--runtime crun|runc|auto]
             [--config FILE] [--log-level debug|info|warn|error]

pierd serves the Docker Engine API (v1.51) on a unix socket.
  --root       state directory (default /var/lib/pier)
  --exec-root  runtime state: bundles, sockets (default /run/pier)
  --host, -H   unix:///path of the API socket (default unix:///run/pier/pier.sock)
  --runtime    OCI runtime: crun, runc, or auto (crun where the cgroup layout allows it)
  --config     daemon.json-style file (keys: data-root, exec-root, hosts, default-runtime,
               insecure-registries, default-ulimits, log-driver, log-opts, log-level, init,
               default-shm-size, image-versions-kept)
  --log-level  log level (default info)
`;

export function parseSize(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalid(`invalid size: ${v}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

function socketPath(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw invalid(`unsupported --host ${host}: pierd listens on unix sockets only (unix:///path)`);
}

export async function loadConfig(argv: string[]): Promise<DaemonConfig> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const m = /^(--[a-z-]+|-H)(?:=(.*))?$/.exec(arg);
    if (!m) throw invalid(`unknown argument: ${arg}\n${USAGE}`);
    const name = m[1] === '-H' ? '--host' : m[1]!;
    if (!['--root', '--exec-root', '--host', '--runtime', '--config', '--log-level', '--data-root'].includes(name)) throw invalid(`unknown flag: ${name}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw invalid(`flag ${name} needs a value`);
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
  return {
    root: flags.get('--root') ?? file['data-root'] ?? '/var/lib/pier',
    execRoot: flags.get('--exec-root') ?? file['exec-root'] ?? '/run/pier',
    socket: socketPath(flags.get('--host') ?? file.hosts?.[0] ?? 'unix:///run/pier/pier.sock'),
    runtime,
    logLevel: flags.get('--log-level') ?? file['log-level'] ?? 'info',
    insecureRegistries: file['insecure-registries'] ?? [],
    defaultUlimits: Object.entries(file['default-ulimits'] ?? {}).map(([name, u]) => ({ Name: u.Name ?? name, Soft: u.Soft, Hard: u.Hard })),
    logDriver: file['log-driver'] || 'json-file',
    logOpts: file['log-opts'] ?? {},
    init: file.init ?? true,
    defaultShmSize: file['default-shm-size'] !== undefined ? parseSize(file['default-shm-size']) : 64 * 1024 * 1024,
    bip: file.bip,
    versionsKept: file['image-versions-kept'] ?? 5,
  };
}
