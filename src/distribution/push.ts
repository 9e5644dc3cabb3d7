import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import type { Descriptor } from '../content/content.js';
import { invalid, notFound, withContext } from '../errors.js';
import { log } from '../log.js';
import type { Image, Lease } from '../images/images.js';
import { familiarName, parseReference, referenceString, repositoryName, withDefaultTag } from '../images/reference.js';
import { MediaType } from '../images/types.js';
import { gzip } from '../util/gzip.js';
import type { AuthConfig } from './auth.js';
import type { DistributionDeps, PushedTag } from './distribution.js';
import { layerStatus, progressMeter, shortDigest, type ProgressSink } from './progress.js';
import { sha256 } from './manifests.js';
import { mapLimit } from '../util/limit.js';
import { RegistryClient } from './registry.js';
import { COALESCE_BYTES, coalesce, oneAfterTheOther } from './chunks.js';

function isCompressed(mediaType: string): boolean {
  return mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip') || mediaType.endsWith('+zstd');
}

/**
 * Push `name[:tag]`: with a tag that tag, without one every local tag of the repository.
 * Throws notFound (Docker's words) when no such tag exists locally.
 */
export async function push(deps: DistributionDeps, opts: { reference: string; auth?: AuthConfig }, progress: ProgressSink): Promise<PushedTag[]> {
  const parsed = parseReference(opts.reference);
  if (parsed.digest !== undefined) throw invalid(`cannot push a digest reference (${opts.reference})`);
  const repoName = repositoryName(parsed);
  const targets: Array<{ tag: string; image: Image }> = [];
  if (parsed.tag !== undefined) {
    const image = await deps.images.resolve(referenceString(parsed)).catch(() => undefined);
    if (!image) throw notFound(`An image does not exist locally with the tag: ${familiarName(parsed)}`);
    targets.push({ tag: parsed.tag, image });
  } else {
    for (const image of await deps.images.list()) {
      for (const t of image.repoTags) {
        const r = parseReference(t);
        if (repositoryName(r) === repoName && r.tag !== undefined) targets.push({ tag: r.tag, image });
      }
    }
    targets.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    if (targets.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(withDefaultTag(parsed))}`);
  }
  const client = new RegistryClient(parsed.domain, { auth: opts.auth, insecure: deps.insecure });
  progress({ status: `The push refers to repository [${repoName}]` });
  const out: PushedTag[] = [];
  for (const { tag, image } of targets) {
    const pushed = await pushImage(deps, client, parsed.path, image, tag, progress);
    out.push(pushed);
    progress({ status: `${tag}: digest: ${pushed.digest} size: ${pushed.size}` });
    progress({ progressDetail: {}, aux: { Tag: tag, Digest: pushed.digest, Size: pushed.size } });
    await deps.images.setTag(`${repoName}@${pushed.digest}`, image.id, 'tag');
    await deps.images.emit?.('push', image.id, familiarName({ ...parsed, tag }));
  }
  return out;
}

async function pushImage(deps: DistributionDeps, client: RegistryClient, repo: string, image: Image, tag: string, progress: ProgressSink): Promise<PushedTag> {
  const domain = client.domain;
  const fullRepo = `${domain}/${repo}`;
  const ids = image.diffIds.map((d) => shortDigest(d));
  for (const id of [...new Set(ids)].reverse()) layerStatus(progress, id, 'Preparing');
  const limit = deps.maxUploads ?? 5;
  const pushed = await mapLimit(image.layers, limit, async (local, i): Promise<Descriptor> => {
    const diffId = image.diffIds[i]!;
    const id = ids[i]!;
    // Keeps a compressed blob made for the push from a collection (LayerCache.collect) while it is uploaded.
    const lease = deps.images.lease();
    try {
      return await pushLayer(deps, lease, client, repo, fullRepo, local, diffId, id, progress);
    } catch (err) {
      throw withContext(`push ${domain}/${repo}:${tag}: layer ${diffId}`, err);
    } finally {
      lease.release();
    }
  });

  // The config blob.
  const configInfo = await deps.content.info(image.id);
  if (!(await client.hasBlob(repo, image.id))) {
    const start = await client.startUpload(repo);
    if (!start.mounted) await client.putBlob(repo, start.location, image.id, configInfo.size, await deps.content.createReadStream(image.id));
  }

  // The manifest: the stored one when its layers are the ones pushed, else a new one.
  let bytes: Buffer;
  let mediaType: string;
  const sameLayers = pushed.every((d, i) => d.digest === image.layers[i]?.digest);
  if (sameLayers && isCompressedManifest(image)) {
    bytes = await deps.content.read(image.manifest.digest);
    mediaType = image.manifest.mediaType;
  } else {
    const zstd = pushed.some((d) => d.mediaType.endsWith('+zstd'));
    const manifest = zstd
      ? {
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: { mediaType: MediaType.ociConfig, digest: image.id, size: configInfo.size },
          layers: pushed.map((d) => ({ mediaType: d.mediaType.endsWith('+zstd') ? MediaType.ociLayerZstd : isCompressed(d.mediaType) ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: d.digest, size: d.size })),
        }
      : {
          schemaVersion: 2,
          mediaType: MediaType.dockerManifest,
          config: { mediaType: MediaType.dockerConfig, digest: image.id, size: configInfo.size },
          layers: pushed.map((d) => ({ mediaType: isCompressed(d.mediaType) ? MediaType.dockerLayerGzip : MediaType.dockerLayer, digest: d.digest, size: d.size })),
        };
    bytes = Buffer.from(JSON.stringify(manifest, null, 3));
    mediaType = manifest.mediaType;
    await deps.content.put(bytes);
  }
  const digest = sha256(bytes);
  const answered = await client.putManifest(repo, tag, bytes, mediaType);
  if (answered !== '' && answered !== digest) throw invalid(`push ${domain}/${repo}:${tag}: the registry answered digest ${answered} for a manifest of digest ${digest}`);
  return { tag, digest, size: bytes.length };
}

/** Whether the image's stored manifest lists its layers compressed (a pulled image), so it can be pushed as is. */
function isCompressedManifest(image: Image): boolean {
  return image.layers.length === 0 || image.layers.every((l) => isCompressed(l.mediaType));
}

/**
 * Push one layer; returns the descriptor of the blob the registry now has. A local layer
 * stored uncompressed is pushed as the gzip blob made for it at its first push; when that
 * blob was removed since (its image was deleted, LayerCache.collect) but its digest is
 * remembered, the registry is asked for it before compressing again.
 */
async function pushLayer(
  deps: DistributionDeps,
  lease: Lease,
  client: RegistryClient,
  repo: string,
  fullRepo: string,
  local: Descriptor,
  diffId: string,
  id: string,
  progress: ProgressSink,
): Promise<Descriptor> {
  const t0 = Date.now();
  let desc: Descriptor | undefined;
  let stored = false;
  if (isCompressed(local.mediaType)) {
    desc = local;
    stored = true;
  } else {
    desc = deps.layers.compressedOf(diffId);
    if (desc) {
      lease.addBlob(desc.digest);
      stored = await deps.content.has(desc.digest);
    }
  }
  let location: string | undefined;
  if (desc) {
    const remote = await reuseRemote(deps, client, repo, fullRepo, desc, id, progress);
    if (remote.done) return desc;
    location = remote.location;
  }
  if (location === undefined) location = await newUpload(client, repo);
  if (desc && stored) {
    if (await uploadStored(deps, client, repo, location, desc, !isCompressed(local.mediaType), id, progress)) {
      return pushed(deps, fullRepo, desc, id, t0, progress);
    }
    // Made for an earlier push and cut short by a crash (it is not fsynced): made again.
    location = await newUpload(client, repo);
  }
  // Compressed as it is uploaded: the registry takes the bytes while igzip makes them.
  desc = await compressAndUpload(deps, lease, client, repo, location, local, diffId, id, progress);
  return pushed(deps, fullRepo, desc, id, t0, progress);
}

async function pushed(deps: DistributionDeps, fullRepo: string, desc: Descriptor, id: string, t0: number, progress: ProgressSink): Promise<Descriptor> {
  layerStatus(progress, id, 'Pushed');
  log.debug({ layer: id, ms: Date.now() - t0, bytes: desc.size }, 'push: layer uploaded');
  await deps.layers.rememberRepo(desc.digest, fullRepo);
  return desc;
}

/**
 * Upload a stored blob in one PUT with its length, checking its digest on the way. False
 * (the upload cancelled, the blob removed) when a blob `made` for an earlier push does not
 * hash to its digest; any other failure cancels the upload and throws.
 */
async function uploadStored(
  deps: DistributionDeps,
  client: RegistryClient,
  repo: string,
  location: string,
  desc: Descriptor,
  made: boolean,
  id: string,
  progress: ProgressSink,
): Promise<boolean> {
  const file = await deps.content.createReadStream(desc.digest);
  const check = digestCheck(desc.digest);
  const meter = progressMeter(progress, id, 'Pushing', desc.size);
  file.on('error', (err) => check.destroy(err));
  check.on('error', (err) => meter.destroy(err));
  try {
    await client.putBlob(repo, location, desc.digest, desc.size, file.pipe(check).pipe(meter));
    return true;
  } catch (err) {
    file.destroy();
    await client.cancelUpload(repo, location);
    if (!(made && check.mismatch)) throw err;
    log.warn({ layer: id, digest: desc.digest }, 'push: the stored compressed layer is damaged; compressing it again');
    await deps.content.delete(desc.digest);
    return false;
  }
}

/**
 * Whether the registry has the blob already: in this repository, or in another one it was
 * pushed to, mounted from there (Docker's messages either way). When a mount was refused, the
 * upload the registry started instead is returned, to upload into.
 */
async function reuseRemote(
  deps: DistributionDeps,
  client: RegistryClient,
  repo: string,
  fullRepo: string,
  desc: Descriptor,
  id: string,
  progress: ProgressSink,
): Promise<{ done: true } | { done: false; location?: string }> {
  if (await client.hasBlob(repo, desc.digest)) {
    layerStatus(progress, id, 'Layer already exists');
    await deps.layers.rememberRepo(desc.digest, fullRepo);
    return { done: true };
  }
  for (const from of deps.layers.reposOf(desc.digest)) {
    if (!from.startsWith(`${client.domain}/`) || from === fullRepo) continue;
    const fromPath = from.slice(client.domain.length + 1);
    const start = await client.startUpload(repo, { digest: desc.digest, from: fromPath });
    if (start.mounted) {
      layerStatus(progress, id, `Mounted from ${fromPath}`);
      await deps.layers.rememberRepo(desc.digest, fullRepo);
      return { done: true };
    }
    return { done: false, location: start.location };
  }
  return { done: false };
}

/** A new upload in `repo` (no mount asked for). */
async function newUpload(client: RegistryClient, repo: string): Promise<string> {
  const start = await client.startUpload(repo);
  if (start.mounted) throw invalid('registry mounted a blob it was not asked to mount');
  return start.location;
}

/**
 * Compress an uncompressed layer (gzip level 1, util/gzip.ts: the fastest, for a few percent
 * more bytes) into the content store and, chunk by chunk as it is made, into the upload at
 * `location`, which is closed with the digest once both have every byte; the blob is
 * remembered for later pushes. It is leased to `lease` before it is remembered, so a
 * collection cannot remove it meanwhile. On failure the upload is cancelled.
 */
async function compressAndUpload(
  deps: DistributionDeps,
  lease: Lease,
  client: RegistryClient,
  repo: string,
  location: string,
  local: Descriptor,
  diffId: string,
  id: string,
  progress: ProgressSink,
): Promise<Descriptor> {
  let upload = location;
  let blob;
  try {
    // Read in large chunks, so that moving the bytes costs less CPU than compressing them.
    const file = createReadStream(await deps.content.path(local.digest), { highWaterMark: 1024 * 1024 });
    const meter = progressMeter(progress, id, 'Pushing', local.size);
    file.on('error', (err) => meter.destroy(err));
    const compressed = gzip(file.pipe(meter), { what: `layer ${diffId}` });
    // Handed on in large chunks: each one costs a write in the store and a send to the registry.
    const chunks = compressed.pipe(coalesce(COALESCE_BYTES));
    compressed.on('error', (err) => chunks.destroy(err));
    const { first, second } = oneAfterTheOther(chunks);
    // Not flushed: the blob can be made again, and is checked when it is read (uploadStored).
    const [stored, sent] = await Promise.allSettled([deps.content.ingest(first, { durable: false }), client.patchBlob(repo, location, second)]);
    if (stored.status === 'rejected' || sent.status === 'rejected') {
      for (const s of [second, chunks, compressed, file]) s.destroy();
      throw stored.status === 'rejected' ? stored.reason : (sent as PromiseRejectedResult).reason;
    }
    blob = stored.value;
    upload = sent.value;
    lease.addBlob(blob.digest);
    await client.finishUpload(repo, upload, blob.digest);
  } catch (err) {
    await client.cancelUpload(repo, upload);
    throw err;
  }
  const desc = { mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size };
  await deps.layers.rememberCompressed(diffId, desc);
  return desc;
}

/**
 * A pass-through that hashes what goes through and fails at the end when it does not hash to
 * `digest` (`mismatch` says so then).
 */
function digestCheck(digest: string): Transform & { mismatch: boolean } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = `sha256:${hash.digest('hex')}`;
      if (got === digest) return cb();
      t.mismatch = true;
      cb(invalid(`stored blob ${digest} hashes to ${got}`));
    },
  }) as Transform & { mismatch: boolean };
  t.mismatch = false;
  return t;
}
