import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { lgetxattr } from '../util/libc.js';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Whether `st` is an overlayfs whiteout: a character device 0/0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaqueDir(path: string): boolean {
  return lgetxattr(path, OPAQUE_XATTR)?.toString() === 'y';
}

export interface LowerEntry {
  /** Absolute path of the entry in the layer that provides it. */
  path: string;
  stat: Stats;
}

/**
 * The merged read-only view of a stack of layer dirs (top-most first) as overlayfs shows it:
 * whiteouts hide, opaque dirs stop merging, a non-directory hides what lies under it.
 * Symlinks are never followed, so a lookup never leaves the layers. Lookups of a dir's
 * entries are cached; the view assumes the layers do not change while it is used.
 */
export class LowerView {
  private readonly dirCache = new Map<string, Promise<string[]>>();

  constructor(readonly layers: readonly string[]) {}

  /** The entry at the relative path `rel` (components), or null when the view has none. */
  async lookup(rel: readonly string[]): Promise<LowerEntry | null> {
    if (rel.length === 0) {
      const top = this.layers[0];
      return top === undefined ? null : { path: top, stat: await lstat(top) };
    }
    const parents = await this.dirLayers(rel.slice(0, -1));
    const name = rel[rel.length - 1]!;
    for (const dir of parents) {
      const p = join(dir, name);
      const st = await lstatOrNull(p);
      if (st === null) continue;
      if (isWhiteout(st)) return null;
      return { path: p, stat: st };
    }
    return null;
  }

  /** Names in the merged dir `rel` (empty when it is not a dir of the view). */
  async readdir(rel: readonly string[]): Promise<Map<string, LowerEntry>> {
    const out = new Map<string, LowerEntry>();
    const hidden = new Set<string>();
    for (const dir of await this.dirLayers(rel)) {
      for (const name of await readdir(dir)) {
        if (out.has(name) || hidden.has(name)) continue;
        const p = join(dir, name);
        const st = await lstat(p);
        if (isWhiteout(st)) hidden.add(name);
        else out.set(name, { path: p, stat: st });
      }
    }
    return out;
  }

  /** The layer dirs that make up the merged dir `rel`, top-most first (empty: no such dir). */
  dirLayers(rel: readonly string[]): Promise<string[]> {
    const key = rel.join('/');
    let p = this.dirCache.get(key);
    if (p === undefined) {
      p = this.computeDirLayers(rel);
      this.dirCache.set(key, p);
    }
    return p;
  }

  private async computeDirLayers(rel: readonly string[]): Promise<string[]> {
    if (rel.length === 0) return [...this.layers];
    const parents = await this.dirLayers(rel.slice(0, -1));
    const name = rel[rel.length - 1]!;
    const out: string[] = [];
    for (const dir of parents) {
      const p = join(dir, name);
      const st = await lstatOrNull(p);
      if (st === null) continue;
      if (!st.isDirectory()) break; // a whiteout or a non-dir ends the merge
      out.push(p);
      if (isOpaqueDir(p)) break;
    }
    return out;
  }
}

export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
