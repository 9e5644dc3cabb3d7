import { PassThrough, type Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';
import type { ContentStore, Descriptor } from '../content/content.js';
import { notFound } from '../errors.js';
import { log } from '../log.js';
import type { Image, ImageEvents, ImageReader } from './images.js';
import { familiarName, familiarRepository, isFullImageId, parseReference, type Reference, referenceString, withDefaultTag } from './reference.js';
import { Annotation, MediaType } from './types.js';

/**
 * `docker save` archives: Docker 25+'s layout (`oci-layout`, `index.json`,
 * `blobs/sha256/<hex>`) plus `manifest.json` and `repositories` for older readers, streamed
 * entry by entry from the content store.
 */

/** What a save needs: lookups, the save event, and the blobs. */
export type SaveDeps = Pick<ImageReader, 'resolve' | 'list'> & ImageEvents & { content: Pick<ContentStore, 'info' | 'createReadStream'> };

interface SaveItem {
  image: Image;
  /** Tags (normalized, with tag) saved for the image; empty when it was named by ID. */
  tags: Reference[];
}

/**
 * Resolve the names of a save as Docker does: an ID saves the image untagged, `name:tag` that
 * tag, a repository without tag all its tags. Throws notFound before anything is written.
 */
export async function resolveSaveNames(svc: SaveDeps, names: readonly string[]): Promise<SaveItem[]> {
  const items = new Map<string, SaveItem>();
  const add = (image: Image, tag?: Reference): void => {
    let item = items.get(image.id);
    if (!item) {
      item = { image, tags: [] };
      items.set(image.id, item);
    }
    if (tag && !item.tags.some((t) => referenceString(t) === referenceString(tag))) item.tags.push(tag);
  };
  for (const name of names) {
    if (isFullImageId(name)) {
      add(await svc.resolve(name));
      continue;
    }
    const ref = parseReference(name);
    if (ref.tag === undefined && ref.digest === undefined && familiarRepository(ref) !== 'sha256') {
      const repo = `${ref.domain}/${ref.path}`;
      let found = false;
      for (const image of await svc.list()) {
        for (const t of image.repoTags) {
          const tr = parseReference(t);
          if (`${tr.domain}/${tr.path}` === repo) {
            add(image, tr);
            found = true;
          }
        }
      }
      if (!found) add(await svc.resolve(name));
      continue;
    }
    const image = await svc.resolve(name);
    if (ref.digest === undefined && image.repoTags.includes(familiarName(withDefaultTag(ref)))) add(image, withDefaultTag(ref));
    else add(image);
  }
  if (items.size === 0) throw notFound('No such image: (none given)');
  return [...items.values()];
}

export async function saveArchive(svc: SaveDeps, names: readonly string[]): Promise<Readable> {
  const items = await resolveSaveNames(svc, names);
  const pack = tarPack();
  const out = new PassThrough();
  pack.pipe(out);
  pack.on('error', (err) => out.destroy(err));
  const writing = writeArchive(svc, pack, items).catch((err: unknown) => {
    log.error({ err }, 'save failed while streaming');
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  void writing;
  return out;
}

const EPOCH = new Date(0);

async function writeArchive(svc: SaveDeps, pack: Pack, items: SaveItem[]): Promise<void> {
  const written = new Set<string>();
  await addEntry(pack, { name: 'blobs/', type: 'directory', mode: 0o755 });
  await addEntry(pack, { name: 'blobs/sha256/', type: 'directory', mode: 0o755 });
  const blobPath = (digest: string): string => `blobs/sha256/${digest.replace(/^sha256:/, '')}`;
  const addBlob = async (digest: string): Promise<void> => {
    if (written.has(digest)) return;
    written.add(digest);
    const { size } = await svc.content.info(digest);
    const source = await svc.content.createReadStream(digest);
    await addEntry(pack, { name: blobPath(digest), size, mode: 0o644 }, source);
  };

  const manifestJson: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const indexManifests: Descriptor[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of items) {
    await addBlob(image.id);
    for (const layer of image.layers) await addBlob(layer.digest);
    await addBlob(image.manifest.digest);
    const manifestDesc = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size };
    for (const tag of tags) {
      indexManifests.push({ ...manifestDesc, annotations: { [Annotation.imageName]: referenceString(tag), [Annotation.refName]: tag.tag ?? 'latest' } });
      const repo = familiarRepository(tag);
      const top = image.layers.at(-1);
      if (top) (repositories[repo] ??= {})[tag.tag ?? 'latest'] = top.digest.replace(/^sha256:/, '');
    }
    if (tags.length === 0) indexManifests.push(manifestDesc);
    manifestJson.push({ Config: blobPath(image.id), RepoTags: tags.map((t) => familiarName(t)), Layers: image.layers.map((l) => blobPath(l.digest)) });
    await svc.emit('save', image.id, image.id);
  }
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: indexManifests };
  await addEntry(pack, { name: 'index.json', mode: 0o644 }, Buffer.from(JSON.stringify(index)));
  await addEntry(pack, { name: 'manifest.json', mode: 0o644 }, Buffer.from(JSON.stringify(manifestJson)));
  await addEntry(pack, { name: 'oci-layout', mode: 0o644 }, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  if (Object.keys(repositories).length > 0) {
    await addEntry(pack, { name: 'repositories', mode: 0o644 }, Buffer.from(JSON.stringify(repositories)));
  }
  pack.finalize();
}

/** Add one entry to a tar pack; a stream body flows with backpressure. */
async function addEntry(
  pack: Pack,
  header: { name: string; type?: 'file' | 'directory'; mode: number; size?: number },
  body?: Buffer | Readable,
): Promise<void> {
  const h = { mtime: EPOCH, uid: 0, gid: 0, ...header, ...(Buffer.isBuffer(body) ? { size: body.length } : {}) };
  if (body === undefined || Buffer.isBuffer(body)) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(h, body ?? '', (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
    return;
  }
  let done: (err?: Error | null) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    done = (err) => {
      if (err) reject(err);
      else resolve();
    };
  });
  const entry = pack.entry(h, (err) => done(err));
  try {
    for await (const chunk of body) {
      if (!entry.write(chunk as Buffer)) await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
    }
    entry.end(null);
  } catch (err) {
    entry.destroy(err as Error);
    throw err;
  }
  await finished;
}
