import { createWriteStream, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packTree } from '../../util/archive/pack.js';
import { closeLocation, RootDir } from '../../util/archive/root-dir.js';
import { unpack } from '../../util/archive/unpack.js';
import { isGoDir, isGoRegular, isGoSymlink } from '../../util/go-file-mode.js';
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { humanSize } from '../human.js';
import { getRebaseName, goBase, goClean, nameRebaser, prepareArchiveCopy, preserveTrailingDotOrSeparator, splitPathDirEntry, type CopyInfo } from '../copy-rules.js';

/**
 * `pier cp`, `pier diff`, `pier export`, as the docker CLI does them (cli/command/container
 * `cp.go`, `diff.go`, `export.go`): the copy rules are the client's (copy-rules.ts); the
 * daemon only stats, tars and untars. A tar from a container is unpacked here confined to its
 * destination folder (archive/unpack.ts), whatever its names and links.
 */

export interface CpFlags {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

export async function cp(cli: Cli, source: string, destination: string, flags: CpFlags): Promise<number> {
  if (source === '') throw new CliError('source can not be empty');
  if (destination === '') throw new CliError('destination can not be empty');
  const [srcContainer, srcPath] = splitCpArg(source);
  const [dstContainer, dstPath] = splitCpArg(destination);
  const quiet = flags.quiet ?? !cli.io.stdout.isTTY;
  if (srcContainer && dstContainer) throw new CliError('copying between containers is not supported');
  if (srcContainer) return copyFromContainer(cli, srcContainer, srcPath, dstPath, flags, quiet);
  if (dstContainer) return copyToContainer(cli, srcPath, dstContainer, dstPath, flags, quiet);
  throw new CliError('must specify at least one container source');
}

/** `CONTAINER:PATH`, or a local path (absolute, `./x:y`, or without a `:`). */
function splitCpArg(arg: string): [container: string, path: string] {
  if (arg.startsWith('/')) return ['', arg];
  const i = arg.indexOf(':');
  if (i < 0 || arg.startsWith('.')) return ['', arg];
  return [arg.slice(0, i), arg.slice(i + 1)];
}

function resolveLocalPath(cli: Cli, path: string): string {
  return preserveTrailingDotOrSeparator(resolve(cli.io.cwd, path), path);
}

async function copyFromContainer(cli: Cli, container: string, srcPathIn: string, dst: string, flags: CpFlags, quiet: boolean): Promise<number> {
  let srcPath = srcPathIn;
  let rebaseName = '';
  const dstPath = dst === '-' ? dst : resolveLocalPath(cli, dst);
  if (dst !== '-') validateOutputPath(dstPath);
  if (flags.followLink) {
    const st = await cli.client.containerStatPath(container, srcPath).catch(() => undefined);
    if (st && isGoSymlink(st.mode)) {
      const target = st.linkTarget.startsWith('/') ? st.linkTarget : posix.join(splitPathDirEntry(srcPath)[0], st.linkTarget);
      [srcPath, rebaseName] = getRebaseName(srcPath, target);
    }
  }
  const { stat, tar } = await cli.client.containerArchive(container, srcPath);
  if (dst === '-') {
    await pipeline(tar, cli.io.stdout, { end: false });
    return 0;
  }
  let copied = 0;
  const counted = new PassThrough();
  counted.on('data', (c: Buffer) => (copied += c.length));
  const src: CopyInfo = { path: srcPath, exists: true, isDir: isGoDir(stat.mode), rebaseName };
  const dstInfo = copyInfoDestinationPath(dstPath);
  const { dir, top } = prepareArchiveCopy(src, dstInfo);
  const srcBase = splitPathDirEntry(src.path)[1];
  const renames: Array<(n: string) => string> = [];
  if (rebaseName) renames.push(nameRebaser(srcBase, rebaseName));
  if (top !== null) renames.push(nameRebaser(rebaseName || srcBase, top));
  const root = RootDir.open(dir);
  try {
    const unpacking = unpack(counted, root, [], { noLchown: true, noOverwriteDirNonDir: true, rename: (n) => renames.reduce((name, r) => r(name), n) }).catch((err: unknown) => {
      tar.destroy();
      throw err;
    });
    await Promise.all([pipeline(tar, counted), unpacking]);
  } finally {
    root.close();
  }
  if (!quiet) cli.err(copySummary(isGoDir(stat.mode) ? copied : stat.size, copied, dstPath));
  return 0;
}

async function copyToContainer(cli: Cli, srcPathIn: string, container: string, dstPath: string, flags: CpFlags, quiet: boolean): Promise<number> {
  const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false };
  let st = await cli.client.containerStatPath(container, dstPath).catch(() => undefined);
  if (st && isGoSymlink(st.mode)) {
    const target = st.linkTarget.startsWith('/') ? st.linkTarget : posix.join(splitPathDirEntry(dstPath)[0], st.linkTarget);
    dstInfo.path = target;
    st = await cli.client.containerStatPath(container, target).catch(() => undefined);
  }
  if (st) {
    if (!isGoDir(st.mode) && !isGoRegular(st.mode)) throw new CliError(`destination "${container}:${dstPath}" must be a directory or a regular file`);
    dstInfo.exists = true;
    dstInfo.isDir = isGoDir(st.mode);
  }

  if (srcPathIn === '-') {
    if (!dstInfo.isDir) throw new CliError(`destination "${container}:${dstPath}" must be a directory`);
    await cli.client.containerPutArchive(container, dstInfo.path, cli.io.stdin, { copyUIDGID: flags.archive });
    return 0;
  }

  const src = copyInfoSourcePath(resolveLocalPath(cli, srcPathIn), !!flags.followLink);
  const { dir, top } = prepareArchiveCopy(src, dstInfo);
  const [sourceDir, sourceBase] = splitPathDirEntry(src.path);
  const root = RootDir.open(sourceDir);
  let copied = 0;
  try {
    const loc = root.locate(sourceBase === '.' || sourceBase === '/' ? '/' : sourceBase);
    try {
      const topName = top ?? (src.rebaseName || (sourceBase === '/' ? '' : sourceBase));
      const tar: Readable = packTree(loc, { top: topName });
      tar.on('data', (c: Buffer) => (copied += c.length));
      await cli.client.containerPutArchive(container, dir, tar, { copyUIDGID: flags.archive });
    } finally {
      closeLocation(loc);
    }
  } finally {
    root.close();
  }
  if (!quiet) cli.err(copySummary(contentSize(src.path), copied, `${container}:${dstInfo.path}`));
  return 0;
}

/** The docker CLI's check of a local destination before anything is copied (`command.ValidateOutputPath`). */
function validateOutputPath(path: string): void {
  const dir = dirname(goClean(path));
  if (dir !== '' && dir !== '.') {
    try {
      statSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`invalid output path: directory "${dir}" does not exist`);
    }
  }
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new CliError(`stat ${path}: ${GO_ERRNO[code ?? ''] ?? (err as Error).message}`);
  }
  if (!st.isDirectory() && !st.isFile()) throw new CliError(`invalid output path: "${path}" must be a directory or a regular file`);
}

/** Go's words for the errno codes a local path meets. */
const GO_ERRNO: Record<string, string> = {
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
};

/** A local source: its links resolved as `-L` asks (else only the folder's), and whether it is a folder. */
function copyInfoSourcePath(path: string, followLink: boolean): CopyInfo {
  let resolved: string;
  let rebaseName = '';
  if (followLink) {
    [resolved, rebaseName] = getRebaseName(path, realpathSync(path));
  } else {
    const slash = path.lastIndexOf('/');
    const dirPart = path.slice(0, slash + 1);
    const basePart = path.slice(slash + 1);
    resolved = `${realpathSync(dirPart || '.').replace(/\/$/, '')}/${basePart}`;
    if (path.endsWith('/') && goBase(path) !== goBase(resolved)) rebaseName = goBase(path);
  }
  return { path: resolved, exists: true, isDir: lstatSync(resolved).isDirectory(), rebaseName };
}

/** A local destination: its links followed (at most 10); when missing, its folder must be there. */
function copyInfoDestinationPath(pathIn: string): CopyInfo {
  let path = pathIn;
  for (let n = 0; ; n++) {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const parent = splitPathDirEntry(path)[0];
      if (!statSync(parent).isDirectory()) throw new CliError('not a directory');
      return { path, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path, exists: true, isDir: st.isDirectory() };
    if (n >= 10) throw new CliError(`too many symlinks in ${pathIn}`);
    const target = readlinkSync(path);
    path = target.startsWith('/') ? target : join(splitPathDirEntry(path)[0], target);
  }
}

/** Bytes of regular files at `path` (one file, or a folder's tree). */
function contentSize(pathIn: string): number {
  const path = goClean(pathIn);
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.isFile()) total += lstatSync(join(dir, e.name)).size;
    }
  };
  walk(path);
  return total;
}

function copySummary(contentBytes: number, transferred: number, dest: string): string {
  if (contentBytes !== transferred) return `Successfully copied ${humanSize(contentBytes)} (transferred ${humanSize(transferred)}) to ${dest}\n`;
  return `Successfully copied ${humanSize(contentBytes)} to ${dest}\n`;
}

/** `pier diff`: one line a change, `C`, `A` or `D` and the path, as the daemon sorts them. */
export async function diff(cli: Cli, container: string): Promise<number> {
  const kinds = ['C', 'A', 'D'] as const;
  for (const c of await cli.client.containerChanges(container)) cli.out(`${c.Kind === null ? '' : kinds[c.Kind]} ${c.Path}\n`);
  return 0;
}

/** `pier export`: the container's filesystem as a tar to `-o FILE` (written beside it, then renamed) or to stdout when that is not a terminal. */
export async function exportContainer(cli: Cli, container: string, opts: { output?: string }): Promise<number> {
  if (opts.output === undefined && cli.io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const tar = await cli.client.containerExport(container);
  if (opts.output === undefined) {
    await pipeline(tar, cli.io.stdout, { end: false });
    return 0;
  }
  const target = resolve(cli.io.cwd, opts.output);
  const temp = join(dirname(target), `.${basename(target)}.pier-${process.pid}`);
  try {
    await pipeline(tar, createWriteStream(temp, { mode: 0o644 }));
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    });
    throw new CliError(`failed to export container: ${(err as Error).message}`);
  }
  return 0;
}
