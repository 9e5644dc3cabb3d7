import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { imagePath } from '../../client/client.js';
import { jsonMessages } from '../../client/json-stream.js';
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { humanSize, ParseError, timeAgo } from '../human.js';
import { displayJsonMessages } from '../progress.js';
import { familiarString, fullName, parseReference, withDefaultTag, type Reference } from '../reference.js';
import { tabwrite } from '../table.js';

/**
 * Registry and version commands: `pull`, `push`, `login`, `logout`, and pier's
 * `image versions` and `image rollback`. Credentials live in Docker's config.json
 * (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), in the format `docker login`
 * writes, so credentials either tool stored work for both.
 */

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  [key: string]: unknown;
}

function configPath(cli: Cli): string {
  const dir = cli.io.env.DOCKER_CONFIG ?? join(cli.io.env.HOME ?? homedir(), '.docker');
  return join(dir, 'config.json');
}

async function readConfig(cli: Cli): Promise<DockerConfigFile> {
  try {
    return JSON.parse(await readFile(configPath(cli), 'utf8')) as DockerConfigFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`reading ${configPath(cli)}: ${(err as Error).message}`, 1);
  }
}

async function writeConfig(cli: Cli, config: DockerConfigFile): Promise<void> {
  const path = configPath(cli);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The config.json key of a registry: Docker Hub's is `https://index.docker.io/v1/`. */
function serverKey(domain: string): string {
  return domain === 'docker.io' ? 'https://index.docker.io/v1/' : domain;
}

function normalizeServer(server: string | undefined): string {
  if (server === undefined || server === '') return 'docker.io';
  const s = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return s === 'index.docker.io' || s === 'registry-1.docker.io' ? 'docker.io' : s;
}

/** `X-Registry-Auth` for a registry, from config.json (empty when no credentials are stored). */
export async function registryAuth(cli: Cli, domain: string): Promise<string | undefined> {
  const config = await readConfig(cli);
  const entry = config.auths?.[serverKey(domain)] ?? config.auths?.[`https://${domain}`] ?? config.auths?.[`http://${domain}`];
  if (!entry) return undefined;
  const body: Record<string, string> = { serveraddress: domain };
  if (entry.identitytoken) body.identitytoken = entry.identitytoken;
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      body.username = plain.slice(0, i);
      body.password = plain.slice(i + 1);
    }
  } else if (entry.username !== undefined) {
    body.username = entry.username;
    body.password = entry.password ?? '';
  }
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

function parse(image: string): Reference {
  try {
    return parseReference(image);
  } catch (err) {
    if (err instanceof ParseError) throw new CliError(err.message, 1);
    throw err;
  }
}

/**
 * Show a pull or push progress stream as Docker does (per-layer bars on a terminal), then a
 * line of totals: bytes moved, time and speed. Returns the messages' `aux` values.
 */
async function showProgress(cli: Cli, stream: IncomingMessage, quiet: boolean, verb: string): Promise<unknown[]> {
  const started = Date.now();
  const totals = new Map<string, number>();
  const aux: unknown[] = [];
  const messages = jsonMessages(stream);
  async function* observed(): AsyncGenerator<string> {
    for await (const msg of messages) {
      const m = msg;
      if ((m.status === 'Downloading' || m.status === 'Pushing') && m.id !== undefined && m.progressDetail?.total !== undefined) {
        totals.set(m.id, m.progressDetail.total);
      }
      yield `${JSON.stringify(m)}\n`;
    }
  }
  if (quiet) {
    for await (const line of observed()) {
      const m = JSON.parse(line) as { aux?: unknown };
      if (m.aux !== undefined) aux.push(m.aux);
    }
  } else {
    await displayJsonMessages(observed(), cli.io.stdout, { isTerminal: !!cli.io.stdout.isTTY, onAux: (a) => aux.push(a) });
    const bytes = [...totals.values()].reduce((a, b) => a + b, 0);
    if (bytes > 0 && cli.io.stdout.isTTY) {
      const secs = Math.max(0.001, (Date.now() - started) / 1000);
      cli.out(`${verb} ${humanSize(bytes)} in ${secs.toFixed(1)}s (${humanSize(bytes / secs)}/s)\n`);
    }
  }
  return aux;
}

export async function pull(cli: Cli, image: string, opts: { platform?: string; quiet?: boolean; allTags?: boolean }): Promise<number> {
  const parsed = parse(image);
  if (opts.allTags && (parsed.tag !== undefined || parsed.digest !== undefined)) throw new CliError('tag can\'t be used with --all-tags/-a', 1);
  const ref = opts.allTags ? parsed : withDefaultTag(parsed);
  if (!opts.quiet && !opts.allTags && ref.tag === 'latest' && parsed.tag === undefined) cli.out('Using default tag: latest\n');
  const registryAuthValue = await registryAuth(cli, ref.domain);
  const stream = await cli.client.imagePull(fullName(ref), { tag: ref.digest ?? ref.tag, platform: opts.platform, registryAuth: registryAuthValue });
  await showProgress(cli, stream, !!opts.quiet, 'Downloaded');
  cli.out(`${fullName(ref)}${ref.digest ? `@${ref.digest}` : ref.tag !== undefined ? `:${ref.tag}` : ''}\n`);
  return 0;
}

export async function push(cli: Cli, image: string, opts: { allTags?: boolean; quiet?: boolean }): Promise<number> {
  const parsed = parse(image);
  if (parsed.digest !== undefined) throw new CliError('cannot push a digest reference', 1);
  if (opts.allTags && parsed.tag !== undefined) throw new CliError('tag can\'t be used with --all-tags/-a', 1);
  const ref = opts.allTags ? parsed : withDefaultTag(parsed);
  if (!opts.quiet && !opts.allTags && parsed.tag === undefined) cli.out('Using default tag: latest\n');
  const headers: Record<string, string> = { 'X-Registry-Auth': (await registryAuth(cli, ref.domain)) ?? Buffer.from('{}').toString('base64url') };
  const stream = await cli.client.stream('POST', `/images/${imagePath(fullName(ref))}/push`, { query: { tag: ref.tag }, headers });
  await showProgress(cli, stream, !!opts.quiet, 'Pushed');
  if (opts.quiet) cli.out(`${familiarString(ref)}\n`);
  return 0;
}

async function readStdin(cli: Cli): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of cli.io.stdin as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function login(cli: Cli, server: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean }): Promise<number> {
  const domain = normalizeServer(server);
  let password = opts.password;
  if (opts.passwordStdin) {
    if (opts.password !== undefined) throw new CliError('--password and --password-stdin are mutually exclusive', 1);
    if (opts.username === undefined) throw new CliError('Must provide --username with --password-stdin', 1);
    password = await readStdin(cli);
  }
  const config = await readConfig(cli);
  const key = serverKey(domain);
  let username = opts.username;
  if (username === undefined || password === undefined) {
    const stored = await registryAuth(cli, domain);
    if (stored === undefined) throw new CliError('Error: Cannot perform an interactive login from a non TTY device: give --username and --password-stdin', 1);
    const body = JSON.parse(Buffer.from(stored, 'base64url').toString('utf8')) as { username?: string; password?: string };
    username ??= body.username;
    password ??= body.password;
  }
  if (opts.password !== undefined) cli.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  await cli.client.request('POST', '/auth', { body: { username, password, serveraddress: domain } });
  config.auths ??= {};
  config.auths[key] = { auth: Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64') };
  await writeConfig(cli, config);
  cli.out('Login Succeeded\n');
  return 0;
}

export async function logout(cli: Cli, server: string | undefined): Promise<number> {
  const domain = normalizeServer(server);
  const config = await readConfig(cli);
  const key = serverKey(domain);
  if (!config.auths?.[key]) {
    cli.out(`Not logged in to ${domain === 'docker.io' ? key : domain}\n`);
    return 0;
  }
  cli.out(`Removing login credentials for ${domain === 'docker.io' ? key : domain}\n`);
  config.auths = Object.fromEntries(Object.entries(config.auths).filter(([k]) => k !== key));
  await writeConfig(cli, config);
  return 0;
}

interface VersionsAnswer {
  Reference: string;
  Versions: Array<{ Version: number; Id: string; Time: string; Cause: string; Current: boolean; Available: boolean; Kept: boolean }>;
}

export async function versions(cli: Cli, name: string, opts: { quiet?: boolean; noTrunc?: boolean }): Promise<number> {
  const ref = withDefaultTag(parse(name));
  const res = await cli.client.request<VersionsAnswer>('GET', `/pier/images/${imagePath(familiarString(ref))}/versions`);
  const list = res.body.Versions;
  if (opts.quiet) {
    for (const v of list) cli.out(`${v.Id}\n`);
    return 0;
  }
  let text = 'VERSION\tIMAGE ID\tTAGGED\tCAUSE\tSTATUS\n';
  for (const v of list) {
    const id = opts.noTrunc ? v.Id : v.Id.replace(/^sha256:/, '').slice(0, 12);
    const status = v.Current ? 'current' : !v.Available ? 'deleted' : v.Kept ? 'kept' : 'prunable';
    text += `${v.Version}\t${id}\t${timeAgo(Date.parse(v.Time) / 1000)}\t${v.Cause}\t${status}\n`;
  }
  cli.out(tabwrite(text));
  return 0;
}

export async function rollback(cli: Cli, name: string, opts: { to?: string }): Promise<number> {
  const ref = withDefaultTag(parse(name));
  const res = await cli.client.request<{ Reference: string; From: string | null; To: string; Version: number }>(
    'POST',
    `/pier/images/${imagePath(familiarString(ref))}/rollback`,
    { query: { to: opts.to } },
  );
  const r = res.body;
  const short = (id: string | null): string => (id === null ? 'nothing' : id.replace(/^sha256:/, '').slice(0, 12));
  cli.out(`${r.Reference}: rolled back to version ${r.Version} (${short(r.To)}), was ${short(r.From)}\n`);
  return 0;
}
