import { z } from 'zod';
import { invalid } from '../errors.js';
import type { ImageDeleteResponseItem, ImageInspect as WireImageInspect, OperationResponses } from '../wire/engine.js';

/**
 * The OCI image model (opencontainers/image-spec: config.md, manifest.md, image-index.md)
 * and Docker's schema 2 equivalents. Field names are the spec's own, so a blob parsed here
 * and written back by JSON.stringify keeps its meaning. Schemas check what enters from disk
 * and archives; they are loose (unknown fields are kept), because an image ID is the digest
 * of the exact config bytes and pier must never rewrite a config it did not create.
 */

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** Annotations Docker 25+ and containerd put on index.json descriptors. */
export const Annotation = {
  imageName: 'io.containerd.image.name',
  refName: 'org.opencontainers.image.ref.name',
} as const;

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}

/** Whether a layer media type says its blob is gzip-compressed (zstd is not supported yet). */
export function isGzipLayer(mt: string): boolean {
  return mt.endsWith('+gzip') || mt.endsWith('.tar.gzip');
}

const stringMap = z.record(z.string(), z.string());
const emptyObjectMap = z.record(z.string(), z.unknown());

export const HealthcheckSchema = z.looseObject({
  Test: z.array(z.string()).nullish(),
  Interval: z.number().optional(),
  Timeout: z.number().optional(),
  StartPeriod: z.number().optional(),
  StartInterval: z.number().optional(),
  Retries: z.number().optional(),
});
export type Healthcheck = z.infer<typeof HealthcheckSchema>;

/** The `config` of an image config blob: the defaults a container starts with. */
export const ImageConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptyObjectMap.nullish(),
  Env: z.array(z.string()).nullish(),
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Volumes: emptyObjectMap.nullish(),
  WorkingDir: z.string().optional(),
  Labels: stringMap.nullish(),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Healthcheck: HealthcheckSchema.nullish(),
  OnBuild: z.array(z.string()).nullish(),
  Shell: z.array(z.string()).nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const HistorySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

/** An image config blob (`application/vnd.oci.image.config.v1+json`); its digest is the image ID. */
export const OciImageSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  config: ImageConfigSchema.nullish(),
  rootfs: z.looseObject({
    type: z.string(),
    diff_ids: z.array(z.string()),
  }),
  history: z.array(HistorySchema).nullish(),
  comment: z.string().optional(),
  docker_version: z.string().optional(),
  parent: z.string().optional(),
});
export type OciImage = z.infer<typeof OciImageSchema>;

export const DescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'invalid digest'),
  size: z.number().int().nonnegative(),
  annotations: stringMap.optional(),
  urls: z.array(z.string()).optional(),
  platform: z
    .looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional(), 'os.version': z.string().optional() })
    .optional(),
});
export type OciDescriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  annotations: stringMap.optional(),
});
export type OciManifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  annotations: stringMap.optional(),
});
export type OciIndex = z.infer<typeof IndexSchema>;

/** One entry of a `docker save` archive's `manifest.json`. */
export const ArchiveManifestEntrySchema = z.looseObject({
  Config: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string()),
  Parent: z.string().optional(),
  LayerSources: z.record(z.string(), DescriptorSchema).optional(),
});
export const ArchiveManifestSchema = z.array(ArchiveManifestEntrySchema);
export type ArchiveManifestEntry = z.infer<typeof ArchiveManifestEntrySchema>;

/** The platform this daemon runs containers for, in OCI's words. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}

/** Parse a JSON blob against a schema; any failure is `invalid` with the given context. */
export function parseJsonAs<S extends z.ZodType>(schema: S, data: Uint8Array | string, what: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw invalid(`${what}: invalid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw invalid(`${what}: invalid${where}: ${issue?.message ?? 'does not match the schema'}`);
  }
  return parsed.data;
}

// ---- Docker API wire shapes: the generated ones (src/wire), where the images part differs said so ----

export type { ImageSummary } from '../wire/engine.js';

/**
 * Image inspect as the images part answers it: Docker's, with `Config` the image's config as
 * stored (src/api/ shapes it, and the fields of older API versions), DockerVersion only when the
 * config names one (src/api/ adds it for the versions that had it), and GraphDriver's Data
 * null for an image without layers (there is no snapshot to name).
 */
export type ImageInspect = Omit<WireImageInspect, 'Config' | 'DockerVersion' | 'GraphDriver'> & {
  Config: ImageConfig;
  DockerVersion?: string;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
};

export type HistoryResponseItem = OperationResponses['ImageHistory'][number];

/** One entry of a delete or prune: Docker's, and exactly one of its two fields is set. */
export type DeleteResponseItem = Required<Pick<ImageDeleteResponseItem, 'Untagged'>> | Required<Pick<ImageDeleteResponseItem, 'Deleted'>>;

/** `POST /images/prune`: Docker's, both fields always set. */
export type PruneReport = Required<OperationResponses['ImagePrune']> & {
  ImagesDeleted: DeleteResponseItem[] | null;
  /** pier: previous versions of tags kept from pruning, and why (absent when none). */
  VersionsKept?: Array<{ Id: string; Reason: string }>;
};
