import { rm } from 'node:fs/promises';
import { isKind } from '../errors.js';
import { log } from '../log.js';
import { sameIdMap, type IdMap } from '../util/idmap.js';
import { IdmappedLayers } from './idmap.js';
import { LayerCopies, mapKey } from './layer-copies.js';
import { MAX_MOUNT_DATA, mountOverlay, overlayOptions } from './mount.js';
import { chainHex, type ActiveMeta } from './overlay-meta.js';
import type { OverlayMount, UsernsLayers } from './snapshotter.js';

/** What the mapped layers need of the snapshotter that owns them. */
export interface MappedLayersHost {
  /** The folder of a committed layer's files. */
  fsDir(chainId: string): string;
  /** A fresh folder under the snapshotter's tmp/ (removed by its recover() after a crash). */
  makeTemp(what: 'copy' | 'probe'): Promise<string>;
  /** Replace a writable layer's record, atomically and flushed. */
  writeActiveMeta(meta: ActiveMeta): Promise<void>;
  /** The records of every writable layer (the copies' references). */
  activeMetas(): Promise<ActiveMeta[]>;
}

/**
 * A writable layer's overlay with its lowers seen through a user namespace's mapping: idmapped
 * mounts of the layers (IdmappedLayers), or chown'd copies of them (LayerCopies) where the kernel
 * cannot idmap overlay lower dirs or `usernsLayers` says `copy`. With `auto`, whether idmapping
 * works is probed once, at the first mount that needs it. Owns the copies under `<dir>/idcopies`
 * and the scratch folder `<dir>/idmapped`; never touches a layer's own files.
 */
export class MappedLayers {
  private readonly idmapped: IdmappedLayers;
  private readonly copies: LayerCopies;
  /** With `auto`: whether idmapped layers work here, probed at the first mount that needs them. */
  private idmapWorks: Promise<boolean> | undefined;

  constructor(
    dir: string,
    private readonly usernsLayers: UsernsLayers,
    private readonly host: MappedLayersHost,
  ) {
    this.idmapped = new IdmappedLayers(`${dir}/idmapped`);
    this.copies = new LayerCopies(`${dir}/idcopies`, () => host.makeTemp('copy'), () => this.copiesInUse());
  }

  /** Detach what a crash left attached, and remove copies no writable layer records. */
  async recover(): Promise<void> {
    await this.idmapped.recover();
    await this.copies.collect();
  }

  /** Remove the copies of `map` that no writable layer records any longer. */
  collect(map: IdMap): Promise<void> {
    return this.copies.collect(map);
  }

  /** Remove every copy of a committed layer (it is being removed). */
  removeLayer(chainId: string): Promise<void> {
    return this.copies.removeLayer(chainId);
  }

  /** The overlay of a writable layer whose lowers are seen through `map`: idmapped, or copies (see the class's comment). */
  async mount(m: ActiveMeta, dirs: OverlayMount, target: string, map: IdMap): Promise<void> {
    if ((await this.layersMode(map)) === 'idmap') {
      try {
        await this.idmapped.mountOverlay(target, dirs, map);
      } catch (err) {
        if (this.usernsLayers !== 'auto' || !isKind(err, 'unavailable')) throw err;
        // The probe's filesystem could, this layer's cannot: copies from now on.
        log.info({ err: (err as Error).message }, 'idmapped layers unavailable: containers with a user namespace get chown\'d copies of the layers');
        this.idmapWorks = Promise.resolve(false);
        await this.mountCopies(m, dirs, target, map);
        return;
      }
      if (m.copies !== undefined) {
        // Mounted on copies before (another setting): they are no longer needed by this layer.
        await this.host.writeActiveMeta({ key: m.key, parent: m.parent, lowers: m.lowers });
        await this.copies.collect(m.copies);
      }
      return;
    }
    await this.mountCopies(m, dirs, target, map);
  }

  /** The overlay of a writable layer over the chown'd copies of its lowers for `map`, recorded first, made where missing. */
  private async mountCopies(m: ActiveMeta, dirs: OverlayMount, target: string, map: IdMap): Promise<void> {
    const previous = m.copies !== undefined && !sameIdMap(m.copies, map) ? m.copies : undefined;
    const lowers = await this.copies.locked(map, async () => {
      if (!sameIdMap(m.copies, map)) await this.host.writeActiveMeta({ ...m, copies: map });
      return this.copies.ensure(
        m.lowers.map((id) => ({ chainId: id, dir: this.host.fsDir(id) })),
        map,
      );
    });
    if (previous !== undefined) await this.copies.collect(previous);
    const viaCopies = { ...dirs, lowerDirs: lowers };
    if (Buffer.byteLength(overlayOptions(viaCopies)) <= MAX_MOUNT_DATA) {
      await mountOverlay(target, viaCopies);
      return;
    }
    await mountOverlay(target, { ...dirs, lowerDirs: m.lowers.map((id) => chainHex(id)) }, { cwd: this.copies.mapDir(map) });
  }

  /** How layers are seen through a mapping here: the setting, or with `auto` the probe's answer (made once). */
  private layersMode(map: IdMap): Promise<'idmap' | 'copy'> {
    if (this.usernsLayers !== 'auto') return Promise.resolve(this.usernsLayers);
    if (this.idmapWorks === undefined) {
      const probe = this.probeIdmap(map);
      this.idmapWorks = probe;
      probe.catch(() => {
        if (this.idmapWorks === probe) this.idmapWorks = undefined; // ask again at the next mount
      });
    }
    return this.idmapWorks.then((works) => (works ? 'idmap' : 'copy'));
  }

  private async probeIdmap(map: IdMap): Promise<boolean> {
    const work = await this.host.makeTemp('probe');
    try {
      const reason = await this.idmapped.probe(work, map);
      if (reason === null) log.debug('idmapped layers: overlayfs takes them here');
      else log.info({ reason }, 'idmapped layers unavailable: containers with a user namespace get chown\'d copies of the layers');
      return reason === null;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** The chain IDs of the copies writable layers record, by mapping key. */
  private async copiesInUse(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const m of await this.host.activeMetas()) {
      if (m.copies === undefined) continue;
      const k = mapKey(m.copies);
      const set = out.get(k) ?? new Set<string>();
      for (const id of m.lowers) set.add(id);
      out.set(k, set);
    }
    return out;
  }
}
