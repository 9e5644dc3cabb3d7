import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { LocalContentStore } from '../content/local.js';
import { OverlaySnapshotter } from '../snapshots/overlay.js';
import { tarOf as snapshotTarOf, type TarSpec } from '../snapshots/test-helpers.js';
import type { ImageUsage } from './images.js';
import { LocalImageService } from './store.js';

/** Test helpers of the images part (not used by the engine). */

export type TarEntrySpec = TarSpec;
/** A tar built with tar-stream's pack, as bytes (the snapshot tests' helper). */
export const tarOf = snapshotTarOf;

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const gzip = (b: Buffer): Buffer => gzipSync(b);

export function streamOf(b: Buffer, chunk = 7000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) parts.push(b.subarray(i, i + chunk));
  return Readable.from(parts);
}

export interface Harness {
  root: string;
  svc: LocalImageService;
  content: LocalContentStore;
  snapshots: OverlaySnapshotter;
  events: Array<{ Action: string; ID: string; name: string | undefined }>;
  /** What the usage callback answers, per image ID. */
  usage: Map<string, ImageUsage>;
  /** A second service over the same root (a daemon restart). */
  reopen(): Promise<LocalImageService>;
}

/** A service over a fresh temp root with the real content store and overlay snapshotter; removed after the test. */
export async function harness(t: TestContext): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'pimg-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const content = new LocalContentStore(root);
  const snapshots = new OverlaySnapshotter(root);
  const events: Harness['events'] = [];
  const usage = new Map<string, ImageUsage>();
  const make = async (): Promise<LocalImageService> => {
    const svc = new LocalImageService({
      root,
      content,
      snapshots,
      emit: (e) => events.push({ Action: e.Action, ID: e.Actor.ID, name: e.Actor.Attributes.name }),
      usage: (id) => usage.get(id) ?? { any: false, running: false, containerIds: [] },
    });
    await svc.init();
    return svc;
  };
  return { root, svc: await make(), content, snapshots, events, usage, reopen: make };
}

/** Blobs, snapshots, image records and references on disk: to assert that nothing changed. */
export async function stateOf(h: Harness): Promise<{ blobs: string[]; snapshots: string[]; meta: string[]; images: string[] }> {
  const blobs = (await h.content.list()).map((b) => b.digest).sort();
  const snapshots = (await h.snapshots.list()).map((s) => s.chainId).sort();
  const meta = (await readdir(join(h.root, 'images', 'meta'))).sort();
  const images = (await h.svc.list()).map((i) => `${i.id} ${i.repoTags.join(',')}`).sort();
  return { blobs, snapshots, meta, images };
}

/** A Docker 25+ `docker save` archive of the given images, entries in the given order. */
export interface ArchiveImage {
  config: Record<string, unknown>;
  layers: Buffer[];
  tags: string[];
}

export async function docker25Archive(images: ArchiveImage[], opts: { metadataFirst?: boolean } = {}): Promise<Buffer> {
  const blobs = new Map<string, Buffer>();
  const add = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const manifestJson: unknown[] = [];
  const index: Array<Record<string, unknown>> = [];
  for (const img of images) {
    const layerDigests = img.layers.map(add);
    const configBytes = Buffer.from(JSON.stringify(img.config));
    const configDigest = add(configBytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length },
        layers: img.layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigests[i], size: l.length })),
      }),
    );
    const manifestDigest = add(manifest);
    for (const tag of img.tags) {
      index.push({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag.split(':').pop() },
      });
    }
    manifestJson.push({
      Config: `blobs/sha256/${configDigest.slice(7)}`,
      RepoTags: img.tags,
      Layers: layerDigests.map((d) => `blobs/sha256/${d.slice(7)}`),
    });
  }
  const meta: TarEntrySpec[] = [
    { name: 'manifest.json', data: JSON.stringify(manifestJson) },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index }) },
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
  ];
  const blobEntries: TarEntrySpec[] = [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...[...blobs].map(([d, data]) => ({ name: `blobs/sha256/${d.slice(7)}`, data })),
  ];
  return tarOf(opts.metadataFirst ? [...meta, ...blobEntries] : [...blobEntries, ...meta]);
}

/** A minimal image config for the given layer tars (uncompressed). */
export function configFor(layers: Buffer[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
    history: layers.map((_, i) => ({ created: '2024-01-02T03:04:05Z', created_by: `/bin/sh -c step ${i}` })),
    ...extra,
  };
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
