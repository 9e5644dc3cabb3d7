import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, mkdtemp, open, readdir, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../content/content.js';
import type { AuthConfig } from '../distribution/auth.js';
import { EngineError, errnoCode, invalid, notFound, withContext } from '../errors.js';
import { applyChanges } from '../images/changes.js';
import type { Image, ImageService, Lease } from '../images/images.js';
import { familiarName, parseReference, shortId, withDefaultTag } from '../images/reference.js';
import { hostPlatform, type History, type ImageConfig, type OciImage } from '../images/types.js';
import { log } from '../log.js';
import { containerSpec, type ContainerRuntime, type ContainerSpec } from '../runtime/runtime.js';
import { resolveInRoot, resolveUser } from '../runtime/user.js';
import { extractLayer } from '../snapshots/extract.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { httpGet } from '../util/http-get.js';
import { BuildCache } from './cache.js';
import { checksumSources, collectSources, type BuildContext, type Source, type SourceEntry } from './context.js';
import { envMap, expandWord, expandWords } from './expand.js';
import { checkFlags, flagValue, flagValues, keyValuePairs, parseDockerfile, parseError, splitShellWords, type Dockerfile, type Instruction } from './parser.js';
import { planStages, type Stage } from './stages.js';

/**
 * The executor of the classic builder: runs a parsed Dockerfile against the engine's parts.
 * Each step gives an image (as Docker's classic builder does), found in the build cache when
 * its key is known. RUN runs in a real container through the runtime over a writable snapshot
 * of the parent chain; COPY and ADD write into such a snapshot, mounted; either way the
 * snapshot's diff becomes the step's layer. Metadata instructions give empty_layer history.
 * What a build prints goes to `BuildOutput` in the classic stream's words.
 */

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

export interface BuilderDeps {
  images: ImageService;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  /** `<root>/build`: the cache, mount points and temp folders. */
  dir: string;
  /** Runtime state for build containers' logs. */
  execDir: string;
}

const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The state of one stage while it builds. */
interface StageState {
  imageId: string | null;
  config: OciImage;
  layers: Descriptor[];
  chainId: string | null;
  /** ARGs declared in the stage, with their values. */
  args: Map<string, string>;
  cmdSet: boolean;
}

export class Builder {
  readonly cache: BuildCache;
  readonly images: ImageService;
  /** Set by the engine once a registry client exists: FROM pulls missing images (and all with --pull). */
  pull: PullFn | undefined;
  private readonly snapshots: Snapshotter;
  private readonly runtime: ContainerRuntime;

  constructor(private readonly deps: BuilderDeps) {
    this.images = deps.images;
    this.snapshots = deps.snapshots;
    this.runtime = deps.runtime;
    this.cache = new BuildCache(deps.dir);
  }

  /** Load the cache and remove what a build cut short by a crash left (mounts, temp dirs, writable layers). */
  async init(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 });
    await this.cache.load();
    // Build containers a killed daemon left running (each has its log folder under execDir).
    for (const id of await readdir(this.deps.execDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      await this.runtime.delete(id, { force: true }).catch((err: unknown) => log.warn({ err, id }, 'build container left over'));
      await rm(join(this.deps.execDir, id), { recursive: true, force: true });
    }
    const mnt = join(this.deps.dir, 'mnt');
    for (const name of await readdir(mnt).catch(() => [] as string[])) {
      await this.snapshots.unmount(join(mnt, name)).catch((err: unknown) => log.warn({ err, name }, 'build mount left over'));
      await rmdir(join(mnt, name)).catch(() => undefined);
      await this.snapshots.removeActive(name).catch(() => undefined);
    }
    await rm(join(this.deps.dir, 'tmp'), { recursive: true, force: true });
  }

  /** A temp folder under `<root>/build/tmp` (contexts, downloads); the caller removes it. */
  async tempDir(prefix: string): Promise<string> {
    const tmp = join(this.deps.dir, 'tmp');
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    return mkdtemp(join(tmp, prefix));
  }

  get cacheMountsDir(): string {
    return join(this.deps.dir, 'cache-mounts');
  }

  get contextParent(): string {
    return join(this.deps.dir, 'tmp');
  }

  /**
   * Parse the Dockerfile and check what can be checked before any step runs (syntax, stages,
   * target). Throws `invalid` naming the line.
   */
  async prepare(context: BuildContext, opts: BuildOptions): Promise<{ dockerfile: Dockerfile; stages: Stage[] }> {
    const text = opts.dockerfileText ?? (await context.readDockerfile(opts.dockerfile));
    const dockerfile = parseDockerfile(text);
    const stages = planStages(dockerfile, opts.target);
    return { dockerfile, stages };
  }

  /** Run a build; returns the final image ID. Tags are set only when every step succeeded. */
  async build(context: BuildContext, opts: BuildOptions, out: BuildOutput): Promise<string> {
    const { dockerfile, stages } = await this.prepare(context, opts);
    const run = new BuildRun(this, context, opts, out, dockerfile, stages);
    let id: string;
    try {
      id = await run.execute();
    } catch (err) {
      if (opts.quiet && run.quietBuffer.length > 0) out.stream(run.quietBuffer.join(''));
      throw err;
    }
    out.aux({ ID: id });
    if (!opts.quiet) out.stream(`Successfully built ${shortId(id)}\n`);
    for (const t of opts.tags) {
      await this.images.setTag(t, id, 'build');
      if (!opts.quiet) out.stream(`Successfully tagged ${familiarTag(t)}\n`);
    }
    if (opts.quiet) out.stream(`${id}\n`);
    return id;
  }

  /**
   * The build cache as `GET /system/df` shows it: each untagged step image the cache keeps
   * (its own layer's size) and each `RUN --mount=type=cache` folder.
   */
  async usage(): Promise<BuildCacheUsage[]> {
    const out: BuildCacheUsage[] = [];
    for (const id of this.cache.images()) {
      const image = await this.images.get(id).catch(() => undefined);
      if (!image || image.repoTags.length > 0) continue;
      out.push({
        ID: id.replace(/^sha256:/, '').slice(0, 25),
        Parent: image.parent.replace(/^sha256:/, '').slice(0, 25) || null,
        Type: 'regular',
        Description: 'a build step',
        InUse: false,
        Shared: false,
        Size: image.layerSizes.at(-1) ?? 0,
        CreatedAt: image.addedAt,
        LastUsedAt: null,
        UsageCount: 0,
      });
    }
    const mounts = join(this.deps.dir, 'cache-mounts');
    for (const name of await readdir(mounts).catch(() => [] as string[])) {
      const st = await lstat(join(mounts, name));
      out.push({ ID: name.slice(0, 25), Parent: null, Type: 'exec.cachemount', Description: 'cached mount', InUse: false, Shared: true, Size: await duOf(join(mounts, name)), CreatedAt: st.birthtime.toISOString(), LastUsedAt: st.mtime.toISOString(), UsageCount: 0 });
    }
    return out;
  }

  /** `POST /build/prune`: forget the cache and delete the untagged images only it kept. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    const ids = await this.cache.prune();
    // RUN --mount=type=cache folders go with the cache.
    const mounts = join(this.deps.dir, 'cache-mounts');
    let reclaimedMounts = 0;
    for (const name of await readdir(mounts).catch(() => [] as string[])) {
      reclaimedMounts += await duOf(join(mounts, name));
      await rm(join(mounts, name), { recursive: true, force: true });
    }
    const deleted: string[] = [];
    let reclaimed = 0;
    // Children first: a step's image is the parent of the next one.
    for (const id of ids.reverse()) {
      let image: Image;
      try {
        image = await this.images.get(id);
      } catch {
        continue;
      }
      if (image.repoTags.length > 0 || image.repoDigests.length > 0) continue;
      try {
        await this.images.delete(id, { noprune: true });
        deleted.push(id);
        reclaimed += image.layerSizes.at(-1) ?? 0;
      } catch (err) {
        log.debug({ err, id }, 'build cache image kept');
      }
    }
    return { CachesDeleted: deleted, SpaceReclaimed: reclaimed + reclaimedMounts };
  }

  // ---- pieces used by BuildRun ----

  /** Write a step's image. */
  async commitImage(state: StageState, history: History, layer?: { descriptor: Descriptor; diffId: string; chainId: string }): Promise<Image> {
    const config: OciImage = structuredClone(state.config);
    const created = new Date().toISOString();
    config.created = created;
    config.history = [...(config.history ?? []), historyEntry(history, created)];
    const layers = [...state.layers];
    if (layer) {
      config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] };
      layers.push(layer.descriptor);
    }
    return this.images.createImage({ config, layers, ...(state.imageId ? { parent: state.imageId } : {}) });
  }

  /**
   * Run `fn` with a writable snapshot over `parent` mounted at a fresh folder; then unless
   * `keep` is false, its diff becomes a layer (leased to `lease`). Always unmounts and
   * removes the writable layer.
   */
  async withRootfs<T>(
    parent: string | null,
    lease: Lease | null,
    fn: (rootfs: string, key: string) => Promise<T>,
    keep: (result: T) => boolean = () => true,
  ): Promise<{ result: T; layer?: { descriptor: Descriptor; diffId: string; chainId: string } }> {
    const key = `build-${randomBytes(12).toString('hex')}`;
    const target = join(this.deps.dir, 'mnt', key);
    await mkdir(target, { recursive: true });
    let prepared = false;
    let mounted = false;
    try {
      await this.snapshots.prepare(key, parent);
      prepared = true;
      await this.snapshots.mount(key, target);
      mounted = true;
      const result = await fn(target, key);
      await this.snapshots.unmount(target);
      mounted = false;
      if (!lease || !keep(result)) return { result };
      const layer = await this.images.ingestLayer(parent, this.snapshots.diff(key), { lease });
      return { result, layer };
    } finally {
      if (mounted) await this.snapshots.unmount(target).catch((err: unknown) => log.warn({ err, key }, 'build unmount'));
      if (prepared) await this.snapshots.removeActive(key).catch((err: unknown) => log.warn({ err, key }, 'build snapshot removal'));
      await rmdir(target).catch(() => undefined);
    }
  }

  /** Run one process in a build container on `rootfs`; its output goes to `onOutput`. Returns the exit code. */
  async runContainer(spec: Omit<ContainerSpec, 'id' | 'rootfs'>, rootfs: string, onStart: (id: string) => void, onOutput: (chunk: Buffer) => void): Promise<number> {
    const id = randomBytes(32).toString('hex');
    const logDir = join(this.deps.execDir, id);
    await mkdir(logDir, { recursive: true });
    let created = false;
    try {
      await this.runtime.create({ ...spec, id, rootfs }, join(logDir, 'log'));
      created = true;
      onStart(id);
      const streams = await this.runtime.attach(id);
      const exited = new Promise<number>((resolve) => {
        const cancel = this.runtime.watchExit(id, (status) => {
          cancel();
          resolve(status.exitCode);
        });
      });
      const pump = async (s: Readable): Promise<void> => {
        for await (const chunk of s as AsyncIterable<Buffer>) onOutput(chunk);
      };
      const pumping = Promise.all([pump(streams.stdout), pump(streams.stderr)]);
      await this.runtime.start(id);
      const code = await exited;
      // conmon sends the last output before it reports the exit; give the streams a moment to end.
      const ended = await Promise.race([pumping.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
      if (!ended) streams.close();
      await pumping.catch(() => undefined);
      return code;
    } catch (err) {
      if (err instanceof EngineError && err.kind === 'invalid') {
        // Docker's code for a command that cannot run.
        throw new BuildStepError(err.message, /not found|no such file/i.test(err.message) ? 127 : 126);
      }
      throw err;
    } finally {
      if (created) await this.runtime.delete(id, { force: true }).catch((err: unknown) => log.warn({ err, id }, 'build container delete'));
      await rm(logDir, { recursive: true, force: true });
    }
  }
}

/**
 * A history entry with its keys in the order the image config schema reads them back, so an
 * entry written now and one restored from another image give the same config bytes (and ID).
 */
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

async function duOf(path: string): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await duOf(join(path, name));
  return total;
}

function historyEntry(h: History, created: string): History {
  return {
    created,
    ...(h.created_by !== undefined ? { created_by: h.created_by } : {}),
    ...(h.author !== undefined ? { author: h.author } : {}),
    ...(h.comment !== undefined ? { comment: h.comment } : {}),
    ...(h.empty_layer ? { empty_layer: true } : {}),
  };
}

function familiarTag(t: string): string {
  return familiarName(withDefaultTag(parseReference(t)));
}

/** One build: the state of every stage, the step counter, the output. */
class BuildRun {
  private readonly results = new Map<number, StageState>();
  private readonly globalArgs = new Map<string, string>();
  private readonly usedArgs = new Set<string>();
  private readonly total: number;
  private globalStep = 0;
  private failed = false;
  private readonly stageRun = new AsyncLocalStorage<StageOutput>();

  constructor(
    private readonly b: Builder,
    private readonly context: BuildContext,
    private readonly opts: BuildOptions,
    private readonly out: BuildOutput,
    private readonly dockerfile: Dockerfile,
    private readonly stages: Stage[],
  ) {
    this.total = dockerfile.instructions.length + (Object.keys(opts.labels).length > 0 ? 1 : 0);
  }

  /** Text for the stream: live for the earliest unfinished stage, held back for the later ones. */
  /** With -q the stream is held back, and written only if the build fails (Docker's notVerboseBuffer). */
  readonly quietBuffer: string[] = [];

  private say(text: string): void {
    if (this.opts.quiet) {
      this.quietBuffer.push(text);
      return;
    }
    const stage = this.stageRun.getStore();
    if (stage) stage.write(text);
    else this.out.stream(text);
  }

  private get step(): number {
    return this.stageRun.getStore()?.step ?? this.globalStep;
  }

  private set step(n: number) {
    const stage = this.stageRun.getStore();
    if (stage) stage.step = n;
    else this.globalStep = n;
  }

  private get escape(): string {
    return this.dockerfile.escape;
  }

  async execute(): Promise<string> {
    // Global ARGs (before the first FROM) are in scope for FROM lines only.
    for (const ins of this.dockerfile.instructions) {
      if (ins.command === 'from') break;
      if (ins.command !== 'arg') throw parseError(ins.line, `${ins.command.toUpperCase()} cannot be used before FROM`);
      this.step++;
      this.say(`Step ${this.step}/${this.total} : ${ins.original}\n`);
      for (const [name, value] of this.argPairs(ins, this.globalArgs)) {
        if (value !== undefined) this.globalArgs.set(name, value);
      }
    }
    const target = this.stages.at(-1)!;
    const last = await this.buildGraph(target);
    if (!last.imageId) throw invalid('No image was generated. Is your Dockerfile empty?');
    const unused = Object.keys(this.opts.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length > 0) this.say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    return last.imageId;
  }

  /**
   * Build every needed stage, each as soon as the stages it reads are built, so independent
   * stages run in parallel. The stream stays in Dockerfile order: the earliest unfinished
   * stage writes live, later ones are held back and written, each as one block, when their
   * turn comes. After a failure no new step starts; the first error is thrown once every
   * running stage has stopped.
   */
  private async buildGraph(target: Stage): Promise<StageState> {
    const needed = this.stages.filter((s) => s.needed);
    const runs = needed.map((s) => new StageOutput((text) => this.out.stream(text), s.firstStep));
    let flushed = 0;
    const advance = (): void => {
      // A stage that finished while an earlier one was live is written, as one block, when its turn comes.
      while (flushed < runs.length && runs[flushed]!.done) runs[flushed++]!.goLive();
      if (flushed < runs.length) runs[flushed]!.goLive();
    };
    advance();
    const promises = new Map<number, Promise<StageState>>();
    let failure: { err: unknown } | undefined;
    const buildOne = (stage: Stage, i: number): Promise<StageState> => {
      let p = promises.get(stage.index);
      if (p) return p;
      p = (async () => {
        for (const dep of stage.deps) {
          const depStage = needed.find((s) => s.index === dep)!;
          await buildOne(depStage, needed.indexOf(depStage));
        }
        const run = runs[i]!;
        try {
          const state = await this.stageRun.run(run, () => this.buildStage(stage, stage === target));
          this.results.set(stage.index, state);
          return state;
        } catch (err) {
          failure ??= { err };
          this.failed = true;
          throw err;
        } finally {
          run.finish();
          advance();
        }
      })();
      promises.set(stage.index, p);
      return p;
    };
    const settled = await Promise.allSettled(needed.map((s, i) => buildOne(s, i)));
    // Whatever was held back (stages that finished after a failure) is written now, in order.
    for (const r of runs) r.goLive();
    if (failure) throw failure.err;
    const last = settled.at(-1)!;
    if (last.status === 'rejected') throw last.reason;
    return last.value;
  }

  /** `ARG a=b c`: each name with its value (a --build-arg wins over the default; null when neither). */
  private argPairs(ins: Instruction, env: ReadonlyMap<string, string>): Array<[string, string | undefined]> {
    const out: Array<[string, string | undefined]> = [];
    for (const word of splitShellWords(ins.rest, this.escape)) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw parseError(ins.line, `invalid ARG name: ${name}`);
      const dflt = eq < 0 ? undefined : this.expand(ins, word.slice(eq + 1), env);
      const given = this.opts.buildArgs[name];
      if (given !== undefined) this.usedArgs.add(name);
      out.push([name, given !== undefined && given !== null ? given : dflt]);
    }
    return out;
  }

  private expand(ins: Instruction, text: string, env: ReadonlyMap<string, string>): string {
    try {
      return expandWord(text, env, { escape: this.escape });
    } catch (err) {
      throw parseError(ins.line, `${ins.command.toUpperCase()}: ${(err as Error).message}`);
    }
  }

  private expandList(ins: Instruction, text: string, env: ReadonlyMap<string, string>): string[] {
    try {
      return expandWords(text, env, { escape: this.escape });
    } catch (err) {
      throw parseError(ins.line, `${ins.command.toUpperCase()}: ${(err as Error).message}`);
    }
  }

  /** The environment variables expand against: the stage's ARGs, overridden by its ENV. */
  private expansionEnv(state: StageState): Map<string, string> {
    const env = new Map(state.args);
    for (const [k, v] of envMap(state.config.config?.Env ?? [])) env.set(k, v);
    return env;
  }

  private async buildStage(stage: Stage, isTarget: boolean): Promise<StageState> {
    const [from, ...rest] = stage.instructions;
    let state = await this.from(from!, stage);
    for (const ins of rest) state = await this.dispatch(ins, state, stage);
    if (isTarget && Object.keys(this.opts.labels).length > 0) {
      const text = `LABEL ${Object.entries(this.opts.labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`;
      const ins = parseDockerfile(text).instructions[0]!;
      ins.line = 0;
      this.step = this.total - 1;
      state = await this.dispatch(ins, state, stage);
    }
    return state;
  }

  private beginStep(ins: Instruction): void {
    if (this.opts.signal?.aborted) throw invalid('the build was cancelled');
    if (this.failed) throw invalid('stopped: another stage failed');
    this.step++;
    this.say(`Step ${this.step}/${this.total} : ${ins.original}\n`);
  }

  // ---- FROM ----

  private async from(ins: Instruction, stage: Stage): Promise<StageState> {
    this.beginStep(ins);
    checkFlags(ins, ['platform']);
    const name = this.expand(ins, stage.base, this.globalArgs);
    let state: StageState;
    if (stage.baseStage !== null) {
      const base = this.results.get(stage.baseStage);
      if (!base) throw parseError(ins.line, `stage ${name} has not been built`);
      state = { ...structuredClone(base), args: new Map(), cmdSet: false };
      // A stage's ONBUILD triggers are its own image's; they run for a stage based on it too.
    } else if (name.toLowerCase() === 'scratch') {
      const p = hostPlatform();
      state = {
        imageId: null,
        config: { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), config: { Env: [DEFAULT_PATH] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
        layers: [],
        chainId: null,
        args: new Map(),
        cmdSet: false,
      };
    } else {
      const pull = this.b.pull;
      let image = this.opts.pull && pull ? undefined : await this.b.images.resolve(name).catch((err: unknown) => {
        if (err instanceof EngineError && err.kind === 'notFound') return undefined;
        throw err;
      });
      if (!image && pull) {
        await pull(
          name,
          this.opts.platform,
          (msg) => {
            if (!this.opts.quiet) this.out.progress?.(msg);
          },
          this.opts.registryConfig,
        );
        image = await this.b.images.resolve(name);
      }
      if (!image) {
        throw notFound(`pull access denied for ${name.replace(/:.*$/, '')}, repository does not exist or may require 'docker login': ${name} is not present locally and this engine cannot pull it`);
      }
      if (this.opts.pull && !pull) this.say(`--pull: this engine cannot pull yet; using the local ${name}\n`);
      state = await this.stateOf(image);
    }
    if (state.imageId) this.say(` ---> ${shortId(state.imageId)}\n`);
    const cfg = state.config.config ?? {};
    if (!(cfg.Env ?? []).some((e) => e.startsWith('PATH='))) state.config.config = { ...cfg, Env: [...(cfg.Env ?? []), DEFAULT_PATH] };
    const triggers = state.config.config?.OnBuild ?? [];
    if (triggers.length > 0) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      state.config.config = { ...state.config.config, OnBuild: [] };
      for (const trigger of triggers) {
        const t = parseDockerfile(trigger).instructions[0];
        if (!t) continue;
        t.line = ins.line;
        state = await this.dispatch(t, state, stage, true);
      }
    }
    return state;
  }

  private async stateOf(image: Image): Promise<StageState> {
    const config = structuredClone(await this.b.images.config(image));
    return { imageId: image.id, config, layers: [...image.layers], chainId: this.b.images.topChainId(image), args: new Map(), cmdSet: false };
  }

  // ---- the other instructions ----

  private async dispatch(ins: Instruction, state: StageState, stage: Stage, trigger = false): Promise<StageState> {
    if (!trigger) this.beginStep(ins);
    if (ins.command !== 'run' && ins.command !== 'copy' && ins.command !== 'add' && ins.command !== 'healthcheck' && ins.flags.length > 0) {
      throw parseError(ins.line, `unknown flag: --${ins.flags[0]!.name}`);
    }
    switch (ins.command) {
      case 'run':
        return this.runStep(ins, state);
      case 'copy':
      case 'add':
        return this.copyStep(ins, state);
      default:
        return this.metadataStep(ins, state);
    }
  }

  /** A step whose result comes from the cache when its key is known; else from `make`. */
  private async cached(
    state: StageState,
    key: unknown,
    make: () => Promise<Image>,
    carry: Pick<StageState, 'args' | 'cmdSet'> = state,
    probe?: CacheFromProbe,
  ): Promise<StageState> {
    const k = BuildCache.key({ parent: state.imageId, key });
    if (!this.opts.noCache) {
      const hit = this.b.cache.get(k);
      let image = hit ? await this.b.images.get(hit).catch(() => undefined) : undefined;
      if (!image && probe) {
        image = await this.fromCacheSources(state, probe);
        if (image) await this.b.cache.put(k, image.id);
      }
      if (image) {
        this.say(' ---> Using cache\n');
        this.say(` ---> ${shortId(image.id)}\n`);
        const next = await this.stateOf(image);
        return { ...next, args: carry.args, cmdSet: carry.cmdSet };
      }
    }
    const image = await make();
    await this.b.cache.put(k, image.id);
    this.say(` ---> ${shortId(image.id)}\n`);
    const next = await this.stateOf(image);
    return { ...next, args: carry.args, cmdSet: carry.cmdSet };
  }

  private cacheSources: Promise<Array<{ image: Image; config: OciImage }>> | undefined;

  /**
   * `--cache-from`: a local image whose history and layers start as this stage's do, and whose
   * next history entry was made by the same instruction, gives the step's result (its layer
   * and history entry; the config is the one this step computes), as Docker's classic builder
   * restores cached images from `--cache-from` sources.
   */
  private async fromCacheSources(state: StageState, probe: CacheFromProbe): Promise<Image | undefined> {
    if (this.opts.cacheFrom.length === 0) return undefined;
    this.cacheSources ??= (async () => {
      const out: Array<{ image: Image; config: OciImage }> = [];
      for (const name of this.opts.cacheFrom) {
        const image = await this.b.images.resolve(name).catch(() => undefined);
        if (image) out.push({ image, config: await this.b.images.config(image) });
      }
      return out;
    })();
    const history = state.config.history ?? [];
    const diffIds = state.config.rootfs.diff_ids;
    for (const { image, config } of await this.cacheSources) {
      const h = config.history ?? [];
      const d = config.rootfs.diff_ids;
      if (h.length <= history.length || d.length < diffIds.length) continue;
      if (!history.every((e, i) => e.created_by === h[i]!.created_by && !!e.empty_layer === !!h[i]!.empty_layer)) continue;
      if (!diffIds.every((id, i) => id === d[i])) continue;
      const entry = h[history.length]!;
      const emptyLayer = !!entry.empty_layer;
      if (entry.created_by !== probe.createdBy || (probe.emptyLayer !== undefined && emptyLayer !== probe.emptyLayer)) continue;
      if (!emptyLayer && d.length <= diffIds.length) continue;
      const next: OciImage = structuredClone(probe.config);
      next.created = entry.created;
      next.history = [...history, historyEntry(entry, entry.created ?? '')];
      const layers = [...state.layers];
      if (!emptyLayer) {
        next.rootfs = { type: 'layers', diff_ids: [...diffIds, d[diffIds.length]!] };
        layers.push(image.layers[diffIds.length]!);
      }
      return this.b.images.createImage({ config: next, layers, ...(state.imageId ? { parent: state.imageId } : {}) });
    }
    return undefined;
  }

  private shellOf(state: StageState): string[] {
    const s = state.config.config?.Shell;
    return s && s.length > 0 ? s : ['/bin/sh', '-c'];
  }

  private async metadataStep(ins: Instruction, state: StageState): Promise<StageState> {
    const next: StageState = { ...state, config: structuredClone(state.config), args: new Map(state.args) };
    const cfg: ImageConfig = next.config.config ?? {};
    const env = this.expansionEnv(state);
    let comment = ins.original;
    switch (ins.command) {
      case 'env': {
        const list = [...(cfg.Env ?? [])];
        const words: string[] = [];
        for (const [rawK, rawV] of keyValuePairs(ins, this.escape)) {
          const k = this.expand(ins, rawK, env);
          const v = this.expand(ins, rawV, env);
          if (k === '') throw parseError(ins.line, 'ENV names can not be blank');
          const i = list.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) list[i] = `${k}=${v}`;
          else list.push(`${k}=${v}`);
          words.push(`${k}=${v}`);
        }
        cfg.Env = list;
        comment = `ENV ${words.join(' ')}`;
        break;
      }
      case 'label': {
        const labels = { ...(cfg.Labels ?? {}) };
        const words: string[] = [];
        for (const [rawK, rawV] of keyValuePairs(ins, this.escape)) {
          const k = this.expand(ins, rawK, env);
          const v = this.expand(ins, rawV, env);
          if (k === '') throw parseError(ins.line, 'LABEL names can not be blank');
          labels[k] = v;
          words.push(`${JSON.stringify(k)}=${JSON.stringify(v)}`);
        }
        cfg.Labels = labels;
        comment = `LABEL ${words.join(' ')}`;
        break;
      }
      case 'arg': {
        const words: string[] = [];
        for (const [name, value] of this.argPairs(ins, env)) {
          // A stage's ARG without a default takes the global ARG's value.
          const v = value ?? this.globalArgs.get(name);
          if (v !== undefined) next.args.set(name, v);
          else next.args.delete(name);
          words.push(v === undefined ? name : `${name}=${v}`);
        }
        comment = `ARG ${words.join(' ')}`;
        break;
      }
      case 'workdir': {
        const dir = this.expand(ins, ins.rest, env);
        cfg.WorkingDir = posix.resolve(cfg.WorkingDir || '/', dir);
        comment = `WORKDIR ${cfg.WorkingDir}`;
        break;
      }
      case 'maintainer':
        next.config.author = this.expand(ins, ins.rest, env);
        comment = `MAINTAINER ${next.config.author}`;
        break;
      case 'shell':
        cfg.Shell = ins.json!;
        comment = `SHELL ${JSON.stringify(ins.json)}`;
        break;
      case 'cmd':
      case 'entrypoint': {
        const args = ins.json ?? [...this.shellOf(state), ins.rest];
        if (ins.command === 'cmd') {
          cfg.Cmd = args;
          next.cmdSet = true;
        } else {
          cfg.Entrypoint = args;
          if (!state.cmdSet) cfg.Cmd = null;
        }
        comment = `${ins.command.toUpperCase()} ${JSON.stringify(args)}`;
        break;
      }
      default: {
        // EXPOSE, VOLUME, USER, STOPSIGNAL, HEALTHCHECK, ONBUILD: the same rules as `--change`,
        // with the stage's ARGs in the expansion environment.
        const withArgs: ImageConfig = { ...cfg, Env: [...[...state.args].map(([k, v]) => `${k}=${v}`), ...(cfg.Env ?? [])] };
        let changed: ImageConfig;
        try {
          changed = applyChanges(withArgs, [ins.original]);
        } catch (err) {
          throw parseError(ins.line, (err as Error).message);
        }
        changed.Env = cfg.Env;
        Object.assign(cfg, changed);
        if (ins.command === 'expose') comment = `EXPOSE ${Object.keys(cfg.ExposedPorts ?? {}).join(' ')}`;
        break;
      }
    }
    next.config.config = cfg;
    const createdBy = `${this.shellOf(state).join(' ')} #(nop)  ${comment}`;
    if (ins.command === 'workdir') {
      // As Docker's classic builder: WORKDIR creates its folder (root-owned, 0755) in a layer when the image lacks it.
      const dir = cfg.WorkingDir!;
      return this.cached(state, { createdBy, config: cfg, workdir: true }, async () => {
        const lease = this.b.images.lease();
        try {
          const { layer } = await this.b.withRootfs(
            state.chainId,
            lease,
            async (rootfs) => {
              const host = await resolveInRoot(rootfs, dir);
              if (await lstat(host).catch(() => null)) return false;
              await mkdirParents(rootfs, dir);
              return true;
            },
            (created) => created,
          );
          return await this.b.commitImage(next, layer ? { created_by: createdBy } : { created_by: createdBy, empty_layer: true }, layer);
        } finally {
          lease.release();
        }
      }, next, { createdBy, emptyLayer: undefined, config: next.config });
    }
    return this.cached(state, { createdBy, config: cfg, author: next.config.author ?? '' }, () => this.b.commitImage(next, { created_by: createdBy, empty_layer: true }), next, {
      createdBy,
      emptyLayer: true,
      config: next.config,
    });
  }

  // ---- RUN ----

  private async runStep(ins: Instruction, state: StageState): Promise<StageState> {
    checkFlags(ins, ['mount', 'network', 'security']);
    const network = flagValue(ins, 'network') ?? this.opts.networkMode;
    if (!['default', 'none', 'host', 'bridge', ''].includes(network)) throw parseError(ins.line, `RUN --network=${network}: only none, default and host are supported`);
    const mounts = flagValues(ins, 'mount').map((m) => parseMount(ins, m));
    for (const m of mounts) {
      if (m.type === 'secret') {
        const id = m.id ?? posix.basename(m.target ?? '');
        if (!this.opts.secrets?.has(id) && m.required) {
          throw parseError(ins.line, `secret ${id} not found: the classic build API cannot carry secrets; use \`pier build --secret id=${id},src=<file>\``);
        }
      }
    }
    const cfg = state.config.config ?? {};
    let args: string[];
    if (ins.heredocs.length === 1 && /^<<-?["']?[A-Za-z0-9_]+["']?$/.test(ins.rest.trim())) {
      args = [...this.shellOf(state), ins.heredocs[0]!.content];
    } else if (ins.heredocs.length > 0) {
      const text = [ins.rest, ...ins.heredocs.map((h) => `${h.content}${h.name}`)].join('\n');
      args = [...this.shellOf(state), text];
    } else {
      args = ins.json ?? [...this.shellOf(state), ins.rest];
    }
    // Build args visible to the command: declared ones, unless an ENV of the same name wins, and the proxy args given.
    const envNames = new Set((cfg.Env ?? []).map((e) => e.split('=', 1)[0]!));
    const argEnv: string[] = [];
    for (const [k, v] of state.args) if (!envNames.has(k)) argEnv.push(`${k}=${v}`);
    const proxyEnv: string[] = [];
    for (const k of PROXY_ARGS) {
      const v = this.opts.buildArgs[k];
      if (typeof v === 'string' && !state.args.has(k)) {
        proxyEnv.push(`${k}=${v}`);
        this.usedArgs.add(k);
      }
    }
    argEnv.sort();
    const createdBy = `${argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(' ')} ` : ''}${args.join(' ')}`;
    // What bind mounts show the command is part of the key: the stage or image they come from, or the context files' checksum.
    const mountInputs: string[] = [];
    for (const m of mounts) {
      if (m.type !== 'bind') continue;
      if (m.from) mountInputs.push(await this.fromIdentity(ins, m.from));
      else mountInputs.push(await checksumSources(await collectSources(this.context.dir, [m.source ?? '/'], (rel) => !this.context.ignored(rel))));
    }
    const key = { run: createdBy, config: cfg, network, mounts, mountInputs };
    return this.cached(state, key, async () => {
      const lease = this.b.images.lease();
      const releases: Array<() => Promise<void>> = [];
      try {
        const { layer } = await this.b.withRootfs(state.chainId, lease, async (rootfs) => {
          // id and rootfs are the build container's, set by runContainer.
          const spec: Omit<ContainerSpec, 'id' | 'rootfs'> = containerSpec({
            id: '',
            rootfs: '',
            args,
            env: [...(cfg.Env ?? []), ...argEnv, ...proxyEnv],
            cwd: cfg.WorkingDir || '/',
            user: cfg.User ?? '',
            hostname: '',
            shmSize: this.opts.shmSize || 64 * 1024 * 1024,
            mounts: await this.runMounts(ins, mounts, releases),
            network: { netns: network === 'host' ? { kind: 'host' } : { kind: 'new' } },
            resources: { memory: this.opts.memory || undefined, cpuShares: this.opts.cpuShares || undefined },
            annotations: { 'io.pier.build': 'true' },
          });
          if (cfg.WorkingDir) await mkdirInRoot(rootfs, cfg.WorkingDir);
          let cid = '';
          const code = await this.b.runContainer(
            spec,
            rootfs,
            (id) => {
              cid = id;
              spec.hostname = id.slice(0, 12);
              this.say(` ---> Running in ${id.slice(0, 12)}\n`);
            },
            (chunk) => this.say(chunk.toString('utf8')),
          );
          this.say(` ---> Removed intermediate container ${cid.slice(0, 12)}\n`);
          if (code !== 0) throw new BuildStepError(`The command '${args.join(' ')}' returned a non-zero code: ${code}`, code);
        });
        return await this.b.commitImage(state, { created_by: createdBy }, layer);
      } finally {
        for (const release of releases) await release();
        lease.release();
      }
    }, state, { createdBy, emptyLayer: false, config: state.config });
  }

  /** The runtime mounts of `RUN --mount=...`; `releases` unmount the stage trees `from=` mounted. */
  private async runMounts(ins: Instruction, mounts: RunMount[], releases: Array<() => Promise<void>>): Promise<ContainerSpec['mounts']> {
    const out: ContainerSpec['mounts'] = [];
    for (const m of mounts) {
      if (m.type === 'tmpfs') out.push({ destination: m.target!, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      else if (m.type === 'secret') {
        const id = m.id ?? posix.basename(m.target ?? '');
        const src = this.opts.secrets?.get(id);
        if (src) out.push({ destination: m.target ?? `/run/secrets/${id}`, type: 'bind', source: src, options: ['rbind', 'ro'] });
      } else if (m.type === 'cache') {
        const dir = join(this.b.cacheMountsDir, BuildCache.key(m.id ?? m.target).slice(0, 32));
        await mkdir(dir, { recursive: true });
        out.push({ destination: m.target!, type: 'bind', source: dir, options: ['rbind', 'rw'] });
      } else if (m.type === 'bind') {
        let root = this.context.dir;
        if (m.from) {
          const tree = await this.fromTree(ins, m.from);
          releases.push(tree.release);
          root = tree.dir;
        }
        const src = await resolveInRoot(root, m.source ?? '/');
        out.push({ destination: m.target!, type: 'bind', source: src, options: ['rbind', m.rw ? 'rw' : 'ro'] });
      }
    }
    return out;
  }

  // ---- COPY / ADD ----

  private async copyStep(ins: Instruction, state: StageState): Promise<StageState> {
    const isAdd = ins.command === 'add';
    checkFlags(ins, isAdd ? ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'] : ['from', 'chown', 'chmod', 'link', 'parents', 'exclude']);
    const env = this.expansionEnv(state);
    const cfg = state.config.config ?? {};
    const words = (ins.json ?? splitShellWords(ins.rest, this.escape)).map((w) => (ins.json ? this.expand(ins, w.replace(/"/g, '\\"'), env) : this.expand(ins, w, env)));
    let heredocDir: string | undefined;
    try {
      let rawSources = words.slice(0, -1);
      const destWord = words.at(-1)!;
      if (rawSources.length === 0 && ins.heredocs.length === 0) throw parseError(ins.line, `${ins.command.toUpperCase()} requires at least two arguments`);
      const from = flagValue(ins, 'from');
      const chown = flagValue(ins, 'chown');
      const chmodFlag = flagValue(ins, 'chmod');
      const chmodMode = chmodFlag === undefined ? undefined : parseChmod(ins, chmodFlag);
      let root = this.context.dir;
      let filter: ((rel: string) => boolean) | undefined = (rel) => !this.context.ignored(rel);
      let fromTree: { release: () => Promise<void> } | undefined;
      if (ins.heredocs.length > 0) {
        heredocDir = await this.b.tempDir('heredoc-');
        for (const h of ins.heredocs) {
          const content = h.quoted ? h.content : expandWord(h.content, env, { escape: this.escape, literalQuotes: true });
          await writeFile(join(heredocDir, h.name), content, { mode: 0o644 });
        }
        rawSources = rawSources.filter((s) => !s.startsWith('<<'));
        rawSources.push(...ins.heredocs.map((h) => h.name));
        root = heredocDir;
        filter = undefined;
      }
      const urls = isAdd ? rawSources.filter((s) => /^https?:\/\//.test(s)) : [];
      if (urls.length > 0) {
        const dl = await this.b.tempDir('add-');
        heredocDir = dl;
        for (const url of urls) await download(url, dl);
        rawSources = rawSources.map((s) => (/^https?:\/\//.test(s) ? urlBaseName(s) : s));
        root = dl;
        filter = undefined;
      }
      if (from !== undefined) {
        const tree = await this.fromTree(ins, from);
        root = tree.dir;
        filter = undefined;
        fromTree = tree;
      }
      try {
        const sources = await collectSources(root, rawSources, filter).catch((err: unknown) => {
          throw parseError(ins.line, `${ins.command.toUpperCase()} failed: ${(err as Error).message.replace(/^COPY failed: /, '')}`);
        });
        const archives = isAdd && urls.length === 0 ? await Promise.all(sources.map((s) => isArchive(s))) : sources.map(() => false);
        const sum = await checksumSources(sources);
        const dest = posix.resolve(cfg.WorkingDir || '/', destWord) + (destWord.endsWith('/') || destWord === '.' || destWord.endsWith('/.') ? '/' : '');
        const what = sources.length === 1 ? (sources[0]!.isDir ? 'dir' : 'file') : 'multi';
        const createdBy = `${this.shellOf(state).join(' ')} #(nop) ${ins.command.toUpperCase()} ${what}:${sum} in ${dest} `;
        const key = { copy: createdBy, chown: chown ?? '', chmod: chmodFlag ?? '', archives };
        return await this.cached(state, key, async () => {
          const lease = this.b.images.lease();
          try {
            const { layer } = await this.b.withRootfs(state.chainId, lease, async (rootfs) => {
              const owner = chown ? await resolveOwner(rootfs, chown) : { uid: 0, gid: 0 };
              await copyInto(rootfs, sources, dest, { owner, chmod: chmodMode, archives, tmp: () => this.b.tempDir('x-') }).catch((err: unknown) => {
                if (err instanceof EngineError) throw err;
                throw invalid(`${ins.command.toUpperCase()} failed: ${(err as Error).message}`);
              });
            });
            return await this.b.commitImage(state, { created_by: createdBy }, layer);
          } finally {
            lease.release();
          }
        }, state, { createdBy, emptyLayer: false, config: state.config });
      } finally {
        await fromTree?.release();
      }
    } finally {
      if (heredocDir) await rm(heredocDir, { recursive: true, force: true });
    }
  }

  /** The image a `from=` names (a stage's result or a local image), for cache keys. */
  private async fromIdentity(ins: Instruction, from: string): Promise<string> {
    const stage = this.stages.find((s) => s.name !== null && s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? this.stages[Number(from)] : undefined);
    if (stage) return this.results.get(stage.index)?.imageId ?? `stage ${stage.index}`;
    const image = await this.b.images.resolve(from).catch((err: unknown) => {
      throw parseError(ins.line, `--mount from=${from}: ${(err as Error).message}`);
    });
    return image.id;
  }

  /** The root of `--from=<stage|image>` mounted read-only-ish for reading; released after the copy. */
  private async fromTree(ins: Instruction, from: string): Promise<{ dir: string; release: () => Promise<void> }> {
    const stage = this.stages.find((s) => s.name !== null && s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? this.stages[Number(from)] : undefined);
    let chain: string | null;
    if (stage) {
      const st = this.results.get(stage.index);
      if (!st) throw parseError(ins.line, `stage ${from} has not been built`);
      chain = st.chainId;
    } else {
      const image = await this.b.images.resolve(from).catch((err: unknown) => {
        throw parseError(ins.line, `COPY --from=${from}: ${(err as Error).message}`);
      });
      chain = this.b.images.topChainId(image);
    }
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    let ready!: (dir: string) => void;
    let failed!: (err: unknown) => void;
    const dirP = new Promise<string>((res, rej) => {
      ready = res;
      failed = rej;
    });
    const holding = this.b
      .withRootfs(chain, null, async (dir) => {
        ready(dir);
        await done;
      })
      .catch((err: unknown) => failed(err));
    const dir = await dirP;
    return {
      dir,
      release: async () => {
        release();
        await holding;
      },
    };
  }
}

/** One stage's part of the stream: written through while live, held until then. */
class StageOutput {
  private held: string[] = [];
  private live = false;
  done = false;

  constructor(
    private readonly sink: (text: string) => void,
    public step: number,
  ) {}

  write(text: string): void {
    if (this.live) this.sink(text);
    else this.held.push(text);
  }

  goLive(): void {
    if (this.live) return;
    this.live = true;
    for (const t of this.held) this.sink(t);
    this.held = [];
  }

  finish(): void {
    this.done = true;
  }
}

/** What `--cache-from` matching needs to know of a step. */
interface CacheFromProbe {
  createdBy: string;
  /** Whether the step adds no layer; undefined when that depends on the image (WORKDIR). */
  emptyLayer: boolean | undefined;
  /** The config the step gives (before its layer and history entry). */
  config: OciImage;
}

interface RunMount {
  type: 'cache' | 'bind' | 'tmpfs' | 'secret';
  target?: string;
  source?: string;
  id?: string;
  from?: string;
  rw: boolean;
  required: boolean;
}

function parseMount(ins: Instruction, spec: string): RunMount {
  const m: RunMount = { type: 'bind', rw: false, required: false };
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=', 2) as [string, string | undefined];
    switch (k) {
      case 'type':
        if (v !== 'cache' && v !== 'bind' && v !== 'tmpfs' && v !== 'secret') throw parseError(ins.line, `unsupported mount type ${v ?? ''}`);
        m.type = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'id':
        m.id = v;
        break;
      case 'from':
        m.from = v;
        break;
      case 'rw':
      case 'readwrite':
        m.rw = v === undefined || v === 'true';
        break;
      case 'required':
        m.required = v === undefined || v === 'true';
        break;
      default:
    }
  }
  if (m.type !== 'secret' && !m.target) throw parseError(ins.line, `mount type=${m.type} requires a target`);
  return m;
}

function parseChmod(ins: Instruction, value: string): number {
  if (!/^[0-7]{3,4}$/.test(value)) throw parseError(ins.line, `invalid chmod parameter: ${value}`);
  return parseInt(value, 8);
}

async function resolveOwner(rootfs: string, chown: string): Promise<{ uid: number; gid: number }> {
  const u = await resolveUser(rootfs, chown.includes(':') ? chown : `${chown}:${chown}`, []).catch(async () => resolveUser(rootfs, chown, []));
  return { uid: u.uid, gid: u.gid };
}

async function mkdirInRoot(rootfs: string, dir: string): Promise<void> {
  const host = await resolveInRoot(rootfs, dir);
  await mkdir(host, { recursive: true, mode: 0o755 });
}

/** Whether an ADD source is a local tar archive (plain, gzip, bzip2, xz), which ADD unpacks. */
async function isArchive(s: Source): Promise<boolean> {
  if (s.isDir || s.entries[0]?.type !== 'file') return false;
  const fh = await open(s.entries[0].hostPath, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return true;
    if (bytesRead >= 262 && buf.subarray(257, 262).toString('latin1') === 'ustar') return true;
    return false;
  } finally {
    await fh.close();
  }
}

function urlBaseName(url: string): string {
  const u = new URL(url);
  return posix.basename(u.pathname) || 'index.html';
}

async function download(url: string, dir: string): Promise<void> {
  const res = await httpGet(url).catch((err: unknown) => {
    throw withContext(`ADD ${url}`, err);
  });
  const path = join(dir, urlBaseName(url));
  const fh = await open(path, 'w', 0o600);
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) await fh.write(chunk);
  } finally {
    res.destroy();
    await fh.close();
  }
  const lm = res.headers['last-modified'];
  if (lm) {
    const t = new Date(lm);
    await lutimes(path, t, t);
  }
}

interface CopyOptions {
  owner: { uid: number; gid: number };
  chmod: number | undefined;
  archives: boolean[];
  tmp: () => Promise<string>;
}

/**
 * Copy sources into the mounted rootfs with Docker's rules: a folder's content goes into the
 * destination; a file goes to the destination path, or into it when the destination ends in
 * `/`, exists as a folder, or several sources are copied. Every path is resolved inside
 * `rootfs` (symlinks of the image never lead out of it).
 */
async function copyInto(rootfs: string, sources: readonly Source[], dest: string, opts: CopyOptions): Promise<void> {
  const destHost = await resolveInRoot(rootfs, dest);
  const destStat = await lstat(destHost).catch(() => null);
  const destIsDir = dest.endsWith('/') || sources.length > 1 || (destStat?.isDirectory() ?? false) || sources.some((s) => s.isDir);
  if (sources.length > 1 && !dest.endsWith('/')) throw invalid(`When using COPY with more than one source file, the destination must be a directory and end with a /`);
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    if (opts.archives[i]) {
      const tmp = await opts.tmp();
      try {
        await chmod(tmp, 0o755);
        const { decompressed } = await import('../images/streams.js');
        const { stream } = await decompressed(createReadStream(s.entries[0]!.hostPath), 'archive');
        await extractLayer(stream, tmp);
        const inner = await collectSources(tmp, ['.']);
        // Archive members keep their own owners and modes (Docker's ADD).
        await writeEntries(rootfs, dest.replace(/\/$/, '') || '/', inner[0]!.entries, { ...opts, owner: null });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      continue;
    }
    if (s.isDir) {
      await writeEntries(rootfs, dest.replace(/\/$/, '') || '/', s.entries, opts);
    } else {
      const target = destIsDir ? posix.join(dest, s.baseName) : dest;
      await writeEntries(rootfs, target, s.entries, opts);
    }
  }
}

async function writeEntries(rootfs: string, base: string, entries: readonly SourceEntry[], opts: Omit<CopyOptions, 'owner'> & { owner: { uid: number; gid: number } | null }): Promise<void> {
  const dirTimes: Array<[string, number]> = [];
  for (const e of entries) {
    const inImage = e.rel === '' ? base : posix.join(base, e.rel);
    if (inImage === '/' && e.type === 'dir') continue;
    const parent = await resolveInRoot(rootfs, posix.dirname(inImage));
    await mkdirParents(rootfs, posix.dirname(inImage));
    const host = join(parent, posix.basename(inImage));
    const existing = await lstat(host).catch(() => null);
    const mode = opts.chmod ?? e.mode;
    if (e.type === 'dir') {
      if (existing && !existing.isDirectory()) await rm(host, { recursive: true, force: true });
      if (!existing || !existing.isDirectory()) await mkdir(host);
      await chmod(host, mode);
      dirTimes.push([host, e.mtimeMs]);
    } else {
      if (existing?.isDirectory()) throw invalid(`cannot copy to non-directory: ${inImage} is a directory`);
      if (existing) await unlink(host);
      if (e.type === 'symlink') await symlink(e.linkTarget!, host);
      else {
        await copyFile(e.hostPath, host);
        await chmod(host, mode);
      }
    }
    const owner = opts.owner;
    if (owner) await lchown(host, owner.uid, owner.gid);
    if (e.type !== 'dir') await lutimes(host, e.mtimeMs / 1000, e.mtimeMs / 1000);
  }
  for (const [host, mtime] of dirTimes.reverse()) await lutimes(host, mtime / 1000, mtime / 1000);
}

async function mkdirParents(rootfs: string, dir: string): Promise<void> {
  const parts = dir.split('/').filter((p) => p !== '');
  let cur = '/';
  for (const p of parts) {
    cur = posix.join(cur, p);
    const host = await resolveInRoot(rootfs, cur);
    const st = await lstat(host).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    });
    if (!st) await mkdir(host, { mode: 0o755 });
    else if (!st.isDirectory()) throw invalid(`cannot copy into ${cur}: not a directory`);
  }
}
