import type { Descriptor } from '../content/content.js';
import type { Image, Lease } from '../images/images.js';
import type { History, OciImage } from '../images/types.js';
import type { ContainerSpec } from '../runtime/runtime.js';
import type { BuildImages, BuildOptions, PullFn } from './build.js';
import type { BuildCache } from './cache.js';
import type { BuildContext } from './context.js';
import type { Instruction } from './parser.js';

/**
 * What an instruction's executor works with: the state of its stage, the build run it is part
 * of (`StepContext`) and the engine's side of a build (`BuildHost`). Executors of one family
 * live in files of their own (`metadata.ts`, `run-step.ts`, `copy-step.ts`); each takes the
 * stage's state and returns the next one, never changing the one it was given.
 */

/** The state of one stage while it builds. */
export interface StageState {
  imageId: string | null;
  config: OciImage;
  layers: Descriptor[];
  chainId: string | null;
  /** ARGs declared in the stage, with their values. */
  args: Map<string, string>;
  cmdSet: boolean;
}

/** A layer a step made: the blob's descriptor, its diff ID and the chain ID it tops. */
export interface StepLayer {
  descriptor: Descriptor;
  diffId: string;
  chainId: string;
}

/** The build args Docker passes to RUN without a declaring ARG, and never warns about. */
export const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

/** The PATH a stage gets when its base image sets none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What `--cache-from` matching needs to know of a step. */
export interface CacheFromProbe {
  createdBy: string;
  /** Whether the step adds no layer; undefined when that depends on the image (WORKDIR). */
  emptyLayer: boolean | undefined;
  /** The config the step gives (before its layer and history entry). */
  config: OciImage;
}

/** The engine's side of a build, shared by every build of a daemon (the Builder). */
export interface BuildHost {
  readonly images: BuildImages;
  readonly cache: BuildCache;
  /** Pulls a missing FROM image; undefined when the engine has no registry client. */
  readonly pull: PullFn | undefined;
  /** Where `RUN --mount=type=cache` folders live. */
  readonly cacheMountsDir: string;
  /** A fresh temp folder of the build's own; the caller removes it. */
  tempDir(prefix: string): Promise<string>;
  /**
   * Run `fn` with a writable snapshot over `parent` mounted at a fresh folder; then, with a
   * lease and unless `keep` says no, its diff becomes a layer leased to `lease`. Always
   * unmounts and removes the writable snapshot.
   */
  withRootfs<T>(parent: string | null, lease: Lease | null, fn: (rootfs: string, key: string) => Promise<T>, keep?: (result: T) => boolean): Promise<{ result: T; layer?: StepLayer }>;
  /** Write a step's image: the stage's config with `history` appended (and `layer` on top, when one was made). */
  commitImage(state: StageState, history: History, layer?: StepLayer): Promise<Image>;
  /**
   * Run one process in a build container on `rootfs`; resolves with its exit code. Output goes
   * to `onOutput`; a command that cannot run is a BuildStepError with Docker's code (126, 127).
   * The container is deleted whatever happens.
   */
  /** Run a build container; with `userNetwork`, on that user-defined network (its name or ID) instead of `spec.network`. */
  runContainer(spec: BuildContainerSpec, rootfs: string, onStart: (id: string) => void, onOutput: (chunk: Buffer) => void): Promise<number>;
}

/** What an instruction's executor may ask of the build run it belongs to. */
export interface StepContext {
  readonly host: BuildHost;
  readonly opts: BuildOptions;
  readonly context: BuildContext;
  /** The Dockerfile's escape character. */
  readonly escape: string;
  /** The ARGs declared before the first FROM, with their values. */
  readonly globalArgs: ReadonlyMap<string, string>;
  /** Text for the build's stream (held back while an earlier stage is still writing). */
  say(text: string): void;
  /** A word expanded against `env`; a bad expansion is a parse error naming the line. */
  expand(ins: Instruction, text: string, env: ReadonlyMap<string, string>): string;
  /** `ARG a=b c`: each name with its value (a --build-arg wins over the default; undefined when neither). */
  argPairs(ins: Instruction, env: ReadonlyMap<string, string>): Array<[string, string | undefined]>;
  /** Record that a build arg was consumed (no "not consumed" warning for it). */
  useArg(name: string): void;
  /** The environment variables expand against: the stage's ARGs, overridden by its ENV. */
  expansionEnv(state: StageState): Map<string, string>;
  /**
   * The step's result from the cache when its key is known (or `--cache-from` gives it),
   * else from `make`, recorded under the key. `carry`: the ARGs and CMD flag the next state
   * keeps.
   */
  cached(state: StageState, key: unknown, make: () => Promise<Image>, carry?: Pick<StageState, 'args' | 'cmdSet'>, probe?: CacheFromProbe): Promise<StageState>;
  /** The root of `--from=<stage|image>` mounted for reading, until `release`. */
  fromTree(ins: Instruction, from: string): Promise<{ dir: string; release: () => Promise<void> }>;
  /** The image a `from=` names (a stage's result or a local image), for cache keys. */
  fromIdentity(ins: Instruction, from: string): Promise<string>;
}

/** The shell of shell-form instructions: the stage's SHELL, else `/bin/sh -c`. */
export function shellOf(state: StageState): string[] {
  const s = state.config.config?.Shell;
  return s && s.length > 0 ? s : ['/bin/sh', '-c'];
}

/** A stage's state on `image`: its config (a copy), layers and chain, no ARGs yet. */
export async function stateOf(images: BuildImages, image: Image): Promise<StageState> {
  const config = structuredClone(await images.config(image));
  return { imageId: image.id, config, layers: [...image.layers], chainId: images.topChainId(image), args: new Map(), cmdSet: false };
}

/** A build container's spec: its id and rootfs come from runContainer; `userNetwork`: see BuildHost.runContainer. */
export type BuildContainerSpec = Omit<ContainerSpec, 'id' | 'rootfs'> & { userNetwork?: string };
