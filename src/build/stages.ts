import { invalid } from '../errors.js';
import type { Dockerfile, Instruction } from './parser.js';
import { flagValue, flagValues, parseError } from './parser.js';

/**
 * The stages of a Dockerfile as a graph: each stage's base (an image, `scratch`, or an
 * earlier stage) and the stages it copies from (`COPY --from`, `RUN --mount=from=`). The
 * target (the last stage, or `--target`) and what it needs are built; later stages and
 * stages nothing needs are skipped.
 */
export interface Stage {
  index: number;
  /** Lower-case `AS` name, or null. */
  name: string | null;
  /** The FROM argument as written (expanded at build time with the global ARGs). */
  base: string;
  /** The earlier stage this one is based on, or null for an image. */
  baseStage: number | null;
  /** FROM first, then the stage's instructions. */
  instructions: Instruction[];
  /** Stages this one reads (base and --from). */
  deps: number[];
  needed: boolean;
  /** Steps before this stage's FROM (global step numbering). */
  firstStep: number;
}

export function planStages(dockerfile: Dockerfile, target?: string): Stage[] {
  const stages: Stage[] = [];
  let position = 0;
  for (const ins of dockerfile.instructions) {
    if (ins.command === 'from') {
      const words = ins.rest.split(/\s+/);
      const name = words.length === 3 ? words[2]!.toLowerCase() : null;
      if (name !== null && stages.some((s) => s.name === name)) throw parseError(ins.line, `duplicate stage name "${name}"`);
      const base = words[0]!;
      const baseStage = stages.find((s) => s.name !== null && s.name === base.toLowerCase())?.index ?? null;
      stages.push({ index: stages.length, name, base, baseStage, instructions: [ins], deps: baseStage === null ? [] : [baseStage], needed: false, firstStep: position });
    } else if (stages.length > 0) {
      const stage = stages.at(-1)!;
      stage.instructions.push(ins);
      const froms = [flagValue(ins, 'from'), ...flagValues(ins, 'mount').map((m) => /(?:^|,)from=([^,]+)/.exec(m)?.[1])];
      for (const f of froms) {
        if (f === undefined) continue;
        const byName = stages.find((s) => s.name !== null && s.name === f.toLowerCase() && s.index < stage.index);
        const byIndex = /^\d+$/.test(f) ? stages[Number(f)] : undefined;
        if (byIndex && byIndex.index >= stage.index) throw parseError(ins.line, `invalid from flag value ${f}: refers to current or a later build stage`);
        const dep = byName ?? byIndex;
        if (dep && !stage.deps.includes(dep.index)) stage.deps.push(dep.index);
      }
    }
    position++;
  }
  if (stages.length === 0) {
    const first = dockerfile.instructions[0];
    throw parseError(first?.line ?? 1, first ? `${first.command.toUpperCase()} cannot be used before FROM` : 'file with no instructions');
  }
  let last = stages.length - 1;
  if (target) {
    const t = stages.find((s) => s.name === target.toLowerCase());
    if (!t) throw invalid(`failed to reach build target ${target} in Dockerfile`);
    last = t.index;
  }
  const out = stages.slice(0, last + 1);
  const mark = (i: number): void => {
    const s = out[i]!;
    if (s.needed) return;
    s.needed = true;
    for (const d of s.deps) mark(d);
  };
  mark(last);
  return out;
}
