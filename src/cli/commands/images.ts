import { createReadStream, createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { filtersParam } from '../../client/client.js';
import { jsonMessages } from '../../client/json-stream.js';
import type { ImageDeleteItem } from '../../client/types.js';
import type { Cli } from '../context.js';
import { CliError, eachReporting, ExitStatus } from '../errors.js';
import { HISTORY_HEADERS, historyFormat, historyRow, IMAGE_HEADERS, imageFormat, imageRows } from '../formatters.js';
import { humanSize, ParseError } from '../human.js';
import { displayJsonMessages } from '../progress.js';
import { fullName, parseReference, withDefaultTag } from '../reference.js';
import { confirm, inspect, prunedList, renderOrFail } from './containers.js';

/** Image commands: `images`, `rmi`, `tag`, `history`, `pull`, `import`, `load`, `save`, `image prune`. */

export interface ImagesOptions {
  all?: boolean;
  quiet?: boolean;
  filter?: string[];
  digests?: boolean;
  noTrunc?: boolean;
  format?: string;
}

export async function images(cli: Cli, repository: string | undefined, opts: ImagesOptions): Promise<number> {
  const filters = [...(opts.filter ?? [])];
  if (repository) filters.push(`reference=${repository}`);
  const list = await cli.client.imageList({ all: opts.all, filters: filtersParam(filters) });
  const format = imageFormat(opts.format, !!opts.quiet, !!opts.digests);
  const rows = imageRows(list, { trunc: !opts.noTrunc, digests: !!opts.digests, format });
  cli.out(renderOrFail(format, IMAGE_HEADERS, rows));
  return 0;
}

export async function imageInspect(cli: Cli, names: string[], opts: { format?: string }): Promise<number> {
  return inspect(cli, names, { format: opts.format, type: 'image' });
}

export async function rmi(cli: Cli, names: string[], opts: { force?: boolean; prune?: boolean }): Promise<number> {
  const failed = await eachReporting(cli, names, async (name) => {
    const items = await cli.client.imageRemove(name, { force: opts.force, noprune: opts.prune === false });
    for (const item of items) {
      if (item.Untagged) cli.out(`Untagged: ${item.Untagged}\n`);
      if (item.Deleted) cli.out(`Deleted: ${item.Deleted}\n`);
    }
  });
  if (failed.length > 0) throw new ExitStatus(1);
  return 0;
}

export async function tag(cli: Cli, source: string, target: string): Promise<number> {
  let ref;
  try {
    ref = parseReference(target);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw new CliError(`Error parsing reference: "${target}" is not a valid repository/tag: ${err.message}`, 1);
  }
  if (ref.digest !== undefined) throw new CliError('refusing to create a tag with a digest reference', 1);
  await cli.client.imageTag(source, fullName(ref), ref.tag ?? 'latest');
  return 0;
}

export async function history(cli: Cli, image: string, opts: { human?: boolean; noTrunc?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const items = await cli.client.imageHistory(image);
  const human = opts.human !== false;
  const format = historyFormat(opts.format, !!opts.quiet, human);
  const rows = items.map((h) => historyRow(h, { trunc: !opts.noTrunc, human }));
  cli.out(renderOrFail(format, HISTORY_HEADERS, rows));
  return 0;
}

export async function pull(cli: Cli, image: string, opts: { platform?: string; quiet?: boolean }): Promise<number> {
  let ref;
  try {
    ref = withDefaultTag(parseReference(image));
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw new CliError(err.message, 1);
  }
  if (!opts.quiet && ref.tag === 'latest' && !image.includes(':')) cli.out('Using default tag: latest\n');
  const stream = await cli.client.imagePull(fullName(ref), { tag: ref.digest ?? ref.tag, platform: opts.platform });
  if (opts.quiet) {
    for await (const _ of jsonMessages(stream)) {
      // progress is not shown with -q; errors still end the pull
    }
  } else {
    await displayJsonMessages(stream, cli.io.stdout, { isTerminal: !!cli.io.stdout.isTTY });
  }
  cli.out(`${fullName(ref)}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}\n`);
  return 0;
}

export async function importImage(
  cli: Cli,
  source: string,
  repository: string | undefined,
  opts: { change?: string[]; message?: string; platform?: string },
): Promise<number> {
  const query = { repo: repository, message: opts.message, changes: opts.change, platform: opts.platform };
  let stream;
  if (source === '-') stream = await cli.client.imageImport(cli.io.stdin, query);
  else if (/^https?:\/\//.test(source)) stream = await cli.client.imageImport(source, query);
  else stream = await cli.client.imageImport(await openFile(source), query);
  await displayJsonMessages(stream, cli.io.stdout, { isTerminal: !!cli.io.stdout.isTTY });
  return 0;
}

/** Open a file for reading, failing with a clear message before anything is sent. */
async function openFile(path: string): Promise<import('node:fs').ReadStream> {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(`open ${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, 1)));
  });
  return stream;
}

export async function load(cli: Cli, opts: { input?: string; quiet?: boolean }): Promise<number> {
  let archive;
  if (opts.input !== undefined) archive = await openFile(opts.input);
  else {
    if (cli.io.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty', 1);
    archive = cli.io.stdin;
  }
  const res = await cli.client.imageLoad(archive, { quiet: opts.quiet });
  if ((res.headers['content-type'] ?? '').includes('json')) {
    await displayJsonMessages(res, cli.io.stdout, { isTerminal: !!cli.io.stdout.isTTY && !opts.quiet });
  } else {
    await pipeline(res, cli.io.stdout, { end: false });
  }
  return 0;
}

/**
 * `pier save`: the image archive to `-o FILE` (written beside it and renamed into place, so
 * a failed save leaves no partial file) or to stdout when that is not a terminal.
 */
export async function save(cli: Cli, names: string[], opts: { output?: string }): Promise<number> {
  if (opts.output === undefined && cli.io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  const res = await cli.client.imageSave(names);
  if (opts.output === undefined) {
    await pipeline(res, cli.io.stdout, { end: false });
    return 0;
  }
  const target = opts.output;
  const temp = join(dirname(target), `.${basename(target)}.pier-${process.pid}`);
  try {
    await pipeline(res, createWriteStream(temp, { mode: 0o644 }));
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    });
    throw new CliError(`failed to save image: ${(err as Error).message}`, 1);
  }
  return 0;
}

export async function imagePrune(cli: Cli, opts: { all?: boolean; force?: boolean; filter?: string[] }): Promise<number> {
  const warning = opts.all
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  if (!opts.force && !(await confirm(cli, warning))) return 0;
  const filters = [...(opts.filter ?? []), `dangling=${opts.all ? 'false' : 'true'}`];
  const report = await cli.client.imagePrune(filtersParam(filters));
  cli.out(prunedList('Images', imagePruneLines(report.ImagesDeleted ?? [])));
  // pier keeps the previous versions of tags for rollback, and says so.
  const kept = (report as { VersionsKept?: Array<{ Id: string; Reason: string }> }).VersionsKept ?? [];
  if (kept.length > 0) {
    let text = 'Kept Images:\n';
    for (const k of kept) text += `kept: ${k.Id} (${k.Reason})\n`;
    cli.out(`${text}\n`);
  }
  cli.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0, 4)}\n`);
  return 0;
}

/** The lines of an image prune report: `untagged: x`, `deleted: sha256:…`. */
export function imagePruneLines(items: readonly ImageDeleteItem[]): string[] {
  return items.flatMap((d) => [...(d.Untagged ? [`untagged: ${d.Untagged}`] : []), ...(d.Deleted ? [`deleted: ${d.Deleted}`] : [])]);
}
