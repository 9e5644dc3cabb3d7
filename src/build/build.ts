import type { NetworkMembership, NetworkService } from '../networks/networks.js';
import type { AuthConfig } from '../distribution/auth.js';
import { EngineError } from '../errors.js';
import type { ImageService } from '../images/images.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { BuildContext } from './context.js';
import type { Dockerfile } from './parser.js';
import type { Stage } from './stages.js';

/**
 * The build part: Docker's classic builder (`POST /build`), its cache (`GET /system/df`,
 * `POST /build/prune`) and `docker commit` (`commit.ts`), as narrow roles. `builder.ts`
 * implements the roles over the image store, the snapshotter and the runtime; the executors
 * of the instructions live beside it, one family a file (`metadata.ts`, `run-step.ts`,
 * `copy-step.ts`), with the run of one build (`build-run.ts`), its stages in parallel
 * (`stage-graph.ts`), the step cache (`step-cache.ts`) and the step images (`step-image.ts`).
 *
 * Each step gives an image, as Docker's classic builder does, found in the build cache when
 * its key is known; cache keys and image IDs depend only on the Dockerfile, the context, the
 * build args and the parent images. A build tags its image only when every step succeeded.
 * The part knows nothing of HTTP: the API turns requests into BuildOptions and BuildOutput.
 */

/** Running builds (`POST /build`). */
export interface ImageBuilder {
  /**
   * Parse the Dockerfile and check what can be checked before any step runs (syntax, stages,
   * target). Throws `invalid` naming the line.
   */
  prepare(context: BuildContext, opts: BuildOptions): Promise<{ dockerfile: Dockerfile; stages: Stage[] }>;
  /** Run a build; resolves with the final image ID. Tags are set only when every step succeeded. */
  build(context: BuildContext, opts: BuildOptions, out: BuildOutput): Promise<string>;
}

/** The folders a build request needs before the build runs: where its context and secrets go. */
export interface BuildWorkspace {
  /** The folder under which a request's context is unpacked. */
  readonly contextParent: string;
  /** A fresh temp folder of the builder's own; the caller removes it (a restart of pierd removes them all). */
  tempDir(prefix: string): Promise<string>;
}

/** The build cache as the daemon shows and prunes it. */
export interface BuildCacheAdmin {
  /** Each untagged step image the cache keeps (its own layer's size) and each `RUN --mount=type=cache` folder. */
  usage(): Promise<BuildCacheUsage[]>;
  /** Forget the cache, delete the untagged images only it kept and the cache mounts' folders. */
  prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }>;
}

/** The whole part as the API sees it. */
export type Build = ImageBuilder & BuildWorkspace & BuildCacheAdmin;

/** What the build part needs of the image store. */
export type BuildImages = Pick<ImageService, 'resolve' | 'get' | 'config' | 'topChainId' | 'createImage' | 'ingestLayer' | 'lease' | 'setTag' | 'delete'>;

export interface BuildOutput {
  /** Text for the `stream` of the classic JSON stream (`Step 1/3 : ...\n`). */
  stream(text: string): void;
  /** The `aux` message (`{"ID":"sha256:..."}`). */
  aux(value: unknown): void;
  /** Pull progress of a FROM image (`status`, `id`, `progressDetail`), passed through. */
  progress?(msg: { status?: string; id?: string; progress?: string; progressDetail?: { current?: number; total?: number } }): void;
}

/**
 * Pulls `reference` into the image store, reporting progress as Docker's pull messages, with
 * the credentials the client sent for the build (`X-Registry-Config`, by registry). The
 * distribution part provides it; without it FROM takes local images only.
 */
export type PullFn = (
  reference: string,
  platform: string | undefined,
  onProgress: NonNullable<BuildOutput['progress']>,
  registryConfig: ReadonlyMap<string, AuthConfig> | undefined,
) => Promise<void>;

export interface BuildOptions {
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  /** Credentials for FROM pulls, by registry (`X-Registry-Config`). */
  registryConfig?: ReadonlyMap<string, AuthConfig>;
  networkMode: string;
  cacheFrom: string[];
  quiet: boolean;
  memory?: number;
  cpuShares?: number;
  shmSize?: number;
  extraHosts: string[];
  platform?: string;
  /** Secrets by id (`pier build --secret id=x,src=path`): id → host file. */
  secrets?: Map<string, string>;
  /** Stops the build between steps (the client went away). */
  signal?: AbortSignal;
  /** The Dockerfile's text, when it does not come from the context. */
  dockerfileText?: string;
}

/** A failure of a RUN step: its message and the command's exit code (`errorDetail.code`). */
export class BuildStepError extends EngineError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('invalid', message);
  }
}

/** What the Builder is made of. */
export interface BuilderDeps {
  images: BuildImages;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  /** `<root>/build`: the cache, mount points and temp folders. */
  dir: string;
  /** Runtime state for build containers' logs. */
  execDir: string;
  /** User-defined networks a build's RUN steps can join (`--network <name>`); absent: none can. */
  networks?: BuildNetworks;
}

/** What the builder needs of the networks part to put a build container on a user-defined network. */
export type BuildNetworks = Pick<NetworkService, 'prepare' | 'connect' | 'disconnect'> & Pick<NetworkMembership, 'get'>;

/** One entry of `BuildCache` in `GET /system/df` (Docker's BuildCache). */
export interface BuildCacheUsage {
  ID: string;
  Parent: string | null;
  Type: 'regular' | 'exec.cachemount';
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}
