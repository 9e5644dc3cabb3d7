import ignoreFactory from '@balena/dockerignore';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pack, type Pack } from 'tar-stream';
import { jsonMessages, JsonStreamError } from '../../client/json-stream.js';
import type { BuildPruneResponse } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, ExitStatus } from '../errors.js';
import { humanSize } from '../human.js';

/** `pier build`, `pier builder prune` and `pier commit`. */

export interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  cache?: boolean;
  pull?: boolean;
  iidfile?: string;
  quiet?: boolean;
  progress?: string;
  label?: string[];
  secret?: string[];
  network?: string;
}

/**
 * Send the context folder (or a tar on stdin with `-`) to `POST /build` and show the build:
 * one line per step with its time and whether it came from the cache (`--progress=plain`
 * adds every step's output), or the daemon's classic stream as is with `--progress=rawjson`.
 * On failure the failing step's output and exit code are shown and pier exits with that code.
 */
export async function build(cli: Cli, contextPath: string, flags: BuildFlags): Promise<number> {
  const query: Record<string, string | string[] | undefined> = { t: flags.tag ?? [], rm: '1' };
  const buildArgs: Record<string, string | null> = {};
  for (const a of flags.buildArg ?? []) {
    const eq = a.indexOf('=');
    if (eq < 0) buildArgs[a] = cli.io.env[a] ?? null;
    else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
  }
  query.buildargs = JSON.stringify(buildArgs);
  const labels: Record<string, string> = {};
  for (const l of flags.label ?? []) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  query.labels = JSON.stringify(labels);
  if (flags.target) query.target = flags.target;
  if (flags.cache === false) query.nocache = '1';
  if (flags.pull) query.pull = '1';
  if (flags.quiet) query.q = '1';
  if (flags.network) query.networkmode = flags.network;
  const headers: Record<string, string> = { 'Content-Type': 'application/x-tar' };
  const secrets = await readSecrets(flags.secret ?? []);
  if (Object.keys(secrets).length > 0) headers['X-Pier-Build-Secrets'] = Buffer.from(JSON.stringify(secrets)).toString('base64');

  let body: NodeJS.ReadableStream;
  if (contextPath === '-') {
    if (flags.file) query.dockerfile = flags.file;
    body = cli.io.stdin;
  } else {
    const dir = resolve(contextPath);
    const st = await lstat(dir).catch(() => null);
    if (!st?.isDirectory()) throw new CliError(`unable to prepare context: path "${contextPath}" not found`, 1);
    const { stream, dockerfile } = await contextTar(dir, flags.file);
    query.dockerfile = dockerfile;
    body = stream as unknown as NodeJS.ReadableStream;
  }
  const res = await cli.client.stream('POST', '/build', { query, body, headers });
  const progress = flags.progress ?? 'auto';
  if (!['auto', 'plain', 'tty', 'rawjson', 'quiet'].includes(progress)) throw new CliError(`invalid --progress value: ${progress} (auto, plain, tty, rawjson)`, 125);
  // auto and tty: one line per step (the output of a failing step is shown); plain: every step's output too.
  const view = new StepView(cli, progress === 'plain' ? 'plain' : progress === 'rawjson' ? 'raw' : 'tty', !!flags.quiet);
  let imageId = '';
  try {
    for await (const msg of jsonMessages(res)) {
      if (msg.aux !== undefined) {
        const id = (msg.aux as { ID?: unknown }).ID;
        if (typeof id === 'string') imageId = id;
        continue;
      }
      if (typeof msg.stream === 'string') view.stream(msg.stream);
    }
  } catch (err) {
    if (!(err instanceof JsonStreamError)) throw err;
    view.fail(err.message);
    throw new ExitStatus(err.code || 1);
  }
  view.end();
  if (!imageId) throw new CliError('the daemon did not report an image ID', 1);
  if (flags.iidfile) await writeFile(flags.iidfile, imageId);
  if (flags.quiet) cli.out(`${imageId}\n`);
  return 0;
}

async function readSecrets(specs: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const fields = new Map(spec.split(',').map((kv) => [kv.split('=', 1)[0]!, kv.slice(kv.indexOf('=') + 1)] as const));
    const id = fields.get('id');
    const src = fields.get('src') ?? fields.get('source');
    if (!id || !src) throw new CliError(`invalid secret ${spec}: expected id=<id>,src=<file>`, 125);
    out[id] = (await readFile(src).catch(() => {
      throw new CliError(`secret ${id}: cannot read ${src}`, 1);
    })).toString('base64');
  }
  return out;
}

/**
 * The context folder as a tar stream, .dockerignore applied (the Dockerfile and
 * .dockerignore are always sent, as docker does). A Dockerfile outside the context is added
 * under a random name, which is returned as the `dockerfile` parameter.
 */
export async function contextTar(dir: string, file: string | undefined): Promise<{ stream: Pack; dockerfile: string }> {
  let dockerfileRel = 'Dockerfile';
  let outside: string | undefined;
  if (file) {
    const abs = isAbsolute(file) ? file : resolve(file);
    const rel = relative(dir, abs);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      outside = abs;
      dockerfileRel = `.dockerfile.${randomBytes(10).toString('hex')}`;
    } else dockerfileRel = rel.split(sep).join('/');
  }
  let ignores: (p: string) => boolean = () => false;
  const ignoreText = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => '');
  if (ignoreText) {
    const ig = ignoreFactory.default().add(ignoreText.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
    ignores = (p) => p !== '.dockerignore' && p !== dockerfileRel && ig.ignores(p);
  }
  const tar = pack();
  const add = async (): Promise<void> => {
    const walk = async (rel: string): Promise<void> => {
      const names = (await readdir(join(dir, rel))).sort();
      for (const name of names) {
        const r = rel ? `${rel}/${name}` : name;
        const host = join(dir, r);
        const st = await lstat(host);
        const ignored = ignores(r);
        if (st.isDirectory()) {
          if (!ignored) await entry(tar, { name: `${r}/`, type: 'directory', mode: st.mode & 0o7777, mtime: st.mtime });
          await walk(r);
        } else if (ignored) continue;
        else if (st.isSymbolicLink()) await entry(tar, { name: r, type: 'symlink', linkname: await readlink(host), mode: 0o777, mtime: st.mtime });
        else if (st.isFile()) {
          const stream = tar.entry({ name: r, type: 'file', size: st.size, mode: st.mode & 0o7777, mtime: st.mtime });
          await new Promise<void>((ok, fail) => {
            createReadStream(host).on('error', fail).pipe(stream).on('finish', ok).on('error', fail);
          });
        }
      }
    };
    await walk('');
    if (outside) {
      const text = await readFile(outside);
      await entry(tar, { name: dockerfileRel, type: 'file', mode: 0o644, mtime: new Date() }, text);
    }
    tar.finalize();
  };
  add().catch((err: unknown) => tar.destroy(err as Error));
  return { stream: tar, dockerfile: dockerfileRel };
}

function entry(tar: Pack, header: Parameters<Pack['entry']>[0], data?: Buffer): Promise<void> {
  return new Promise((ok, fail) => {
    tar.entry(header, data ?? Buffer.alloc(0), (err) => (err ? fail(err) : ok()));
  });
}

/** Renders the classic stream as one line per step. */
class StepView {
  private current: { title: string; start: number; cached: boolean; output: string } | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly cli: Cli,
    private readonly mode: 'plain' | 'tty' | 'raw',
    private readonly quiet: boolean,
  ) {}

  stream(text: string): void {
    if (this.quiet) return;
    if (this.mode === 'raw') {
      this.cli.out(text);
      return;
    }
    for (const line of text.split(/(?<=\n)/)) this.line(line);
  }

  private line(line: string): void {
    const step = /^Step (\d+\/\d+) : (.*)\n$/.exec(line);
    if (step) {
      this.close();
      this.current = { title: `[${step[1]!}] ${step[2]!}`, start: Date.now(), cached: false, output: '' };
      // plain: the step as it starts, its output, then how it ended (as buildx's plain progress).
      if (this.mode === 'plain') this.cli.out(`${this.current.title}\n`);
      return;
    }
    if (line === ' ---> Using cache\n') {
      if (this.current) this.current.cached = true;
      return;
    }
    if (/^ ---> (Running in|Removed intermediate container) /.test(line) || /^ ---> [0-9a-f]{12}\n$/.test(line)) return;
    if (/^Successfully (built|tagged) /.test(line)) {
      this.close();
      this.cli.out(line);
      return;
    }
    if (this.current) {
      this.current.output += line;
      if (this.mode === 'plain') this.cli.out(`  | ${line}`);
    } else this.cli.out(line);
  }

  private close(): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    const took = c.cached ? 'CACHED' : `${((Date.now() - c.start) / 1000).toFixed(1)}s`;
    if (this.mode === 'plain') this.cli.out(`${/^\[\d+\/\d+\]/.exec(c.title)![0]} ${c.cached ? 'CACHED' : `DONE ${took}`}\n`);
    else this.cli.out(`${c.title}  ${took}\n`);
  }

  fail(message: string): void {
    const c = this.current;
    this.current = undefined;
    if (c) {
      this.cli.err(`${c.title}  FAILED after ${((Date.now() - c.start) / 1000).toFixed(1)}s\n`);
      if (this.mode !== 'plain' && c.output) this.cli.err(c.output.replace(/^/gm, '  | '));
    }
    this.cli.err(`ERROR: ${message}\n`);
  }

  end(): void {
    this.close();
    if (!this.quiet && this.mode !== 'raw') this.cli.out(`build finished in ${((Date.now() - this.started) / 1000).toFixed(1)}s\n`);
  }
}

/** `pier builder prune`: the cache has no notion of "dangling" entries, so -a and -f change nothing. */
export async function builderPrune(cli: Cli): Promise<number> {
  const res = await cli.client.request<BuildPruneResponse>('POST', '/build/prune');
  for (const id of res.body.CachesDeleted ?? []) cli.out(`Deleted build cache image: ${id}\n`);
  cli.out(`Total reclaimed space: ${humanSize(res.body.SpaceReclaimed ?? 0)}\n`);
  return 0;
}

export async function commit(cli: Cli, container: string, repository: string | undefined, opts: { author?: string; change?: string[]; message?: string; pause?: boolean }): Promise<number> {
  let repo: string | undefined;
  let tag: string | undefined;
  if (repository) {
    const m = /^(.*?)(?::([\w][\w.-]{0,127}))?$/.exec(repository)!;
    repo = m[1];
    tag = m[2];
    if (repo?.includes('@')) throw new CliError(`invalid reference format: ${repository}`, 125);
  }
  const res = await cli.client.request<{ Id: string }>('POST', '/commit', {
    query: { container, repo, tag, author: opts.author, comment: opts.message, changes: opts.change, pause: opts.pause === false ? '0' : '1' },
    body: {},
  });
  cli.out(`${res.body.Id}\n`);
  return 0;
}
