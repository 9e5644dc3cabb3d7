import type { Stage } from './stages.js';

/**
 * The stages of a build in parallel: every needed stage starts as soon as the stages it reads
 * are built. The stream stays in Dockerfile order: the earliest unfinished stage writes live,
 * later ones are held back and written, each as one block, when their turn comes.
 */

/** One stage's part of the stream: written through while live, held until then. */
export class StageOutput {
  private held: string[] = [];
  private live = false;
  done = false;

  constructor(
    private readonly sink: (text: string) => void,
    /** The number of the stage's step last begun (`Step N/M`); starts at the steps before its FROM. */
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

/**
 * Build every needed stage of `stages` with `build` (given the stage's output), each after the
 * stages it depends on; resolves with the last needed stage's result. After a failure
 * `onFailure` is called at once (so that no new step starts) and the first error is thrown
 * once every running stage has stopped; whatever stages held back is written first.
 */
export async function buildStages<T>(
  stages: readonly Stage[],
  sink: (text: string) => void,
  build: (stage: Stage, output: StageOutput) => Promise<T>,
  onFailure: () => void,
): Promise<T> {
  const needed = stages.filter((s) => s.needed);
  const runs = needed.map((s) => new StageOutput(sink, s.firstStep));
  let flushed = 0;
  const advance = (): void => {
    // A stage that finished while an earlier one was live is written, as one block, when its turn comes.
    while (flushed < runs.length && runs[flushed]!.done) runs[flushed++]!.goLive();
    if (flushed < runs.length) runs[flushed]!.goLive();
  };
  advance();
  const promises = new Map<number, Promise<T>>();
  let failure: { err: unknown } | undefined;
  const buildOne = (stage: Stage, i: number): Promise<T> => {
    let p = promises.get(stage.index);
    if (p) return p;
    p = (async () => {
      for (const dep of stage.deps) {
        const depStage = needed.find((s) => s.index === dep)!;
        await buildOne(depStage, needed.indexOf(depStage));
      }
      const run = runs[i]!;
      try {
        return await build(stage, run);
      } catch (err) {
        failure ??= { err };
        onFailure();
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
