import { ApiError, filtersParam, imagePath } from '../../client/client.js';
import { demuxTo, writeTo } from '../../client/demux.js';
import type { Cli } from '../context.js';
import { CliError, describeError, eachReporting, ExitStatus } from '../errors.js';
import { CONTAINER_HEADERS, containerFormat, containerRow, formatUsesSize } from '../formatters.js';
import { humanSize, parseInteger, parseTimestamp } from '../human.js';
import { inspectArray } from '../json-indent.js';
import { renderList } from '../table.js';
import { parseTemplate, TemplateError } from '../template/template.js';

/** Container commands other than run/create: Docker's output and exit codes for each. */

/**
 * Apply `fn` to each named container in turn, printing the name on success and Docker's
 * error line on failure; fails with exit 1 after all were tried if any failed.
 */
async function eachContainer(cli: Cli, names: string[], fn: (name: string) => Promise<void>, summary?: (failed: string[]) => string): Promise<number> {
  const failed = await eachReporting(cli, names, async (name) => {
    await fn(name);
    cli.out(`${name}\n`);
  });
  if (failed.length === 0) return 0;
  if (summary) throw new CliError(summary(failed), 1);
  throw new ExitStatus(1);
}

function timeoutFlag(t: string | undefined): number | undefined {
  return t === undefined ? undefined : parseInteger(t, '-t, --timeout');
}

export async function start(cli: Cli, names: string[], opts: { attach?: boolean; interactive?: boolean; detachKeys?: string }): Promise<number> {
  if (opts.attach || opts.interactive) {
    if (names.length > 1) throw new CliError('you cannot start and attach multiple containers at once', 1);
    const { attachExisting } = await import('./run.js');
    return attachExisting(cli, names[0]!, { stdin: !!opts.interactive, start: true, sigProxy: true, detachKeys: opts.detachKeys });
  }
  return eachContainer(cli, names, (n) => cli.client.containerStart(n), (failed) => `Error: failed to start containers: ${failed.join(', ')}`);
}

export async function attach(cli: Cli, name: string, opts: { stdin?: boolean; sigProxy?: boolean; detachKeys?: string }): Promise<number> {
  const { attachExisting } = await import('./run.js');
  return attachExisting(cli, name, { stdin: opts.stdin !== false, start: false, sigProxy: opts.sigProxy !== false, detachKeys: opts.detachKeys });
}

export async function stop(cli: Cli, names: string[], opts: { time?: string; signal?: string }): Promise<number> {
  const timeout = timeoutFlag(opts.time);
  return eachContainer(cli, names, (n) => cli.client.containerStop(n, { timeout, signal: opts.signal }));
}

export async function restart(cli: Cli, names: string[], opts: { time?: string; signal?: string }): Promise<number> {
  const timeout = timeoutFlag(opts.time);
  return eachContainer(cli, names, (n) => cli.client.containerRestart(n, { timeout, signal: opts.signal }));
}

export async function kill(cli: Cli, names: string[], opts: { signal?: string }): Promise<number> {
  return eachContainer(cli, names, (n) => cli.client.containerKill(n, opts.signal));
}

export async function rm(cli: Cli, names: string[], opts: { force?: boolean; volumes?: boolean; link?: boolean }): Promise<number> {
  return eachContainer(cli, names, (n) => cli.client.containerRemove(n, { force: opts.force, volumes: opts.volumes, link: opts.link }));
}

export async function rename(cli: Cli, from: string, to: string): Promise<number> {
  if (to.trim() === '') throw new CliError('Error: neither old nor new names may be empty', 1);
  try {
    await cli.client.containerRename(from, to);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    throw new CliError(`${describeError(err)}\nError: failed to rename container named ${from}`, 1);
  }
  return 0;
}

export async function wait(cli: Cli, names: string[]): Promise<number> {
  const failed = await eachReporting(cli, names, async (name) => {
    const { result } = await cli.client.containerWait(name);
    const status = await result;
    cli.out(`${status.StatusCode}\n`);
  });
  return failed.length > 0 ? 1 : 0;
}

/** Render list rows, turning template errors into Docker's messages. */
export function renderOrFail(format: string, headers: Record<string, string>, rows: unknown[]): string {
  try {
    return renderList({ format, headers }, rows);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const executing = /^template: :\d+:\d+: executing/.test(err.message);
    throw new CliError(`${executing ? 'failed to execute template' : 'failed to parse template'}: ${err.message}`, 1);
  }
}

export interface PsOptions {
  all?: boolean;
  quiet?: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
  filter?: string[];
  noTrunc?: boolean;
  format?: string;
}

export async function ps(cli: Cli, opts: PsOptions): Promise<number> {
  const format = containerFormat(opts.format, !!opts.quiet, !!opts.size);
  const limit = opts.latest ? 1 : opts.last !== undefined ? parseInteger(opts.last, '-n, --last') : -1;
  const size = !opts.quiet && (!!opts.size || (opts.format !== undefined && formatUsesSize(format)));
  const list = await cli.client.containerList({ all: opts.all, limit, size, filters: filtersParam(opts.filter) });
  const rows = list.map((c) => containerRow(c, { trunc: !opts.noTrunc }));
  cli.out(renderOrFail(format, CONTAINER_HEADERS, rows));
  return 0;
}

export async function logs(
  cli: Cli,
  name: string,
  opts: { follow?: boolean; timestamps?: boolean; tail?: string; since?: string; until?: string; details?: boolean },
): Promise<number> {
  const now = Date.now();
  const since = opts.since !== undefined ? parseTimestamp(opts.since, now) : undefined;
  const until = opts.until !== undefined ? parseTimestamp(opts.until, now) : undefined;
  const info = await cli.client.containerInspect(name);
  const stream = await cli.client.containerLogs(name, {
    follow: opts.follow,
    timestamps: opts.timestamps,
    tail: opts.tail ?? 'all',
    since,
    until,
    details: opts.details,
  });
  if (info.Config.Tty) {
    for await (const chunk of stream as AsyncIterable<Buffer>) await writeTo(cli.io.stdout, chunk);
  } else {
    await demuxTo(stream, cli.io.stdout, cli.io.stderr);
  }
  return 0;
}

/** Docker's prune prompt: the warning and `[y/N]` on stdout, one line read from stdin; true for y/yes. */
export async function confirm(cli: Cli, question: string): Promise<boolean> {
  cli.out(`${question}\nAre you sure you want to continue? [y/N] `);
  const line = await readLine(cli.io.stdin);
  const answer = line.trim().toLowerCase();
  return answer === 'y' || answer === 'yes';
}

async function readLine(stdin: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(text.slice(0, nl));
    };
    const onEnd = (): void => finish(text);
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      stdin.pause();
    };
    const finish = (line: string): void => {
      cleanup();
      resolve(line);
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    stdin.resume();
  });
}

export async function prune(cli: Cli, opts: { force?: boolean; filter?: string[] }): Promise<number> {
  if (!opts.force && !(await confirm(cli, 'WARNING! This will remove all stopped containers.'))) return 0;
  const report = await cli.client.containerPrune(filtersParam(opts.filter));
  const deleted = report.ContainersDeleted ?? [];
  cli.out(prunedList('Containers', deleted));
  cli.out(`Total reclaimed space: ${humanSize(deleted.length > 0 ? (report.SpaceReclaimed ?? 0) : 0, 4)}\n`);
  return 0;
}

/** A prune report's list, as Docker prints it: `Deleted Containers:`, one per line, a blank line; nothing when empty. */
export function prunedList(what: string, lines: readonly string[]): string {
  return lines.length > 0 ? `Deleted ${what}:\n${lines.map((l) => `${l}\n`).join('')}\n` : '';
}

type ObjectKind = 'container' | 'image' | 'network' | 'volume';

const INSPECT_PATHS: Record<ObjectKind, (name: string) => string> = {
  container: (n) => `/containers/${encodeURIComponent(n)}/json`,
  image: (n) => `/images/${imagePath(n)}/json`,
  network: (n) => `/networks/${encodeURIComponent(n)}`,
  volume: (n) => `/volumes/${encodeURIComponent(n)}`,
};

/**
 * `pier inspect`: each name as a container, then an image, network, volume (or only
 * `--type`); prints the daemon's JSON as a 4-space indented array, or one line per object
 * through `--format`. Names that match nothing are reported after the rest is printed.
 */
export async function inspect(cli: Cli, names: string[], opts: { format?: string; type?: string; size?: boolean }): Promise<number> {
  const kinds: ObjectKind[] = opts.type ? [opts.type as ObjectKind] : ['container', 'image', 'network', 'volume'];
  if (opts.type && !(opts.type in INSPECT_PATHS)) throw new CliError(`"${opts.type}" is not a valid value for --type`, 1);
  const tmpl = opts.format !== undefined ? compileInspectFormat(opts.format) : undefined;
  const found: string[] = [];
  const errors: string[] = [];
  for (const name of names) {
    let raw: string | undefined;
    let lastErr: ApiError | undefined;
    for (const kind of kinds) {
      try {
        const path = INSPECT_PATHS[kind](name);
        raw = (await cli.client.request('GET', path, { query: kind === 'container' ? { size: opts.size } : undefined })).raw;
        break;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        lastErr = err;
      }
    }
    if (raw === undefined) errors.push(opts.type ? describeError(lastErr) : `Error: No such object: ${name}`);
    else found.push(raw);
  }
  if (tmpl) {
    let text = '';
    for (const raw of found) {
      try {
        text += `${tmpl.execute(JSON.parse(raw))}\n`;
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        throw new CliError(`template parsing error: ${err.message}`, 1);
      }
    }
    cli.out(text);
  } else {
    cli.out(inspectArray(found));
  }
  if (errors.length > 0) throw new CliError(errors.join('\n'), 1);
  return 0;
}

export function compileInspectFormat(format: string): ReturnType<typeof parseTemplate> {
  const source = format === 'json' ? '{{json .}}' : format;
  try {
    return parseTemplate(source);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    throw new CliError(`template parsing error: ${err.message}`, 1);
  }
}
