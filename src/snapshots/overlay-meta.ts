import { createHash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { errnoCode, invalid } from '../errors.js';
import { log } from '../log.js';
import { addInodeFlags, FS_TOPDIR_FL } from '../util/libc.js';

/** The overlay snapshotter's records (meta.json of a layer and of a writable layer), names and small file helpers. */

/** The folder name of a committed layer: its chain ID's hex. */
export const HEX_RE = /^[a-f0-9]{64}$/;
/** A writable layer's key. */
export const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const SnapshotMetaSchema = z.object({
  chainId: z.string(),
  parent: z.string().nullable(),
  diffId: z.string(),
  size: z.number(),
});
export type SnapshotMeta = z.infer<typeof SnapshotMetaSchema>;

export const ActiveMetaSchema = z.object({
  key: z.string(),
  parent: z.string().nullable(),
  /** The committed chain under the layer, top-most first. */
  lowers: z.array(z.string()),
  /**
   * The mapping whose chown'd copies of `lowers` the layer was mounted on (a container with a
   * user namespace, where layers are copied): those copies are kept while a layer records them.
   */
  copies: z.object({ uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative(), size: z.number().int().positive() }).optional(),
});
export type ActiveMeta = z.infer<typeof ActiveMetaSchema>;

/** The hex of a `sha256:` chain ID or DiffID; `invalid` for anything else. */
export function chainHex(id: string, what = 'chain ID'): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(id);
  if (!m) throw invalid(`invalid ${what} ${JSON.stringify(id)}`);
  return m[1]!;
}

export function shortId(chainId: string): string {
  return chainHex(chainId).slice(0, 16);
}

export function checkKey(key: string): void {
  if (!KEY_RE.test(key)) throw invalid(`invalid writable layer key ${JSON.stringify(key)}: want [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 characters`);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

export async function writeMeta(path: string, data: string, durable: boolean): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function hashStream(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Mark the folder where a pull's layers are unpacked as the top of directory hierarchies
 * (chattr +T), where the filesystem knows the flag (ext2/3/4): ext4 then places each new
 * folder in it in a block group of its own, as it does the root's folders, rather than beside
 * the inodes of the layers removed before. Elsewhere (xfs, btrfs, tmpfs) nothing changes; a
 * filesystem without the flag is logged at debug level, never an error.
 */
export function topOfTrees(dir: string): void {
  try {
    addInodeFlags(dir, FS_TOPDIR_FL);
  } catch (err) {
    log.debug({ err, dir }, 'snapshots: the filesystem has no top-of-hierarchy flag');
  }
}
