import type { Readable } from 'node:stream';
import { invalid } from '../errors.js';
import { applyChanges } from './changes.js';
import type { Image, ImageEvents, ImageIngester, ImageReader, ImageTagger, ImportOptions } from './images.js';
import { referenceString, repoTagReference } from './reference.js';
import { hostPlatform, type OciImage } from './types.js';

/**
 * `docker import` (`POST /images/create?fromSrc=-`): a root filesystem tar (plain or gzip)
 * becomes a one-layer image. The tar is unpacked and stored as the layer blob in one pass.
 * Everything the request says (reference, changes, platform) is checked before the body is
 * read, so a bad request stores nothing.
 */
/** What an import needs of the images part. */
export type ImportDeps = Pick<ImageIngester, 'lease' | 'ingestLayer' | 'createImage'> & Pick<ImageTagger, 'setTag'> & Pick<ImageReader, 'get'> & ImageEvents;

export async function importImage(svc: ImportDeps, rootfs: Readable, opts: ImportOptions): Promise<Image> {
  let ref;
  let config;
  let platform;
  try {
    ref = repoTagReference(opts.repo, opts.tag);
    config = applyChanges({}, opts.changes ?? []);
    platform = parsePlatform(opts.platform);
  } catch (err) {
    rootfs.destroy();
    throw err;
  }
  const comment = opts.message || 'Imported from -';
  const lease = svc.lease();
  try {
    const layer = await svc.ingestLayer(null, rootfs, { lease });
    const created = new Date().toISOString();
    const image: OciImage = {
      architecture: platform.architecture,
      ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
      comment,
      config,
      created,
      history: [{ created, comment }],
      os: platform.os,
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    };
    const created_ = await svc.createImage({ config: image, layers: [layer.descriptor] });
    await svc.emit('import', created_.id, created_.id);
    if (ref) await svc.setTag(referenceString(ref), created_.id, 'import');
    return ref ? await svc.get(created_.id) : created_;
  } finally {
    lease.release();
  }
}

/** `os[/arch[/variant]]` as the `platform` parameter gives it; empty means the host's. Only linux runs here. */
export function parsePlatform(s: string | undefined): { os: string; architecture: string; variant?: string } {
  const host = hostPlatform();
  if (!s) return host;
  const [os, arch, variant, ...rest] = s.toLowerCase().split('/');
  if (!os || rest.length > 0) throw invalid(`invalid platform: ${s}`);
  if (os !== 'linux') throw invalid(`invalid platform: operating system ${os} is not supported`);
  const architecture = normalizeArch(arch ?? host.architecture);
  const out: { os: string; architecture: string; variant?: string } = { os, architecture };
  if (variant) out.variant = variant;
  else if (architecture === host.architecture && host.variant !== undefined) out.variant = host.variant;
  return out;
}

function normalizeArch(arch: string): string {
  const aliases: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' };
  return aliases[arch] ?? arch;
}
