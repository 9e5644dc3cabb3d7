import { constants as fsc, type BigIntStats } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { log } from '../log.js';
import { hostId, type IdMap } from '../util/idmap.js';
import { lgetxattr, llistxattr, lsetxattr, mknod } from '../util/libc.js';
import { chainHex, readdirOrEmpty } from './overlay-meta.js';
import { syncTree } from './sync-tree.js';

/**
 * Chown'd copies of committed layers, for containers with a user namespace where the kernel
 * (before 5.19) or the layers' filesystem cannot idmap overlay lower dirs: a copy of one
 * layer whose files are owned by their IDs shifted into a mapping's range (`0` becomes
 * `map.uid`), everything else kept (modes with setuid bits, symlinks, hard links within the
 * layer, devices and overlay whiteouts, xattrs, times).
 *
 * Layout: `<dir>/<uid>-<gid>-<size>/<chain hex>/` is the copy of the layer `<chain hex>`
 * for that mapping. A copy is made once, in a temp folder the caller gives (cleared by the
 * snapshotter's recover()), flushed and renamed into place, so it exists whole or not at all,
 * and is shared by every writable layer mounted through the same mapping.
 *
 * Who uses a copy is not this class's to know: `collect` asks the caller (`inUse`) which
 * copies some writable layer still needs, under the mapping's lock, and removes the rest.
 * Callers that make a copy needed (record it) and make it (`ensure`) do so under the same
 * lock (`locked`), so a collection never takes a copy a mount is about to use.
 */
export class LayerCopies {
  /** The tail of each mapping's queue of locked work, by mapping key. */
  private readonly queues = new Map<string, Promise<unknown>>();

  /**
   * @param dir     `<snapshots>/idcopies`, on the filesystem of the layers and of `temp`'s folders
   * @param temp    a new empty folder to build a copy in (removed at the daemon's next start if left)
   * @param inUse   the chain IDs some writable layer needs copies of, by mapping key (`mapKey`)
   */
  constructor(
    readonly dir: string,
    private readonly temp: () => Promise<string>,
    private readonly inUse: () => Promise<Map<string, Set<string>>>,
  ) {}

  /** The folder of the copies of one mapping (a layer's copy is `<mapDir>/<chain hex>`). */
  mapDir(map: IdMap): string {
    return `${this.dir}/${mapKey(map)}`;
  }

  /** Run `fn` with the mapping's lock held (one at a time per mapping, in call order). */
  locked<T>(map: IdMap, fn: () => Promise<T>): Promise<T> {
    const key = mapKey(map);
    const prev = this.queues.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  /**
   * The copies of `layers` (each a chain ID and its committed folder) for `map`, made where
   * missing; their folders in the same order. Call with the mapping's lock held, after the
   * copies have been recorded as needed.
   */
  async ensure(layers: ReadonlyArray<{ chainId: string; dir: string }>, map: IdMap): Promise<string[]> {
    const out: string[] = [];
    for (const layer of layers) {
      const dest = `${this.mapDir(map)}/${chainHex(layer.chainId)}`;
      if (!(await exists(dest))) await this.make(layer.dir, dest, map);
      out.push(dest);
    }
    return out;
  }

  /**
   * Remove the copies no writable layer needs (`inUse`): those of `map`, or of every mapping
   * when it is not given. Never rejects: a copy that cannot be removed is logged, and goes at
   * a later collection.
   */
  async collect(map?: IdMap): Promise<void> {
    const keys = map ? [mapKey(map)] : (await readdirOrEmpty(this.dir)).filter((k) => MAP_KEY_RE.test(k));
    for (const key of keys) {
      const m = parseMapKey(key);
      await this.locked(m, async () => {
        const keep = (await this.inUse()).get(key) ?? new Set<string>();
        const dir = `${this.dir}/${key}`;
        const names = await readdirOrEmpty(dir);
        for (const name of names) {
          if (keep.has(`sha256:${name}`)) continue;
          await this.removeCopy(`${dir}/${name}`);
        }
        if (keep.size === 0) await rmdir(dir).catch(() => undefined); // empty unless a copy stayed
      }).catch((err: unknown) => log.warn({ err, map: key }, 'layer copies: collecting'));
    }
  }

  /** Remove every mapping's copy of the layer `chainId` (it is being removed; nothing mounts it). */
  async removeLayer(chainId: string): Promise<void> {
    const hex = chainHex(chainId);
    for (const key of (await readdirOrEmpty(this.dir)).filter((k) => MAP_KEY_RE.test(k))) {
      await this.locked(parseMapKey(key), () => this.removeCopy(`${this.dir}/${key}/${hex}`));
    }
  }

  /**
   * Rename a copy out of the way (a copy exists whole or not at all); its files go in the
   * background, off the path of a container's removal (the temp folder is cleared at the next
   * start if pierd stops first).
   */
  private async removeCopy(path: string): Promise<void> {
    const trash = await this.temp();
    try {
      await rename(path, `${trash}/c`);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') {
        await rm(trash, { recursive: true, force: true });
        throw err;
      }
    }
    rm(trash, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, path: trash }, 'layer copies: removing a copy'));
  }

  private async make(src: string, dest: string, map: IdMap): Promise<void> {
    const work = await this.temp();
    try {
      await copyShifted(src, `${work}/c`, map);
      await syncTree(`${work}/c`);
      await mkdir(this.mapDir(map), { recursive: true, mode: 0o700 });
      await rename(`${work}/c`, dest);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** `<uid>-<gid>-<size>`: the folder name of a mapping's copies. */
export function mapKey(map: IdMap): string {
  return `${map.uid}-${map.gid}-${map.size}`;
}

const MAP_KEY_RE = /^\d+-\d+-\d+$/;

function parseMapKey(key: string): IdMap {
  const [uid, gid, size] = key.split('-').map(Number) as [number, number, number];
  return { uid, gid, size };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** How many entries of one folder are copied side by side. */
const PARALLEL = 16;

/**
 * Copy the tree `src` to `dest` (which does not exist) with every owner shifted into `map`
 * (an ID beyond the map's size becomes the overflow ID 65534, as the kernel shows it). Kept:
 * modes (setuid and setgid bits set again after the chown, which clears them), symlinks
 * (their own owner), hard links within the tree (linked again), devices, fifos and overlay
 * whiteouts (char 0:0), every xattr (`trusted.overlay.opaque`, `user.overlay.*`,
 * `security.capability`, set after the chown, which clears the last), and access and
 * modification times (a folder's after its entries). Regular files are cloned where the
 * filesystem can (reflink), copied otherwise. Symlinks are never followed.
 */
export async function copyShifted(src: string, dest: string, map: IdMap): Promise<void> {
  const links = new Map<bigint, Promise<string>>();
  const rootStat = await lstat(src, { bigint: true });
  await copyDir(src, dest, rootStat, map, links);
}

async function copyDir(src: string, dest: string, st: BigIntStats, map: IdMap, links: Map<bigint, Promise<string>>): Promise<void> {
  await mkdir(dest, 0o700);
  await setMeta(src, dest, st, map);
  const names = await readdir(src);
  for (let i = 0; i < names.length; i += PARALLEL) {
    await Promise.all(
      names.slice(i, i + PARALLEL).map(async (name) => {
        const s = `${src}/${name}`;
        const d = `${dest}/${name}`;
        const est = await lstat(s, { bigint: true });
        if (est.isDirectory()) await copyDir(s, d, est, map, links);
        else await copyNode(s, d, est, map, links);
      }),
    );
  }
  await lutimes(dest, nsToSeconds(st.atimeNs), nsToSeconds(st.mtimeNs));
}

async function copyNode(src: string, dest: string, st: BigIntStats, map: IdMap, links: Map<bigint, Promise<string>>): Promise<void> {
  if (st.nlink > 1n) {
    const first = links.get(st.ino);
    if (first !== undefined) {
      await link(await first, dest);
      return;
    }
    let settle!: (path: string) => void;
    let fail!: (err: unknown) => void;
    const made = new Promise<string>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    made.catch(() => undefined); // awaited by the other links, if any; the failure is this call's
    links.set(st.ino, made);
    try {
      await copyOne(src, dest, st, map);
      settle(dest);
    } catch (err) {
      fail(err);
      throw err;
    }
    return;
  }
  await copyOne(src, dest, st, map);
}

async function copyOne(src: string, dest: string, st: BigIntStats, map: IdMap): Promise<void> {
  if (st.isFile()) await copyFile(src, dest, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
  else if (st.isSymbolicLink()) await symlink(await readlink(src), dest);
  else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) mknod(dest, Number(st.mode), st.rdev);
  else if (st.isSocket()) {
    log.debug({ path: src }, 'layer copies: a socket in a layer is left out');
    return;
  } else throw new Error(`layer copy: ${src}: unsupported file type`);
  await setMeta(src, dest, st, map);
  await lutimes(dest, nsToSeconds(st.atimeNs), nsToSeconds(st.mtimeNs));
}

/** Owner (shifted), then mode (the chown cleared setuid and setgid), then xattrs (the chown cleared file capabilities). */
async function setMeta(src: string, dest: string, st: BigIntStats, map: IdMap): Promise<void> {
  await lchown(dest, hostId(map, Number(st.uid), 'uid'), hostId(map, Number(st.gid), 'gid'));
  if (!st.isSymbolicLink()) await chmod(dest, Number(st.mode) & 0o7777);
  for (const name of llistxattr(src)) {
    const value = lgetxattr(src, name);
    if (value !== undefined) lsetxattr(dest, name, value);
  }
}

function nsToSeconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6;
}
