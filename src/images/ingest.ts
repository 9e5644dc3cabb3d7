import type { Readable } from 'node:stream';
import type { Descriptor } from '../content/content.js';
import { internal, invalid } from '../errors.js';
import { chainIds } from '../snapshots/chain.js';
import { discardUnused } from './gc.js';
import type { CreateImageOptions, Image, IngestedLayer, Lease } from './images.js';
import type { ImageRecord, ImageRecords } from './records.js';
import { shortId } from './reference.js';
import { decompressed } from '../util/decompress.js';
import { drain, tee } from './streams.js';
import { ManifestSchema, MediaType, parseJsonAs } from './types.js';

/**
 * Ingest: leases, layers unpacked and stored in one pass, and image records created from
 * blobs and snapshots in place. Nothing here moves a tag.
 */

/** A new lease over the records' lease counts (see Lease). */
export function createLease(state: ImageRecords): Lease {
  const blobs: string[] = [];
  const snaps: string[] = [];
  let released = false;
  const inc = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const dec = (m: Map<string, number>, k: string): void => {
    const n = (m.get(k) ?? 0) - 1;
    if (n <= 0) m.delete(k);
    else m.set(k, n);
  };
  return {
    addBlob: (digest) => {
      if (released) throw internal('lease used after release');
      blobs.push(digest);
      inc(state.leasedBlobs, digest);
    },
    addSnapshot: (chainId) => {
      if (released) throw internal('lease used after release');
      snaps.push(chainId);
      inc(state.leasedSnapshots, chainId);
    },
    release: () => {
      if (released) return;
      released = true;
      for (const d of blobs) dec(state.leasedBlobs, d);
      for (const c of snaps) dec(state.leasedSnapshots, c);
    },
  };
}

/** See ImageIngester.ingestLayer. */
export async function ingestLayer(
  state: ImageRecords,
  parent: string | null,
  tar: Readable,
  opts: { lease?: Lease; expectedDiffId?: string } = {},
): Promise<IngestedLayer> {
  const { lease, expectedDiffId } = opts;
  const { stream } = await decompressed(tar);
  const [toContent, toSnapshot] = tee(stream);
  const applying = state.snapshots.applyLayer(parent, toSnapshot, expectedDiffId).then((applied) => {
    drain(toSnapshot);
    return applied;
  });
  const storing = state.content.ingest(toContent, expectedDiffId !== undefined ? { expectedDigest: expectedDiffId } : undefined);
  let applied;
  let blob;
  try {
    [applied, blob] = await Promise.all([applying, storing]);
  } catch (err) {
    toContent.destroy();
    toSnapshot.destroy();
    stream.destroy();
    // Let the other side settle before reporting, and drop what it stored for nothing.
    const [a, b] = await Promise.allSettled([applying, storing]);
    await discardUnused(state, b.status === 'fulfilled' ? [b.value.digest] : [], a.status === 'fulfilled' ? [a.value.chainId] : []);
    // The unpacker's reason (a broken tar, a DiffID mismatch) is the one to report; the
    // other side only saw its stream stop.
    if (a.status === 'rejected') throw a.reason as Error;
    throw err;
  }
  if (blob.digest !== applied.diffId) {
    throw internal(`layer digest ${blob.digest} differs from its DiffID ${applied.diffId}`);
  }
  lease?.addBlob(blob.digest);
  lease?.addSnapshot(applied.chainId);
  const size = await state.snapshots.usage(applied.chainId);
  return {
    descriptor: { mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size },
    diffId: applied.diffId,
    chainId: applied.chainId,
    size,
  };
}

/** See ImageIngester.createImage. */
export async function createImage(state: ImageRecords, opts: CreateImageOptions): Promise<Image> {
  if ((opts.config === undefined) === (opts.configDigest === undefined)) {
    throw internal('createImage needs exactly one of config and configDigest');
  }
  const { content, snapshots } = state;
  const lease = createLease(state);
  try {
    let id: string;
    let configSize: number;
    if (opts.config !== undefined) {
      const info = await content.put(JSON.stringify(opts.config));
      id = info.digest;
      configSize = info.size;
    } else {
      id = opts.configDigest!;
      configSize = (await content.info(id)).size;
    }
    lease.addBlob(id);
    const config = await state.configOf(id);
    const diffIds = config.rootfs.diff_ids;
    if (opts.layers.length !== diffIds.length) {
      throw invalid(`image ${shortId(id)}: ${opts.layers.length} layers for ${diffIds.length} diff_ids`);
    }
    for (const layer of opts.layers) {
      if (!(await content.has(layer.digest))) throw invalid(`image ${shortId(id)}: layer blob ${layer.digest} is missing`);
    }
    const chains = chainIds(diffIds);
    for (const chain of chains) {
      if (!(await snapshots.has(chain))) throw invalid(`image ${shortId(id)}: layer ${chain} is not unpacked`);
    }
    let manifest: Descriptor;
    if (opts.manifest) {
      const m = parseJsonAs(ManifestSchema, await content.read(opts.manifest.digest), `manifest ${opts.manifest.digest}`);
      if (m.config.digest !== id) throw invalid(`manifest ${opts.manifest.digest} is not the manifest of image ${id}`);
      manifest = { mediaType: opts.manifest.mediaType, digest: opts.manifest.digest, size: opts.manifest.size };
    } else {
      const m = {
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: id, size: configSize },
        layers: opts.layers.map((l) => descriptorOf(l)),
      };
      const info = await content.put(JSON.stringify(m));
      manifest = { mediaType: MediaType.ociManifest, digest: info.digest, size: info.size };
    }
    lease.addBlob(manifest.digest);
    const layerSizes = await Promise.all(chains.map((c) => snapshots.usage(c)));
    return await state.exclusive(async () => {
      const existing = state.records.get(id);
      if (existing && !existing.retained) return state.toImage(existing);
      const rec: ImageRecord = {
        id,
        parent: opts.parent ?? existing?.parent ?? '',
        manifest,
        layers: opts.layers.map((l) => descriptorOf(l)),
        diffIds,
        layerSizes,
        created: config.created ?? '',
        addedAt: new Date().toISOString(),
        lastTagTime: '',
        os: config.os,
        architecture: config.architecture,
      };
      if (config.variant !== undefined) rec.variant = config.variant;
      await state.saveRecord(rec);
      state.records.set(id, rec);
      return state.toImage(rec);
    });
  } finally {
    lease.release();
  }
}

function descriptorOf(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations) out.annotations = d.annotations;
  return out;
}
