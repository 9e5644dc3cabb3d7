import { randomBytes } from 'node:crypto';
import { chmod, lchown, lstat, mkdir, readlink, rename, rm, symlink, unlink } from 'node:fs/promises';
import { lstatSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { conflict, errnoCode, internal, invalid, isKind, notFound } from '../errors.js';
import { log } from '../log.js';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';
import { childChainId } from './chain.js';
import { changes, diffBlocks, diskUsage } from './diff.js';
import { extractLayer } from './extract.js';
import { ActiveMetaSchema, chainHex, checkKey, HEX_RE, KEY_RE, hashStream, parseJson, readdirOrEmpty, shortId, SnapshotMetaSchema, topOfTrees, writeMeta, type ActiveMeta, type SnapshotMeta } from './overlay-meta.js';
import { syncTree } from './sync-tree.js';
import { shiftRootOwner } from './idmap.js';
import { MappedLayers } from './mapped-layers.js';
import { bindMount, MAX_MOUNT_DATA, mountOverlay, overlayOptions, unmount } from './mount.js';
import { isLayerSource, type AppliedLayer, type ApplyOptions, type DiffOptions, type LayerSource, type MountOptions, type OverlayMount, type Snapshotter, type UsernsLayers } from './snapshotter.js';

/**
 * The overlayfs snapshotter. Layout under `<root>/snapshots/`:
 *
 *     <chain hex>/fs/            one committed layer (read-only by convention)
 *     <chain hex>/meta.json      {chainId, parent, diffId, size}
 *     active/<key>/{upper,work}  a writable layer, meta.json {key, parent, lowers}
 *     l/<16 hex>                 short symlink to <chain hex>/fs, for mounts of many layers
 *     idcopies/<uid>-<gid>-<size>/<chain hex>/
 *                                a layer's chown'd copy for a user namespace's mapping
 *     tmp/                       snapshots (and copies) being built or removed
 *
 * A snapshot (committed or active) is built complete in tmp/ and renamed into place, and
 * removed by renaming it back to tmp/ first, so it either exists whole or not at all; a crash
 * leaves only tmp/ entries, which `recover()` removes. Committed layers are flushed to disk
 * (syncTree) before they are renamed into place, unless applied with `durable: false` (a
 * pull's: flushed after it with `sync`, see src/daemon/flush-behind.ts).
 *
 * Mounting: overlayfs through mount(2). When the lower dirs do not fit the one page of mount
 * options (about 40 layers of full paths), the `l/` links are used instead (about 90 layers);
 * past that, relative links through `mount(8)` run in this folder (about 200 layers;
 * overlayfs allows 500).
 *
 * A container with a user namespace sees the layers through its mapping: idmapped mounts of
 * the layers, or, where the kernel cannot idmap overlay lower dirs (or `usernsLayers` says
 * `copy`), chown'd copies of them (src/snapshots/mapped-layers.ts, layer-copies.ts). The copies a writable layer
 * is mounted on are recorded in its meta.json (`copies`, the mapping) before they are made:
 * the records of the writable layers are the copies' references. A copy no record names is
 * removed when the last writable layer naming its mapping is removed, when its layer is
 * removed, and at recover(); so a container removed takes its `auto` range's copies with it,
 * and `userns-remap`'s one range keeps its copies while any of its containers exists. Copies
 * are mounted by full path, else by names relative to their mapping's folder through
 * `mount(8)` (about 60 layers).
 */
export class OverlaySnapshotter implements Snapshotter {
  /** `<root>/snapshots` */
  readonly dir: string;
  /** Lowers seen through a user namespace's mapping (containers with one): idmapped, or copies. */
  private readonly mapped: MappedLayers;

  constructor(root: string, opts: { usernsLayers?: UsernsLayers } = {}) {
    this.dir = `${root}/snapshots`;
    this.mapped = new MappedLayers(this.dir, opts.usernsLayers ?? 'auto', {
      fsDir: (id) => this.fsDir(id),
      makeTemp: (what) => this.makeTemp(what),
      writeActiveMeta: (meta) => this.writeActiveMeta(meta),
      activeMetas: () => this.activeMetas(),
    });
  }

  /**
   * Remove what a crash left half-built or half-removed, and copies of layers no writable
   * layer records. Call at daemon start, before other calls.
   */
  async recover(): Promise<void> {
    await Promise.all([rm(this.tmpDir, { recursive: true, force: true }), rm(this.newDir, { recursive: true, force: true })]);
    await this.mapped.recover();
  }

  // ---- committed snapshots ----

  async applyLayer(parent: string | null, tar: Readable | LayerSource, expectedDiffId?: string, opts: ApplyOptions = {}): Promise<AppliedLayer> {
    // The folders of the parent chain: looked up now, or once the parent is committed.
    let lowers: Promise<string[]>;
    const parentReady = opts.parentReady;
    try {
      if (expectedDiffId !== undefined) chainHex(expectedDiffId, 'DiffID');
      if (parent !== null) chainHex(parent, 'chain ID');
      if (parentReady === undefined) {
        const now = parent === null ? [] : this.chain(parent).map((id) => this.fsDir(id));
        lowers = Promise.resolve(now);
      } else {
        lowers = parentReady.then(() => (parent === null ? [] : this.chain(parent).map((id) => this.fsDir(id))));
        // A parent that fails stops this layer at once (its stream fails with the reason).
        lowers.catch((err: unknown) => {
          const reason = err instanceof Error ? err : new Error(String(err));
          if (isLayerSource(tar)) tar.destroy(reason);
          else if (!tar.destroyed) tar.destroy(reason);
        });
      }
    } catch (err) {
      tar.destroy();
      throw err;
    }

    if (expectedDiffId !== undefined) {
      const chainId = childChainId(parent, expectedDiffId);
      if (await this.has(chainId)) {
        const diffId = isLayerSource(tar) ? (await tar.unpack(null, lowers)).diffId : await hashStream(tar);
        await lowers;
        if (diffId !== expectedDiffId) throw invalid(`layer ${expectedDiffId}: DiffID mismatch: the tar hashes to ${diffId}`);
        const meta = this.meta(chainId);
        return { diffId, chainId, size: meta.size };
      }
    }

    // A layer flushed later (a pull's) goes to a block group of its own (see topOfTrees).
    const work = await this.makeTemp(opts.durable === false ? 'spread' : 'apply');
    let placed = false;
    try {
      await mkdir(`${work}/fs`, 0o755);
      const { diffId, size } = isLayerSource(tar) ? await tar.unpack(`${work}/fs`, lowers) : await extractLayer(tar, `${work}/fs`, lowers);
      if (expectedDiffId !== undefined && diffId !== expectedDiffId) {
        throw invalid(`layer ${expectedDiffId}: DiffID mismatch: the tar hashes to ${diffId}`);
      }
      await lowers; // settled by extractLayer; the parent is committed
      const chainId = childChainId(parent, diffId);
      if (await this.has(chainId)) return { diffId, chainId, size };
      const meta: SnapshotMeta = { chainId, parent, diffId, size };
      const durable = opts.durable !== false;
      await Promise.all([writeMeta(`${work}/meta.json`, JSON.stringify(meta), durable), durable ? syncTree(`${work}/fs`) : undefined]);
      try {
        await rename(work, this.snapDir(chainId));
        placed = true;
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return { diffId, chainId, size }; // applied meanwhile
        throw err;
      }
      if (durable) await fsyncDir(this.dir);
      await this.ensureLink(chainId);
      return { diffId, chainId, size };
    } finally {
      if (!placed) await rm(work, { recursive: true, force: true });
    }
  }

  async sync(chainId: string): Promise<void> {
    const dir = this.snapDir(chainId);
    try {
      await Promise.all([syncTree(`${dir}/fs`), fsyncDir(`${dir}/meta.json`)]);
      await fsyncDir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return; // removed since
      throw err;
    }
    await fsyncDir(this.dir);
  }

  async has(chainId: string): Promise<boolean> {
    try {
      await lstat(`${this.snapDir(chainId)}/meta.json`);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async usage(chainId: string): Promise<number> {
    this.meta(chainId);
    return diskUsage(this.fsDir(chainId));
  }

  /** `conflict` while another snapshot is built on it (a child layer or a writable layer). */
  async remove(chainId: string): Promise<void> {
    this.meta(chainId);
    const child = (await this.list()).find((s) => s.parent === chainId);
    if (child) throw conflict(`snapshot ${chainId} is the parent of snapshot ${child.chainId}`);
    for (const key of await this.activeKeys()) {
      const m = this.activeMeta(key);
      if (m.lowers.includes(chainId)) throw conflict(`snapshot ${chainId} is used by writable layer ${key}`);
    }
    const trash = await this.makeTemp('rm');
    await rename(this.snapDir(chainId), `${trash}/s`);
    await unlink(this.linkPath(chainId)).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await this.mapped.removeLayer(chainId);
    await rm(trash, { recursive: true, force: true });
  }

  async list(): Promise<Array<{ chainId: string; parent: string | null }>> {
    const out: Array<{ chainId: string; parent: string | null }> = [];
    for (const name of await readdirOrEmpty(this.dir)) {
      if (!HEX_RE.test(name)) continue;
      try {
        const m = this.meta(`sha256:${name}`);
        out.push({ chainId: m.chainId, parent: m.parent });
      } catch (err) {
        if (!isKind(err, 'notFound')) throw err; // removed meanwhile
      }
    }
    return out;
  }

  // ---- writable layers ----

  async prepare(key: string, parent: string | null): Promise<OverlayMount> {
    checkKey(key);
    const lowers = parent === null ? [] : this.chain(parent);
    const work = await this.makeTemp('prepare');
    let placed = false;
    try {
      const upper = `${work}/upper`;
      const meta: ActiveMeta = { key, parent, lowers };
      // The layer's folders and its record are made side by side (this is on every create's path).
      await Promise.all([
        mkdir(upper).then(async () => {
          if (lowers.length > 0) {
            // The merged root shows the upper dir's own mode and owner: take the image's.
            const st = lstatSync(this.fsDir(lowers[0]!));
            await lchown(upper, st.uid, st.gid);
            await chmod(upper, st.mode & 0o7777);
          } else {
            await chmod(upper, 0o755);
          }
        }),
        mkdir(`${work}/work`),
        writeMeta(`${work}/meta.json`, JSON.stringify(meta), true),
        mkdir(this.activeRoot, { recursive: true }),
      ]);
      try {
        await rename(work, this.activeDir(key));
        placed = true;
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw conflict(`writable layer ${key} already exists`);
        throw err;
      }
      await fsyncDir(this.activeRoot);
    } finally {
      if (!placed) await rm(work, { recursive: true, force: true });
    }
    return this.overlayOf(key, lowers);
  }

  mounts(key: string): Promise<OverlayMount> {
    try {
      return Promise.resolve(this.overlayOf(key, this.activeMeta(key).lowers));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async mount(key: string, target: string, opts: MountOptions = {}): Promise<void> {
    const m = this.activeMeta(key);
    const dirs = this.overlayOf(key, m.lowers);
    if (opts.idmap) {
      await shiftRootOwner(dirs.upperDir, opts.idmap);
      if (dirs.lowerDirs.length > 0) {
        await this.mapped.mount(m, dirs, target, opts.idmap);
        return;
      }
    }
    if (dirs.lowerDirs.length === 0) {
      await bindMount(dirs.upperDir, target);
      return;
    }
    if (Buffer.byteLength(overlayOptions(dirs)) <= MAX_MOUNT_DATA) {
      await mountOverlay(target, dirs);
      return;
    }
    for (const id of m.lowers) await this.ensureLink(id);
    const viaLinks = { ...dirs, lowerDirs: m.lowers.map((id) => this.linkPath(id)) };
    if (Buffer.byteLength(overlayOptions(viaLinks)) <= MAX_MOUNT_DATA) {
      await mountOverlay(target, viaLinks);
      return;
    }
    await mountOverlay(target, { ...dirs, lowerDirs: m.lowers.map((id) => `l/${shortId(id)}`) }, { cwd: this.dir });
  }

  async unmount(target: string): Promise<void> {
    await unmount(target);
  }

  /** Replace a writable layer's record (atomically, flushed). */
  private async writeActiveMeta(meta: ActiveMeta): Promise<void> {
    await writeFileAtomic(`${this.activeDir(meta.key)}/meta.json`, JSON.stringify(meta));
  }

  diff(key: string, opts: DiffOptions = {}): Readable {
    checkKey(key);
    const upper = `${this.activeDir(key)}/upper`;
    const lowers = (): string[] => this.activeMeta(key).lowers.map((id) => this.fsDir(id));
    return Readable.from(
      (async function* () {
        yield* diffBlocks(upper, lowers(), opts);
      })(),
      { objectMode: false },
    );
  }

  async changes(key: string, opts: DiffOptions = {}): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>> {
    const m = this.activeMeta(key);
    return changes(
      `${this.activeDir(key)}/upper`,
      m.lowers.map((id) => this.fsDir(id)),
      opts,
    );
  }

  async activeUsage(key: string): Promise<number> {
    this.activeMeta(key);
    return diskUsage(`${this.activeDir(key)}/upper`);
  }

  /** `conflict` while the layer is mounted as an overlay (unmount it first). Copies of layers only it recorded go with it. */
  async removeActive(key: string): Promise<void> {
    const m = this.activeMeta(key);
    const upper = `${this.activeDir(key)}/upper`;
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    if (mountinfo.includes(`upperdir=${upper},`)) throw conflict(`writable layer ${key} is mounted`);
    const trash = await this.makeTemp('rm');
    await rename(this.activeDir(key), `${trash}/a`);
    // Gone with the rename; its files go in the background (off the path of every `run --rm`;
    // recover() finishes what a crash interrupts).
    rm(trash, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, path: trash }, 'removing a writable layer'));
    if (m.copies !== undefined) await this.mapped.collect(m.copies);
  }

  /** The records of all writable layers (one removed meanwhile is left out). */
  private async activeMetas(): Promise<ActiveMeta[]> {
    const out: ActiveMeta[] = [];
    for (const key of await this.activeKeys()) {
      try {
        out.push(this.activeMeta(key));
      } catch (err) {
        if (!isKind(err, 'notFound')) throw err;
      }
    }
    return out;
  }

  /** Keys of all writable layers. */
  async activeKeys(): Promise<string[]> {
    return (await readdirOrEmpty(this.activeRoot)).filter((k) => KEY_RE.test(k));
  }

  /** Folder of the files of a committed snapshot. */
  fsDir(chainId: string): string {
    return `${this.snapDir(chainId)}/fs`;
  }

  // ---- internals ----

  private get tmpDir(): string {
    return `${this.dir}/tmp`;
  }

  /** Where layers flushed later are unpacked before they are committed. */
  private get newDir(): string {
    return `${this.dir}/new`;
  }

  private get activeRoot(): string {
    return `${this.dir}/active`;
  }

  private snapDir(chainId: string): string {
    return `${this.dir}/${chainHex(chainId)}`;
  }

  private activeDir(key: string): string {
    checkKey(key);
    return `${this.activeRoot}/${key}`;
  }

  private linkPath(chainId: string): string {
    return `${this.dir}/l/${shortId(chainId)}`;
  }

  private overlayOf(key: string, lowers: readonly string[]): OverlayMount {
    const dir = this.activeDir(key);
    return { lowerDirs: lowers.map((id) => this.fsDir(id)), upperDir: `${dir}/upper`, workDir: `${dir}/work` };
  }

  /**
   * A new folder to build something in before it is renamed into place: in `<dir>/new` for a
   * layer that is flushed later (`spread`: a pull's, in a folder marked as the top of
   * directory trees, see topOfTrees), in `<dir>/tmp` for the rest (a layer flushed before it
   * is committed, a container's layer, a layer's chown'd copy, a probe, a removal's trash), which a block group of its own
   * would slow down (ext4 would read the group's bitmaps from the disk and write them again
   * with the layer).
   */
  private async makeTemp(what: 'apply' | 'spread' | 'prepare' | 'rm' | 'copy' | 'probe'): Promise<string> {
    const parent = what === 'spread' ? this.newDir : this.tmpDir;
    const p = `${parent}/${what === 'spread' ? 'apply' : what}-${randomBytes(8).toString('hex')}`;
    try {
      await mkdir(p, 0o700);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      await mkdir(parent, { recursive: true });
      if (parent === this.newDir) topOfTrees(parent);
      await mkdir(p, 0o700);
    }
    return p;
  }

  /** Read synchronously: a small local file, on the path of every container create and start. */
  private meta(chainId: string): SnapshotMeta {
    const path = `${this.snapDir(chainId)}/meta.json`;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`snapshot ${chainId} not found`, err);
      throw err;
    }
    const parsed = SnapshotMetaSchema.safeParse(parseJson(text));
    if (!parsed.success || parsed.data.chainId !== chainId) throw internal(`snapshot ${chainId}: corrupt ${path}`);
    return parsed.data;
  }

  /** Read synchronously, as meta(). */
  private activeMeta(key: string): ActiveMeta {
    const path = `${this.activeDir(key)}/meta.json`;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`writable layer ${key} not found`, err);
      throw err;
    }
    const parsed = ActiveMetaSchema.safeParse(parseJson(text));
    if (!parsed.success || parsed.data.key !== key) throw internal(`writable layer ${key}: corrupt ${path}`);
    return parsed.data;
  }

  /** The chain IDs of `chainId` and its ancestors, top-most first; notFound when one is missing. */
  private chain(chainId: string): string[] {
    const out: string[] = [];
    let id: string | null = chainId;
    while (id !== null) {
      if (out.length > 1000) throw internal(`snapshot ${chainId}: parent chain loops`);
      out.push(id);
      id = this.meta(id).parent;
    }
    return out;
  }

  private async ensureLink(chainId: string): Promise<void> {
    const path = this.linkPath(chainId);
    const want = `../${chainHex(chainId)}/fs`;
    for (;;) {
      try {
        const have = await readlink(path);
        if (have === want) return;
        throw internal(`snapshot link ${path} points to ${have}, not ${want}`);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      await mkdir(`${this.dir}/l`, { recursive: true });
      try {
        await symlink(want, path);
        return;
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err; // made meanwhile: check it
      }
    }
  }
}
