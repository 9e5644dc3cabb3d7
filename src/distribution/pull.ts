
import { Readable } from 'node:stream';
import type { BlobInfo, Descriptor } from '../content/content.js';
import { errnoCode, internal, invalid, isKind, withContext } from '../errors.js';
import { familiarName, parseReference, referenceString, repositoryName, withDefaultTag } from '../images/reference.js';
import {
  MediaType,
  OciImageSchema,
  parseJsonAs,
  type OciDescriptor,
} from '../images/types.js';
import { log } from '../log.js';
import { chainIds } from '../snapshots/chain.js';
import type { LayerSource } from '../snapshots/snapshotter.js';
import type { AuthConfig } from './auth.js';
import type { DistributionDeps, PullResult } from './distribution.js';
import { coalesce, COALESCE_BYTES, oneAfterTheOther } from './chunks.js';
import { uncompressed } from '../util/decompress.js';
import { planUnpack, unpackWorkersEnabled } from './unpack-pool.js';
import type { BlobFetch, StoreTarget } from './unpack-protocol.js';
import { workerLayer } from './unpack-worker.js';
import { layerStatus, progressBar, progressCounter, progressMeter, shortDigest, type ProgressSink } from './progress.js';
import { RegistryClient } from './registry.js';
import { parsePlatform, resolveManifest } from './manifests.js';
import { slotsOf } from '../util/limit.js';

/** Layer media types pier unpacks. */
const LAYER_TYPES = new Set<string>([
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.dockerLayer,
  MediaType.dockerLayerGzip,
  MediaType.dockerForeignLayerGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/**
 * Pull one reference. Everything fetched is leased until the image exists; on failure what
 * this pull stored is removed again and no tag moves.
 */
export async function pull(deps: DistributionDeps, opts: { reference: string; platform?: string; auth?: AuthConfig }, progress: ProgressSink): Promise<PullResult> {
  const parsed = withDefaultTag(parseReference(opts.reference));
  const want = parsePlatform(opts.platform);
  const repo = parsed.path;
  const repoName = repositoryName(parsed);
  const display = familiarName(parsed);
  const client = new RegistryClient(parsed.domain, { auth: opts.auth, insecure: deps.insecure });
  const images = deps.images;
  const lease = images.lease();
  const storedBlobs: string[] = [];
  const newChains: string[] = [];
  let succeeded = false;
  // One promise per layer, each with a handler from the start; the first failure is reported.
  const tasks: Array<Promise<void>> = [];
  /** Flushes the layers and blobs this pull published unflushed (see DistributionDeps.flushLater). */
  let flush: (() => void) | undefined;
  try {
    const resolved = await resolveManifest(client, repo, parsed, want, display, () => {
      progress({ status: `Pulling from ${repo}`, id: parsed.digest ?? parsed.tag ?? 'latest' });
    });
    for (const b of resolved.blobs) {
      lease.addBlob(b.digest);
      if (!(await deps.content.has(b.digest))) {
        await deps.content.put(b.bytes, { expectedDigest: b.digest });
        storedBlobs.push(b.digest);
      }
    }
    const manifest = resolved.manifest;
    for (const layer of manifest.layers) {
      if (!LAYER_TYPES.has(layer.mediaType)) throw invalid(`${display}: layer ${layer.digest} has an unsupported media type ${layer.mediaType}`);
    }
    // The config.
    const configDigest = manifest.config.digest;
    lease.addBlob(configDigest);
    if (!(await deps.content.has(configDigest))) {
      const { body } = await client.getBlob(repo, configDigest);
      await deps.content.ingest(body, { expectedDigest: configDigest, expectedSize: manifest.config.size }).catch((err: unknown) => {
        body.destroy();
        throw withContext(`${display}: config ${configDigest}`, err);
      });
      storedBlobs.push(configDigest);
    }
    const config = parseJsonAs(OciImageSchema, await deps.content.read(configDigest), `config of ${display}`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw invalid(`${display}: the manifest lists ${manifest.layers.length} layers, the config ${diffIds.length} diff_ids`);
    }
    const chains = chainIds(diffIds);
    for (const c of chains) lease.addSnapshot(c);
    for (const l of manifest.layers) lease.addBlob(l.digest);

    // Which layers are there already.
    const haveSnapshot = await Promise.all(chains.map((c) => deps.snapshots.has(c)));
    const haveBlob = await Promise.all(manifest.layers.map((l) => deps.content.has(l.digest)));
    // The workers boot now, not when the first layer's bytes arrive, and each layer to unpack
    // has its worker, the largest layers spread first.
    const placements = planUnpack(manifest.layers.map((l, i) => (haveSnapshot[i] ? 0 : l.size)));
    // What this pull will write is recorded for a crash; it is flushed once the pull ends.
    const durable = deps.flushLater === undefined;
    flush = await deps.flushLater?.hold({
      blobs: manifest.layers.filter((_, i) => !haveBlob[i]).map((l) => l.digest),
      chains: chains.filter((_, i) => !haveSnapshot[i]),
    });
    const seen = new Set<string>();
    for (const [i, layer] of manifest.layers.entries()) {
      const id = shortDigest(layer.digest);
      if (seen.has(id)) continue;
      seen.add(id);
      layerStatus(progress, id, haveSnapshot[i] && haveBlob[i] ? 'Already exists' : 'Pulling fs layer');
    }

    // Every layer not there yet unpacks while it downloads, into its own snapshot; each
    // snapshot commits once its parent has (applyLayer's parentReady), so commits come in
    // layer order. Downloads are bounded and start in layer order; the first failure stops
    // the others.
    const slots = slotsOf(deps.maxDownloads ?? 6);
    const abort = new AbortController();
    const fetched = new Map<string, Promise<Fetched>>();
    const t0 = Date.now();
    const layerTask = async (i: number, parentReady: Promise<void> | undefined): Promise<void> => {
      const layer = manifest.layers[i]!;
      const id = shortDigest(layer.digest);
      const what = `${display}: layer ${layer.digest}`;
      const parent = i === 0 ? null : chains[i - 1]!;
      const apply = async (tar: Readable | LayerSource): Promise<void> => {
        await deps.snapshots.applyLayer(parent, tar, diffIds[i], { parentReady, durable });
        newChains.push(chains[i]!);
      };
      /**
       * A layer blob (compressed or not) unpacked on a worker thread, or here. On a worker it
       * is a stored blob read for this alone, so the worker takes its chunks over, uncopied.
       */
      const applyBlob = async (blob: Readable): Promise<void> => {
        if (unpackWorkersEnabled()) await apply(workerLayer(blob, what, { transfer: true, flushLater: !durable, placement: placements[i], size: layer.size }));
        else await apply(await uncompressed(blob, what));
      };
      /** The unpacking that ran while the blob downloaded, if it did. */
      let streamed: Promise<void> | undefined;
      const earlier = fetched.get(layer.digest);
      if (haveBlob[i]) {
        // stored already
      } else if (earlier !== undefined) {
        await earlier; // the same blob, downloaded for an earlier layer of the image
      } else {
        // Unpacks from the bytes as they arrive (on the first attempt); on a worker, which
        // may store the blob too.
        const unpack: Unpack | undefined = haveSnapshot[i]
          ? undefined
          : (source, store, onProgress) => {
              // What the unpacker left unread of a stream (the gzip trailer) must still flow,
              // or the download stalls behind it.
              const rest = (): void => {
                if (source instanceof Readable) source.resume();
              };
              if (unpackWorkersEnabled()) {
                const layerSource = workerLayer(source, what, { store, onProgress, flushLater: !durable, placement: placements[i], size: layer.size });
                const unpacked = apply(layerSource).then(rest, (err: unknown) => {
                  // Settles `stored` too, should the layer have failed before its unpacking started.
                  layerSource.destroy(err instanceof Error ? err : new Error(String(err)));
                  throw err;
                });
                return { unpacked, stored: layerSource.stored, stop: (err) => layerSource.destroy(err) };
              }
              if (!(source instanceof Readable)) throw internal(`${what}: only a worker GETs a blob itself`);
              return { unpacked: applyBlob(source).then(rest), stop: (err) => source.destroy(err) };
            };
        const download = slots.run(() => fetchLayer(deps, client, repo, layer, progress, storedBlobs, display, abort.signal, unpack, durable));
        fetched.set(layer.digest, download);
        streamed = (await download).unpacked;
      }
      log.debug({ layer: i, ms: Date.now() - t0 }, 'pull: layer downloaded');
      if (haveSnapshot[i]) return;
      if (streamed !== undefined) {
        progress({ status: 'Extracting', progressDetail: { current: layer.size, total: layer.size }, progress: progressBar(layer.size, layer.size), id });
        await streamed.catch((err: unknown) => {
          throw withContext(what, err);
        });
      } else {
        // Already stored, a layer repeated in the image, or a download that needed a retry.
        const file = await deps.content.createReadStream(layer.digest);
        const meter = progressMeter(progress, id, 'Extracting', layer.size);
        const metered = file.pipe(meter);
        file.on('error', (err) => meter.destroy(err));
        try {
          await applyBlob(metered);
        } catch (err) {
          file.destroy();
          throw withContext(what, err);
        }
      }
      log.debug({ layer: i, ms: Date.now() - t0 }, 'pull: layer unpacked');
      layerStatus(progress, id, 'Pull complete');
    };
    let previous: Promise<void> | undefined;
    for (const i of manifest.layers.keys()) {
      const needed = !(haveSnapshot[i] && haveBlob[i]);
      const task = needed ? layerTask(i, previous) : Promise.resolve();
      task.catch((err: unknown) => abort.abort(err));
      tasks.push(task);
      // The next layer's parent is ready once this one is committed (or was there already).
      previous = haveSnapshot[i] ? undefined : task;
    }
    await Promise.all(tasks);

    const layers: Descriptor[] = manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }));
    const image = await images.createImage({ configDigest, layers, manifest: resolved.manifestDescriptor });
    const tagRef = parsed.digest === undefined ? referenceString(parsed) : undefined;
    let upToDate = parsed.digest !== undefined && (await images.resolve(`${repoName}@${resolved.digest}`).then((i) => i.id === image.id, () => false));
    if (tagRef !== undefined) {
      const current = await images.resolve(tagRef).then((i) => i.id, () => undefined);
      upToDate = current === image.id && newChains.length === 0 && storedBlobs.length === 0;
      if (current !== image.id) await images.setTag(tagRef, image.id, 'pull');
    }
    await images.setTag(`${repoName}@${resolved.digest}`, image.id, 'pull');
    await images.emit?.('pull', image.id, display);
    succeeded = true;
    return { image: await images.get(image.id), digest: resolved.digest, upToDate };
  } finally {
    lease.release();
    try {
      if (!succeeded) {
        await Promise.allSettled(tasks);
        await images.discardUnused(storedBlobs, newChains);
      }
    } finally {
      flush?.();
    }
  }
}

/** An unpacking started on a download: its end, the blob's when its worker stores it (see workerLayer), and how to stop it. */
interface Unpacking {
  unpacked: Promise<void>;
  stored?: Promise<BlobInfo>;
  stop(err: Error): void;
}

/**
 * Starts unpacking a layer from its blob: a stream this thread reads, or (on a worker) a blob
 * the worker GETs itself, storing it into `store` and telling the bytes it got to `onProgress`.
 */
type Unpack = (source: Readable | BlobFetch, store?: StoreTarget, onProgress?: (bytes: number) => void) => Unpacking;

interface Fetched {
  /** The unpacking that read the blob as it downloaded; settles once that layer is committed or failed. */
  unpacked?: Promise<void>;
}

/**
 * Download one layer blob into the content store, checked against its digest and size;
 * retried on network errors. On the first attempt `unpack` reads the same bytes as they arrive,
 * each chunk once the store has written it, and owns them (the download goes as fast as the
 * slower of the two; see oneAfterTheOther): resolves once the blob is
 * stored, with that unpacking still going. A failure of either side stops the other and is
 * reported (the first one: the other only saw its stream stop); the unpacking has settled by
 * then. An abort of `signal` stops the download and every retry.
 */
async function fetchLayer(
  deps: DistributionDeps,
  client: RegistryClient,
  repo: string,
  layer: OciDescriptor,
  progress: ProgressSink,
  storedBlobs: string[],
  display: string,
  signal: AbortSignal,
  unpack?: Unpack,
  durable = true,
): Promise<Fetched> {
  const id = shortDigest(layer.digest);
  for (let attempt = 1; ; attempt++) {
    try {
      if (signal.aborted) throw signal.reason;
      // The first attempt with unpack workers: the worker GETs, stores and unpacks the blob.
      const fetched = unpack !== undefined && attempt === 1 && unpackWorkersEnabled()
        ? await fetchOnWorker(deps, client, repo, layer, progress, signal, unpack, durable)
        : await fetchHere(deps, client, repo, layer, progress, signal, attempt === 1 ? unpack : undefined, durable);
      storedBlobs.push(layer.digest);
      layerStatus(progress, id, 'Verifying Checksum');
      layerStatus(progress, id, 'Download complete');
      return fetched;
    } catch (err) {
      const retry = attempt < 3 && !signal.aborted && (isKind(err, 'unavailable') || isNetworkError(err));
      if (!retry) throw withContext(`${display}: layer ${layer.digest}`, err);
      layerStatus(progress, id, `Retrying in ${attempt} second${attempt > 1 ? 's' : ''}`);
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
}

/**
 * One attempt on an unpack worker, which GETs the blob itself, writes it into the content
 * store and unpacks it as it arrives (this thread carries none of its bytes); here the blob
 * is checked against its digest and size and renamed into place. Resolves once the blob is
 * stored, with the unpacking still going.
 */
async function fetchOnWorker(
  deps: DistributionDeps,
  client: RegistryClient,
  repo: string,
  layer: OciDescriptor,
  progress: ProgressSink,
  signal: AbortSignal,
  unpack: Unpack,
  durable: boolean,
): Promise<Fetched> {
  const target = await deps.content.prepareIngest({ expectedDigest: layer.digest, expectedSize: layer.size, durable });
  let request;
  try {
    request = await client.blobRequest(repo, layer.digest);
  } catch (err) {
    await target.discard();
    throw err;
  }
  const counter = progressCounter(progress, shortDigest(layer.digest), 'Downloading', layer.size);
  const started = unpack({ ...request, size: layer.size }, { path: target.path, durable }, (bytes) => counter.add(bytes));
  started.unpacked.catch(() => undefined); // the caller awaits it, or the failure is reported below
  const onAbort = (): void => started.stop(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort(); // while the request was prepared
  try {
    let written: BlobInfo;
    try {
      written = await started.stored!;
    } catch (err) {
      await target.discard();
      const status = (err as { status?: unknown }).status;
      throw typeof status === 'number' ? client.statusError(status, client.blobWhat(repo, layer.digest), '') : err;
    }
    try {
      await target.commit(written);
    } catch (err) {
      started.stop(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    counter.end();
    return { unpacked: started.unpacked };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * One attempt on this thread: the blob streams into the content store, checked against its
 * digest and size; with `unpack` (unpack workers off), the same bytes are unpacked as they
 * arrive, each chunk once the store has written it (the download goes as fast as the slower
 * of the two; see oneAfterTheOther). Resolves once the blob is stored, with that unpacking
 * still going. A failure of either side stops the other and is reported (the first one: the
 * other only saw its stream stop); the unpacking has settled by then.
 */
async function fetchHere(
  deps: DistributionDeps,
  client: RegistryClient,
  repo: string,
  layer: OciDescriptor,
  progress: ProgressSink,
  signal: AbortSignal,
  unpack: Unpack | undefined,
  durable: boolean,
): Promise<Fetched> {
  const { body } = await client.getBlob(repo, layer.digest);
  // Counted and coalesced in one step (each step costs every 64 KiB read).
  const meter = coalesce(COALESCE_BYTES, progressCounter(progress, shortDigest(layer.digest), 'Downloading', layer.size));
  body.on('error', (err) => meter.destroy(err));
  body.pipe(meter);
  // The store first, then the unpacking, which takes each chunk over (see oneAfterTheOther).
  const split = unpack ? oneAfterTheOther(meter) : undefined;
  let firstError: unknown;
  const stop = (err: unknown): void => {
    if (firstError !== undefined) return;
    firstError = err ?? new Error('stopped');
    meter.destroy(err instanceof Error ? err : new Error(String(err)));
    split?.second.destroy(err instanceof Error ? err : new Error(String(err)));
    body.destroy();
  };
  const onAbort = (): void => stop(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const storing = deps.content.ingest(split?.first ?? meter, { expectedDigest: layer.digest, expectedSize: layer.size, durable }).catch((err: unknown) => {
      stop(err);
      throw err;
    });
    const unpacking = split && unpack
      ? unpack(split.second).unpacked.catch((err: unknown) => {
          stop(err);
          throw err;
        })
      : undefined;
    unpacking?.catch(() => undefined); // awaited by the caller, or below
    try {
      await storing;
    } catch (err) {
      await unpacking?.catch(() => undefined);
      // A bad blob (digest or size) or a cut connection is the reason to report (and to
      // retry), whichever side saw it first; else the first failure (the other side only
      // saw its stream stop).
      throw isKind(err, 'invalid') || isNetworkError(err) ? err : firstError;
    }
    return { unpacked: unpacking };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Whether `err` (or what caused it) is a connection that broke: worth another attempt. */
function isNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = errnoCode(e);
    if (code !== undefined && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes(code)) return true;
    if (/ECONNRESET|terminated|socket/i.test(e.message)) return true;
  }
  return false;
}
