import { createHash } from 'node:crypto';
import type { Descriptor } from '../content/content.js';
import { invalid, notFound } from '../errors.js';
import { type Reference } from '../images/reference.js';
import {
  hostPlatform,
  IndexSchema,
  ManifestSchema,
  MediaType,
  parseJsonAs,
  type OciDescriptor,
  type OciIndex,
  type OciManifest,
} from '../images/types.js';
import type { RegistryClient } from './registry.js';

/**
 * What a reference names on a registry: its manifest (OCI or Docker schema 2), through an
 * index or manifest list when it is one, by platform (attestation manifests skipped). Schema 1
 * is refused with a clear error. Reads only.
 */

/** Media types of schema 1, refused with a clear error. */
const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/json'];

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** `os[/arch[/variant]]` → Platform; default the host's. */
export function parsePlatform(s: string | undefined): Platform {
  const host = hostPlatform();
  if (s === undefined || s.trim() === '') return host;
  const [os, arch, variant] = s.trim().toLowerCase().split('/');
  if (!os || (arch !== undefined && arch === '')) throw invalid(`invalid platform ${s}: expected os[/arch[/variant]]`);
  const archName = { x86_64: 'amd64', aarch64: 'arm64', armhf: 'arm', i386: '386' }[arch ?? ''] ?? arch ?? host.architecture;
  const p: Platform = { os, architecture: archName };
  if (variant) p.variant = variant;
  else if (archName === 'arm64') p.variant = 'v8';
  return p;
}

export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join('/');
}

/**
 * Pick the manifest of an index for a platform: attestations and `unknown/unknown` entries are
 * skipped; the variant must match when asked for (arm64 without a variant matches v8).
 */
export function selectManifest(index: OciIndex, want: Platform): OciDescriptor | undefined {
  const candidates = index.manifests.filter((m) => {
    if (m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return false;
    if (m.platform === undefined) return false;
    return m.platform.os === want.os && m.platform.architecture === want.architecture;
  });
  const variantOf = (m: OciDescriptor): string | undefined => m.platform?.variant ?? (m.platform?.architecture === 'arm64' ? 'v8' : undefined);
  if (want.variant !== undefined) {
    const exact = candidates.find((m) => variantOf(m) === want.variant);
    if (exact) return exact;
    return undefined;
  }
  return candidates[0];
}

/** The digest of some bytes, `sha256:<hex>`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Resolved {
  /** The digest of what the reference named (index or manifest). */
  digest: string;
  manifest: OciManifest;
  manifestDescriptor: Descriptor;
  /** The index and manifest blobs fetched, to store. */
  blobs: Array<{ digest: string; bytes: Buffer }>;
}

/** Parse a manifest answer: schema 1 and unknown media types are named in the error. */
function mediaTypeOf(bytes: Buffer, header: string, display: string): { mediaType: string; json: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`manifest of ${display}: invalid JSON`);
  }
  const obj = (json ?? {}) as { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; layers?: unknown };
  if (obj.schemaVersion === 1 || SCHEMA1.slice(0, 2).includes(header)) {
    throw invalid(
      `${display}: the registry serves a Docker Image manifest version 2, schema 1 (${header || 'schemaVersion 1'}); schema 1 is deprecated and not supported: push the image again with a current tool`,
    );
  }
  let mediaType = typeof obj.mediaType === 'string' ? obj.mediaType : header;
  if (mediaType === '' || mediaType === 'application/json' || mediaType === 'application/octet-stream') {
    mediaType = Array.isArray(obj.manifests) ? MediaType.ociIndex : Array.isArray(obj.layers) ? MediaType.ociManifest : mediaType;
  }
  const known: string[] = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifest, MediaType.dockerManifestList];
  if (!known.includes(mediaType)) throw invalid(`${display}: unsupported manifest media type ${mediaType || '(none)'}`);
  return { mediaType, json };
}

/**
 * The image manifest `ref` names for platform `want` (through an index when the registry serves
 * one), with the manifest blobs to store. `found` runs once the registry has served the
 * reference's own manifest (moby's pullTag says "Pulling from" only then, so a reference the
 * registry has not is an error before any progress).
 */
export async function resolveManifest(client: RegistryClient, repo: string, ref: Reference, want: Platform, display: string, found?: () => void): Promise<Resolved> {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const top = await client.getManifest(repo, reference, display);
  const topDigest = sha256(top.bytes);
  if (ref.digest !== undefined && topDigest !== ref.digest) {
    throw invalid(`${display}: manifest digest mismatch: the registry served ${topDigest}`);
  }
  found?.();
  const first = mediaTypeOf(top.bytes, top.mediaType, display);
  const blobs = [{ digest: topDigest, bytes: top.bytes }];
  if (first.mediaType === MediaType.ociIndex || first.mediaType === MediaType.dockerManifestList) {
    const index = parseJsonAs(IndexSchema, top.bytes, `index of ${display}`);
    const chosen = selectManifest(index, want);
    if (!chosen) throw notFound(`no matching manifest for ${platformString(want)} in the manifest list entries of ${display}`);
    const child = await client.getManifest(repo, chosen.digest, `${display}@${chosen.digest}`);
    const childDigest = sha256(child.bytes);
    if (childDigest !== chosen.digest) throw invalid(`${display}: manifest ${chosen.digest} digest mismatch: the registry served ${childDigest}`);
    const second = mediaTypeOf(child.bytes, child.mediaType, `${display}@${chosen.digest}`);
    if (second.mediaType !== MediaType.ociManifest && second.mediaType !== MediaType.dockerManifest) {
      throw invalid(`${display}: index entry ${chosen.digest} is a ${second.mediaType}, not an image manifest`);
    }
    blobs.push({ digest: childDigest, bytes: child.bytes });
    return {
      digest: topDigest,
      manifest: parseJsonAs(ManifestSchema, child.bytes, `manifest of ${display}`),
      manifestDescriptor: { mediaType: second.mediaType, digest: childDigest, size: child.bytes.length },
      blobs,
    };
  }
  return {
    digest: topDigest,
    manifest: parseJsonAs(ManifestSchema, top.bytes, `manifest of ${display}`),
    manifestDescriptor: { mediaType: first.mediaType, digest: topDigest, size: top.bytes.length },
    blobs,
  };
}
