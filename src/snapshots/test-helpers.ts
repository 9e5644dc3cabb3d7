import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { pack, type Header } from 'tar-stream';
import { devNumbers, lgetxattr, llistxattr } from '../util/libc.js';

/** Test helpers shared by the snapshot tests (not used by the engine). */

export type TarSpec = Partial<Omit<Header, 'pax'>> & { name: string; data?: string | Buffer; pax?: Record<string, string> };

/** A tar built with tar-stream's pack, entry by entry, as bytes. */
export async function tarOf(entries: readonly TarSpec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { data, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      p.entry({ mtime: new Date(1_700_000_000_000), ...header }, data ?? '', (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  content?: string;
  target?: string;
  dev?: string;
  xattrs?: Record<string, string>;
}

/**
 * What a user sees of the tree at `root`: each path with its type, mode, owner, content
 * digest, link target, device numbers and (non-overlay) xattrs; mtimes (whole seconds) of
 * non-directories when `mtimes`.
 */
export async function treeOf(root: string, opts: { mtimes?: boolean } = {}): Promise<Record<string, NodeInfo>> {
  const out: Record<string, NodeInfo> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(`${root}${rel}`)).sort()) {
      const p = `${rel}/${name}`;
      const abs = `${root}${p}`;
      const st = await lstat(abs);
      const info: NodeInfo = { type: kind(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (opts.mtimes && !st.isDirectory()) info.mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isFile()) info.content = sha256(await readFile(abs)).slice(7, 19);
      if (st.isSymbolicLink()) info.target = await readlink(abs);
      if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = devNumbers(st.rdev);
        info.dev = `${major}:${minor}`;
      }
      const xattrs: Record<string, string> = {};
      for (const x of llistxattr(abs)) {
        if (!x.startsWith('trusted.overlay.')) xattrs[x] = lgetxattr(abs, x)?.toString('hex') ?? '';
      }
      if (Object.keys(xattrs).length > 0) info.xattrs = xattrs;
      out[p] = info;
      if (st.isDirectory()) await walk(p);
    }
  }
  await walk('');
  return out;
}

function kind(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'other';
}

/** Every path under `dir`, relative, sorted (to assert that a folder holds nothing new). */
export async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const ent of await readdir(`${dir}${rel}`, { withFileTypes: true })) {
      out.push(`${rel}/${ent.name}`);
      if (ent.isDirectory()) await walk(`${rel}/${ent.name}`);
    }
  }
  await walk('');
  return out.sort();
}
