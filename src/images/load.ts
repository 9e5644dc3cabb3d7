import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract, type Header } from 'tar-stream';
import type { Descriptor } from '../content/content.js';
import { EngineError, invalid, withContext } from '../errors.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { ContentStore } from '../content/content.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { ImageEvents, ImageIngester, ImageReader, ImageTagger, Lease, LoadedImage } from './images.js';
import {
  familiarName,
  parseReference,
  type Reference,
  referenceString,
  withDefaultTag,
} from './reference.js';
import { isDestroyed, writable } from '../util/streams.js';
import { decompressed, peek, sniff } from '../util/decompress.js';
import { drain } from './streams.js';
import {
  Annotation,
  ArchiveManifestSchema,
  hostPlatform,
  IndexSchema,
  isIndexMediaType,
  ManifestSchema,
  MediaType,
  OciImageSchema,
  parseJsonAs,
  type OciIndex,
  type OciManifest,
} from './types.js';

/**
 * `docker load` archives.
 *
 * Load reads both layouts Docker writes: Docker 25+ (`oci-layout`, `index.json`,
 * `blobs/sha256/<hex>`, plus `manifest.json` naming config and layers by blob path) and the
 * older one (`manifest.json`, `<id>.json` configs, `<layer id>/layer.tar`, maybe symlinked to
 * each other), and a plain OCI layout (`index.json` only). Entries come in any order, so every
 * file is first spooled into the content store (checked against its name when the name is a
 * digest), then the images are assembled: layers unpacked in order and checked against the
 * config's diff_ids. Tags move only once every image of the archive is verified; a broken
 * archive leaves no tag moved and removes what it spooled.
 *
 * (save.ts writes archives.)
 */

/** What a load needs: the ingest role, a lookup and the tagger, and the stores it spools into. */
export type LoadDeps = ImageIngester & Pick<ImageReader, 'resolve'> & Pick<ImageTagger, 'setTag'> & ImageEvents & {
  content: ContentStore;
  snapshots: Snapshotter;
};

/** Files kept in memory while reading an archive: metadata only (manifest.json, configs, ...). */
const MAX_METADATA_FILE = 32 * 1024 * 1024;
const MAX_METADATA_TOTAL = 128 * 1024 * 1024;

type ArchiveFile =
  | { kind: 'blob'; digest: string; size: number }
  | { kind: 'data'; data: Buffer }
  | { kind: 'link'; target: string };

interface PlannedImage {
  configDigest: string;
  /** Blob digests of the layers as found in the archive (maybe compressed). */
  layerBlobs: string[];
  diffIds: string[];
  tags: Reference[];
  /** An OCI manifest of the archive that describes exactly this image, when there is one. */
  manifest?: Descriptor;
}

export async function loadArchive(svc: LoadDeps, archive: Readable, onLoaded?: (image: LoadedImage) => void): Promise<LoadedImage[]> {
  const lease = svc.lease();
  const spooled: string[] = [];
  const newChains: string[] = [];
  let ok = false;
  try {
    const files = await readArchive(svc, archive, lease, spooled);
    const plans = await planImages(svc, files, lease, spooled);
    // Unpack every layer of every image before any image is recorded or tagged.
    const layersOf = new Map<string, Descriptor[]>();
    for (const plan of plans) layersOf.set(plan.configDigest, await unpackLayers(svc, plan, lease, newChains));
    const loaded: LoadedImage[] = [];
    for (const plan of plans) {
      const layers = layersOf.get(plan.configDigest)!;
      const reuse = plan.manifest && sameDigests(plan.layerBlobs, layers) ? plan.manifest : undefined;
      const image = await svc.createImage({ configDigest: plan.configDigest, layers, ...(reuse ? { manifest: reuse } : {}) });
      const result: LoadedImage = { id: image.id, tags: [], replaced: [] };
      for (const tag of plan.tags) {
        const key = referenceString(tag);
        const before = await svc.resolve(key).then((i) => i.id, () => undefined);
        if (before !== undefined && before !== image.id) result.replaced.push({ tag: familiarName(tag), previous: before });
        await svc.setTag(key, image.id, 'load');
        result.tags.push(familiarName(tag));
      }
      await svc.emit('load', image.id, image.id);
      loaded.push(result);
      onLoaded?.(result);
    }
    ok = true;
    return loaded;
  } finally {
    lease.release();
    // Whatever the archive brought that no image uses now (compressed copies, foreign
    // manifests, everything after a failure) goes away again.
    await svc.discardUnused(spooled, ok ? [] : newChains).catch((err: unknown) => {
      log.warn({ err }, 'could not clean up after a load');
    });
  }
}

/** Spool the archive's files: metadata into memory, everything else into the content store. */
async function readArchive(svc: LoadDeps, input: Readable, lease: Lease, spooled: string[]): Promise<Map<string, ArchiveFile>> {
  const files = new Map<string, ArchiveFile>();
  let metadataBytes = 0;
  const { stream } = await decompressed(input, 'archive');
  const ex = tarExtract();
  let sourceError: unknown;
  let tarError: unknown;
  ex.on('error', (err: unknown) => {
    tarError ??= err;
  });
  const feeding = (async () => {
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (isDestroyed(ex)) return;
        if (!ex.write(chunk)) await writable(ex);
      }
      ex.end(null);
    } catch (err) {
      sourceError = err;
      ex.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  try {
    for await (const entry of ex as AsyncIterable<TarEntry>) {
      const name = cleanPath(entry.header.name);
      const type = entry.header.type;
      if (name === '' || type === 'directory') {
        await discard(entry);
        continue;
      }
      if (type === 'symlink' || type === 'link') {
        const target = entry.header.linkname ?? '';
        files.set(name, { kind: 'link', target: type === 'symlink' ? cleanPath(posix.join(posix.dirname(name), target)) : cleanPath(target) });
        await discard(entry);
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        await discard(entry);
        continue;
      }
      if (isMetadataPath(name)) {
        const size = entry.header.size ?? 0;
        metadataBytes += size;
        if (size > MAX_METADATA_FILE) throw invalid(`invalid archive: ${name} is too large (${size} bytes)`);
        if (metadataBytes > MAX_METADATA_TOTAL) throw invalid(`invalid archive: more than ${MAX_METADATA_TOTAL} bytes of metadata files`);
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c);
        files.set(name, { kind: 'data', data: Buffer.concat(chunks) });
        continue;
      }
      const hex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)?.[1];
      const expected = hex ? `sha256:${hex}` : undefined;
      if (expected && (await svc.content.has(expected))) {
        // Already stored: this copy is not kept, but a corrupt archive is still refused.
        lease.addBlob(expected);
        const actual = await digestOf(entry);
        if (actual !== expected) throw invalid(`invalid archive: ${expected}: digest mismatch: content hashes to ${actual}`);
        files.set(name, { kind: 'blob', digest: expected, size: entry.header.size ?? 0 });
        continue;
      }
      let info;
      try {
        info = await svc.content.ingest(entry, { ...(expected ? { expectedDigest: expected } : {}), expectedSize: entry.header.size ?? 0 });
      } catch (err) {
        throw withContext(expected ? 'invalid archive' : `invalid archive: ${name}`, err);
      }
      lease.addBlob(info.digest);
      spooled.push(info.digest);
      files.set(name, { kind: 'blob', digest: info.digest, size: info.size });
    }
  } catch (err) {
    ex.destroy();
    stream.destroy();
    await feeding;
    // Our own verdict on an entry (a file too large, a digest mismatch) wins over the stream
    // errors that stopping caused; a failure of the stream itself is told as the stream's.
    const verdict = err instanceof EngineError && err.kind !== 'internal';
    throw asArchiveError(verdict ? err : (sourceError ?? tarError ?? err));
  }
  await feeding;
  if (sourceError !== undefined) throw asArchiveError(sourceError);
  return files;
}

type TarEntry = AsyncIterable<Buffer> & { header: Header };

async function digestOf(entry: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of entry) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

async function discard(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of entry) {
    // skipped
  }
}


/** Errors of the tar parser and of the request body become `invalid`; our own keep their kind. */
function asArchiveError(err: unknown): Error {
  if (err instanceof EngineError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return invalid(`invalid archive: ${msg.charAt(0).toLowerCase()}${msg.slice(1)}`, err);
}

/** Docker 25+ keeps blobs under blobs/; everything else small (manifest.json, <id>.json, <layer>/json) is metadata. */
function isMetadataPath(name: string): boolean {
  if (name.startsWith('blobs/')) return false;
  // Top level: manifest.json, index.json, <config>.json, repositories, oci-layout. A layer tar
  // may sit at the top level too (manifest.json names it): that one is a blob.
  if (!name.includes('/')) return name.endsWith('.json') || name === 'repositories' || name === 'oci-layout';
  return /\/(json|VERSION)$/.test(name);
}

function cleanPath(p: string): string {
  const n = posix.normalize(`/${p}`).slice(1);
  return n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Follow links (symlinks and hard links) to a file; undefined when it is not in the archive. */
function lookup(files: Map<string, ArchiveFile>, name: string): Exclude<ArchiveFile, { kind: 'link' }> | undefined {
  let current = cleanPath(name);
  for (let hops = 0; hops < 16; hops++) {
    const f = files.get(current);
    if (!f) return undefined;
    if (f.kind !== 'link') return f;
    current = f.target;
  }
  return undefined;
}

/** Work out which images the archive holds, from manifest.json or else from index.json. */
async function planImages(
  svc: LoadDeps,
  files: Map<string, ArchiveFile>,
  lease: Lease,
  spooled: string[],
): Promise<PlannedImage[]> {
  const manifestFile = lookup(files, 'manifest.json');
  const indexFile = lookup(files, 'index.json');
  const ociManifests = indexFile ? await indexedManifests(svc, files, indexFile) : [];
  const plans: PlannedImage[] = [];

  const blobDigest = async (path: string, what: string): Promise<string> => {
    const f = lookup(files, path);
    if (!f) throw invalid(`invalid archive: ${what} ${path} is missing`);
    if (f.kind === 'blob') return f.digest;
    const info = await svc.content.put(f.data);
    lease.addBlob(info.digest);
    spooled.push(info.digest);
    return info.digest;
  };

  if (manifestFile) {
    const entries = parseJsonAs(ArchiveManifestSchema, await fileData(svc, manifestFile), 'invalid archive: manifest.json');
    for (const entry of entries) {
      const configDigest = await blobDigest(entry.Config, 'config');
      const config = parseJsonAs(OciImageSchema, await svc.content.read(configDigest), `invalid archive: config ${entry.Config}`);
      const diffIds = config.rootfs.diff_ids;
      if (entry.Layers.length !== diffIds.length) {
        throw invalid(`invalid archive: ${entry.Config} lists ${diffIds.length} layers but manifest.json has ${entry.Layers.length}`);
      }
      const layerBlobs: string[] = [];
      for (const path of entry.Layers) layerBlobs.push(await blobDigest(path, 'layer'));
      const tags = (entry.RepoTags ?? []).map((t) => parseTag(t));
      const plan: PlannedImage = { configDigest, layerBlobs, diffIds, tags };
      const oci = ociManifests.find((m) => m.manifest.config.digest === configDigest);
      if (oci) plan.manifest = oci.descriptor;
      plans.push(plan);
    }
    return plans;
  }
  if (!indexFile) throw invalid('invalid archive: does not contain a manifest.json');

  // A plain OCI layout: one image per manifest, named by its annotations.
  const byConfig = new Map<string, PlannedImage>();
  for (const { manifest, descriptor, names } of ociManifests) {
    const configDigest = manifest.config.digest;
    const config = parseJsonAs(OciImageSchema, await svc.content.read(configDigest).catch(() => {
      throw invalid(`invalid archive: config ${configDigest} is missing`);
    }), `invalid archive: config ${configDigest}`);
    let plan = byConfig.get(configDigest);
    if (!plan) {
      const layerBlobs = manifest.layers.map((l) => l.digest);
      if (layerBlobs.length !== config.rootfs.diff_ids.length) throw invalid(`invalid archive: manifest ${descriptor.digest} does not match its config`);
      plan = { configDigest, layerBlobs, diffIds: config.rootfs.diff_ids, tags: [], manifest: descriptor };
      byConfig.set(configDigest, plan);
      plans.push(plan);
    }
    plan.tags.push(...names);
  }
  if (plans.length === 0) throw invalid('invalid archive: index.json names no image for this platform');
  return plans;
}

function parseTag(t: string): Reference {
  try {
    const ref = withDefaultTag(parseReference(t));
    if (ref.digest !== undefined) throw invalid('a digest is not a tag');
    return ref;
  } catch (err) {
    throw withContext(`invalid archive: invalid tag ${JSON.stringify(t)}`, err);
  }
}

async function fileData(svc: LoadDeps, f: Exclude<ArchiveFile, { kind: 'link' }>): Promise<Buffer> {
  return f.kind === 'data' ? f.data : svc.content.read(f.digest);
}

interface IndexedManifest {
  descriptor: Descriptor;
  manifest: OciManifest;
  names: Reference[];
}

/**
 * The image manifests index.json points at (through nested indexes, choosing this platform),
 * with the names their annotations give. Manifests whose blobs are absent are skipped.
 */
async function indexedManifests(svc: LoadDeps, files: Map<string, ArchiveFile>, indexFile: Exclude<ArchiveFile, { kind: 'link' }>): Promise<IndexedManifest[]> {
  const index = parseJsonAs(IndexSchema, await fileData(svc, indexFile), 'invalid archive: index.json');
  const out: IndexedManifest[] = [];
  const inArchive = (digest: string): boolean => files.has(`blobs/sha256/${digest.replace(/^sha256:/, '')}`);
  const visit = async (idx: OciIndex, names: Reference[], depth: number): Promise<void> => {
    if (depth > 4) return;
    const host = hostPlatform();
    const candidates = idx.manifests.filter((d) => !d.platform || (d.platform.os === host.os && d.platform.architecture === host.architecture));
    for (const d of candidates) {
      if (!inArchive(d.digest)) continue;
      const own = depth === 0 ? namesOf(d.annotations) : names;
      const data = await svc.content.read(d.digest);
      if (isIndexMediaType(d.mediaType)) {
        await visit(parseJsonAs(IndexSchema, data, `invalid archive: index ${d.digest}`), own, depth + 1);
        continue;
      }
      const m = parseJsonAs(ManifestSchema, data, `invalid archive: manifest ${d.digest}`);
      if (!inArchive(m.config.digest)) continue; // e.g. attestations without their blobs
      if (m.config.mediaType !== MediaType.ociConfig && m.config.mediaType !== MediaType.dockerConfig) continue;
      out.push({ descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, manifest: m, names: own });
    }
  };
  await visit(index, [], 0);
  return out;
}

/** The name of an index.json entry: `io.containerd.image.name`, or a ref.name that is a full reference. */
function namesOf(annotations: Record<string, string> | undefined): Reference[] {
  const full = annotations?.[Annotation.imageName] ?? annotations?.[Annotation.refName];
  if (!full || !/[:/]/.test(full)) return [];
  try {
    const ref = withDefaultTag(parseReference(full));
    return ref.digest === undefined ? [ref] : [];
  } catch {
    return [];
  }
}

/**
 * Unpack the layers of one planned image in order, checking each against its diff_id. A
 * compressed layer is stored again uncompressed (what the image keeps); a plain one is used
 * as spooled. Returns the layer descriptors for the image's manifest.
 */
async function unpackLayers(svc: LoadDeps, plan: PlannedImage, lease: Lease, newChains: string[]): Promise<Descriptor[]> {
  const chains = chainIds(plan.diffIds);
  const out: Descriptor[] = [];
  for (let i = 0; i < plan.diffIds.length; i++) {
    const diffId = plan.diffIds[i]!;
    const blob = plan.layerBlobs[i]!;
    const parent = i === 0 ? null : chains[i - 1]!;
    const existed = await svc.snapshots.has(chains[i]!);
    const size = (await svc.content.info(blob)).size;
    if (blob === diffId && existed) {
      lease.addSnapshot(chains[i]!);
      out.push({ mediaType: MediaType.ociLayer, digest: blob, size });
      continue;
    }
    const { head, stream: source } = await peek(await svc.content.createReadStream(blob), 6);
    try {
      if (sniff(head) === 'none') {
        const applied = await svc.snapshots.applyLayer(parent, source, diffId);
        drain(source);
        lease.addSnapshot(applied.chainId);
        out.push({ mediaType: MediaType.ociLayer, digest: blob, size });
      } else {
        const layer = await svc.ingestLayer(parent, source, { lease, expectedDiffId: diffId });
        out.push(layer.descriptor);
      }
    } catch (err) {
      source.destroy();
      throw withContext(`invalid archive: layer ${i + 1} of image ${plan.configDigest}`, err);
    }
    if (!existed) newChains.push(chains[i]!);
  }
  return out;
}

function sameDigests(a: readonly string[], b: readonly Descriptor[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]!.digest);
}
