import { createReadStream } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, rm, symlink, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { errnoCode, invalid, withContext } from '../errors.js';
import { resolveInRoot, resolveUser } from '../runtime/user.js';
import { extractLayer } from '../snapshots/extract.js';
import { httpGet } from '../util/http-get.js';
import { collectSources, type Source, type SourceEntry } from './context.js';

/**
 * The files of COPY and ADD: written into a step's mounted root filesystem with Docker's
 * rules, every path resolved inside that root (no symlink of the image leads out of it);
 * ADD's archives unpacked and its URLs downloaded. Nothing here knows of cache keys.
 */

/** The uid and gid of `--chown=user[:group]`, looked up in the image's passwd and group files. */
export async function resolveOwner(rootfs: string, chown: string): Promise<{ uid: number; gid: number }> {
  const u = await resolveUser(rootfs, chown.includes(':') ? chown : `${chown}:${chown}`, []).catch(async () => resolveUser(rootfs, chown, []));
  return { uid: u.uid, gid: u.gid };
}

/** Whether an ADD source is a local tar archive (gzip-compressed or plain), which ADD unpacks. */
export async function isArchive(s: Source): Promise<boolean> {
  if (s.isDir || s.entries[0]?.type !== 'file') return false;
  const fh = await open(s.entries[0].hostPath, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return true;
    if (bytesRead >= 262 && buf.subarray(257, 262).toString('latin1') === 'ustar') return true;
    return false;
  } finally {
    await fh.close();
  }
}

/** The file name ADD gives a download: the URL path's last part, `index.html` for none. */
export function urlBaseName(url: string): string {
  const u = new URL(url);
  return posix.basename(u.pathname) || 'index.html';
}

/** Download `url` into `dir` under its urlBaseName, with the server's Last-Modified as its mtime. */
export async function download(url: string, dir: string): Promise<void> {
  const res = await httpGet(url).catch((err: unknown) => {
    throw withContext(`ADD ${url}`, err);
  });
  const path = join(dir, urlBaseName(url));
  const fh = await open(path, 'w', 0o600);
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) await fh.write(chunk);
  } finally {
    res.destroy();
    await fh.close();
  }
  const lm = res.headers['last-modified'];
  if (lm) {
    const t = new Date(lm);
    await lutimes(path, t, t);
  }
}

export interface CopyOptions {
  /** The owner of every file written (`--chown`; root by default). */
  owner: { uid: number; gid: number };
  /** `--chmod`: the mode of every file and folder written, instead of the source's. */
  chmod: number | undefined;
  /** By source: whether it is an archive ADD unpacks. */
  archives: boolean[];
  /** A fresh temp folder (for unpacking an archive); removed after use. */
  tmp: () => Promise<string>;
}

/**
 * Copy sources into the mounted rootfs with Docker's rules: a folder's content goes into the
 * destination; a file goes to the destination path, or into it when the destination ends in
 * `/`, exists as a folder, or several sources are copied. Every path is resolved inside
 * `rootfs` (symlinks of the image never lead out of it).
 */
export async function copyInto(rootfs: string, sources: readonly Source[], dest: string, opts: CopyOptions): Promise<void> {
  const destHost = await resolveInRoot(rootfs, dest);
  const destStat = await lstat(destHost).catch(() => null);
  const destIsDir = dest.endsWith('/') || sources.length > 1 || (destStat?.isDirectory() ?? false) || sources.some((s) => s.isDir);
  if (sources.length > 1 && !dest.endsWith('/')) throw invalid(`When using COPY with more than one source file, the destination must be a directory and end with a /`);
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    if (opts.archives[i]) {
      const tmp = await opts.tmp();
      try {
        await chmod(tmp, 0o755);
        const { decompressed } = await import('../images/streams.js');
        const { stream } = await decompressed(createReadStream(s.entries[0]!.hostPath), 'archive');
        await extractLayer(stream, tmp);
        const inner = await collectSources(tmp, ['.']);
        // Archive members keep their own owners and modes (Docker's ADD).
        await writeEntries(rootfs, dest.replace(/\/$/, '') || '/', inner[0]!.entries, { ...opts, owner: null });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      continue;
    }
    if (s.isDir) {
      await writeEntries(rootfs, dest.replace(/\/$/, '') || '/', s.entries, opts);
    } else {
      const target = destIsDir ? posix.join(dest, s.baseName) : dest;
      await writeEntries(rootfs, target, s.entries, opts);
    }
  }
}

/** Write `entries` at `base` in the image: modes (or `--chmod`), owners and mtimes as given; folders' mtimes set last. */
async function writeEntries(rootfs: string, base: string, entries: readonly SourceEntry[], opts: Omit<CopyOptions, 'owner'> & { owner: { uid: number; gid: number } | null }): Promise<void> {
  const dirTimes: Array<[string, number]> = [];
  for (const e of entries) {
    const inImage = e.rel === '' ? base : posix.join(base, e.rel);
    if (inImage === '/' && e.type === 'dir') continue;
    const parent = await resolveInRoot(rootfs, posix.dirname(inImage));
    await mkdirParents(rootfs, posix.dirname(inImage));
    const host = join(parent, posix.basename(inImage));
    const existing = await lstat(host).catch(() => null);
    const mode = opts.chmod ?? e.mode;
    if (e.type === 'dir') {
      if (existing && !existing.isDirectory()) await rm(host, { recursive: true, force: true });
      if (!existing || !existing.isDirectory()) await mkdir(host);
      await chmod(host, mode);
      dirTimes.push([host, e.mtimeMs]);
    } else {
      if (existing?.isDirectory()) throw invalid(`cannot copy to non-directory: ${inImage} is a directory`);
      if (existing) await unlink(host);
      if (e.type === 'symlink') await symlink(e.linkTarget!, host);
      else {
        await copyFile(e.hostPath, host);
        await chmod(host, mode);
      }
    }
    const owner = opts.owner;
    if (owner) await lchown(host, owner.uid, owner.gid);
    if (e.type !== 'dir') await lutimes(host, e.mtimeMs / 1000, e.mtimeMs / 1000);
  }
  for (const [host, mtime] of dirTimes.reverse()) await lutimes(host, mtime / 1000, mtime / 1000);
}

/** Create `dir` and its missing parents inside `rootfs` (root-owned, 0755); invalid when a part is no folder. */
export async function mkdirParents(rootfs: string, dir: string): Promise<void> {
  const parts = dir.split('/').filter((p) => p !== '');
  let cur = '/';
  for (const p of parts) {
    cur = posix.join(cur, p);
    const host = await resolveInRoot(rootfs, cur);
    const st = await lstat(host).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    });
    if (!st) await mkdir(host, { mode: 0o755 });
    else if (!st.isDirectory()) throw invalid(`cannot copy into ${cur}: not a directory`);
  }
}
