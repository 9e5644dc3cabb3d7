import { AsyncLocalStorage } from 'node:async_hooks';
import { EngineError, invalid, notFound } from '../errors.js';
import type { Image } from '../images/images.js';
import { shortId } from '../images/reference.js';
import { hostPlatform } from '../images/types.js';
import type { BuildOptions, BuildOutput } from './build.js';
import type { BuildContext } from './context.js';
import { copyStep } from './copy-step.js';
import { envMap, expandWord } from './expand.js';
import { metadataStep } from './metadata.js';
import { checkFlags, parseDockerfile, parseError, splitShellWords, type Dockerfile, type Instruction } from './parser.js';
import { runStep } from './run-step.js';
import { buildStages, type StageOutput } from './stage-graph.js';
import type { Stage } from './stages.js';
import { StepCache } from './step-cache.js';
import { DEFAULT_PATH, PROXY_ARGS, stateOf, type BuildHost, type CacheFromProbe, type StageState, type StepContext } from './step.js';

/**
 * One build: the state of every stage, the step counter, the stream. It runs the stages
 * (`stage-graph.ts`), FROM and the dispatch of every other instruction to its family's
 * executor, and is the StepContext those executors work in. One BuildRun runs once.
 */
export class BuildRun implements StepContext {
  private readonly results = new Map<number, StageState>();
  readonly globalArgs = new Map<string, string>();
  private readonly usedArgs = new Set<string>();
  private readonly total: number;
  private globalStep = 0;
  private failed = false;
  private readonly stageRun = new AsyncLocalStorage<StageOutput>();
  private readonly stepCache: StepCache;

  constructor(
    readonly host: BuildHost,
    readonly context: BuildContext,
    readonly opts: BuildOptions,
    private readonly out: BuildOutput,
    private readonly dockerfile: Dockerfile,
    private readonly stages: Stage[],
  ) {
    this.total = dockerfile.instructions.length + (Object.keys(opts.labels).length > 0 ? 1 : 0);
    this.stepCache = new StepCache({ images: host.images, cache: host.cache, noCache: opts.noCache, cacheFrom: opts.cacheFrom, say: (text) => this.say(text) });
  }

  /** With -q the stream is held back, and written only if the build fails (Docker's notVerboseBuffer). */
  readonly quietBuffer: string[] = [];

  /** Text for the stream: live for the earliest unfinished stage, held back for the later ones. */
  say(text: string): void {
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

  get escape(): string {
    return this.dockerfile.escape;
  }

  /** Run the build; resolves with the final image ID (tags are the Builder's). */
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
    const last = await buildStages(
      this.stages,
      (text) => this.out.stream(text),
      async (stage, output) => {
        const state = await this.stageRun.run(output, () => this.buildStage(stage, stage === target));
        this.results.set(stage.index, state);
        return state;
      },
      () => {
        this.failed = true;
      },
    );
    if (!last.imageId) throw invalid('No image was generated. Is your Dockerfile empty?');
    const unused = Object.keys(this.opts.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
    if (unused.length > 0) this.say(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    return last.imageId;
  }

  argPairs(ins: Instruction, env: ReadonlyMap<string, string>): Array<[string, string | undefined]> {
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

  expand(ins: Instruction, text: string, env: ReadonlyMap<string, string>): string {
    try {
      return expandWord(text, env, { escape: this.escape });
    } catch (err) {
      throw parseError(ins.line, `${ins.command.toUpperCase()}: ${(err as Error).message}`);
    }
  }

  expansionEnv(state: StageState): Map<string, string> {
    const env = new Map(state.args);
    for (const [k, v] of envMap(state.config.config?.Env ?? [])) env.set(k, v);
    return env;
  }

  /** FROM, then the stage's instructions; the target stage ends with the LABEL of `--label`. */
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

  /** Count and announce a step; refuses to begin one once the build is cancelled or a stage failed. */
  private beginStep(ins: Instruction): void {
    if (this.opts.signal?.aborted) throw invalid('the build was cancelled');
    if (this.failed) throw invalid('stopped: another stage failed');
    this.step++;
    this.say(`Step ${this.step}/${this.total} : ${ins.original}\n`);
  }

  // ---- FROM ----

  /** The stage's base: an earlier stage, scratch, or an image (pulled when missing or with --pull), and its ONBUILD triggers. */
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
      const pull = this.host.pull;
      let image = this.opts.pull && pull ? undefined : await this.host.images.resolve(name).catch((err: unknown) => {
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
        image = await this.host.images.resolve(name);
      }
      if (!image) {
        throw notFound(`pull access denied for ${name.replace(/:.*$/, '')}, repository does not exist or may require 'docker login': ${name} is not present locally and this engine cannot pull it`);
      }
      if (this.opts.pull && !pull) this.say(`--pull: this engine cannot pull yet; using the local ${name}\n`);
      state = await stateOf(this.host.images, image);
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

  /** Begin the step (not for an ONBUILD trigger) and run the instruction's executor. */
  private async dispatch(ins: Instruction, state: StageState, stage: Stage, trigger = false): Promise<StageState> {
    if (!trigger) this.beginStep(ins);
    if (ins.command !== 'run' && ins.command !== 'copy' && ins.command !== 'add' && ins.command !== 'healthcheck' && ins.flags.length > 0) {
      throw parseError(ins.line, `unknown flag: --${ins.flags[0]!.name}`);
    }
    switch (ins.command) {
      case 'run':
        return runStep(this, ins, state);
      case 'copy':
      case 'add':
        return copyStep(this, ins, state);
      default:
        return metadataStep(this, ins, state);
    }
  }

  useArg(name: string): void {
    this.usedArgs.add(name);
  }

  cached(state: StageState, key: unknown, make: () => Promise<Image>, carry?: Pick<StageState, 'args' | 'cmdSet'>, probe?: CacheFromProbe): Promise<StageState> {
    return this.stepCache.cached(state, key, make, carry, probe);
  }

  /** The stage a `from=` names: by name, or by index. */
  private stageNamed(from: string): Stage | undefined {
    return this.stages.find((s) => s.name !== null && s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? this.stages[Number(from)] : undefined);
  }

  async fromIdentity(ins: Instruction, from: string): Promise<string> {
    const stage = this.stageNamed(from);
    if (stage) return this.results.get(stage.index)?.imageId ?? `stage ${stage.index}`;
    const image = await this.host.images.resolve(from).catch((err: unknown) => {
      throw parseError(ins.line, `--mount from=${from}: ${(err as Error).message}`);
    });
    return image.id;
  }

  async fromTree(ins: Instruction, from: string): Promise<{ dir: string; release: () => Promise<void> }> {
    const stage = this.stageNamed(from);
    let chain: string | null;
    if (stage) {
      const st = this.results.get(stage.index);
      if (!st) throw parseError(ins.line, `stage ${from} has not been built`);
      chain = st.chainId;
    } else {
      const image = await this.host.images.resolve(from).catch((err: unknown) => {
        throw parseError(ins.line, `COPY --from=${from}: ${(err as Error).message}`);
      });
      chain = this.host.images.topChainId(image);
    }
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    let ready!: (dir: string) => void;
    let failed!: (err: unknown) => void;
    const dirP = new Promise<string>((res, rej) => {
      ready = res;
      failed = rej;
    });
    const holding = this.host
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
