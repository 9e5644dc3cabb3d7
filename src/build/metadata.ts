import { lstat } from 'node:fs/promises';
import { posix } from 'node:path';
import { applyChanges } from '../images/changes.js';
import type { ImageConfig } from '../images/types.js';
import { resolveInRoot } from '../runtime/user.js';
import { mkdirParents } from './copy-files.js';
import { keyValuePairs, parseError, type Instruction } from './parser.js';
import { shellOf, type StageState, type StepContext } from './step.js';

/**
 * The metadata instructions: ENV, LABEL, ARG, WORKDIR, MAINTAINER, SHELL, CMD, ENTRYPOINT,
 * and through `--change`'s rules EXPOSE, VOLUME, USER, STOPSIGNAL, HEALTHCHECK and ONBUILD.
 * Each changes the image config and gives an `empty_layer` history entry, except a WORKDIR
 * whose folder the image lacks: that one creates it in a layer, as Docker's classic builder
 * does.
 */

/** Run one metadata instruction on `state`; the step's image comes from the cache when it can. */
export async function metadataStep(run: StepContext, ins: Instruction, state: StageState): Promise<StageState> {
  const next: StageState = { ...state, config: structuredClone(state.config), args: new Map(state.args) };
  const cfg: ImageConfig = next.config.config ?? {};
  const env = run.expansionEnv(state);
  let comment = ins.original;
  switch (ins.command) {
    case 'env': {
      const list = [...(cfg.Env ?? [])];
      const words: string[] = [];
      for (const [rawK, rawV] of keyValuePairs(ins, run.escape)) {
        const k = run.expand(ins, rawK, env);
        const v = run.expand(ins, rawV, env);
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
      for (const [rawK, rawV] of keyValuePairs(ins, run.escape)) {
        const k = run.expand(ins, rawK, env);
        const v = run.expand(ins, rawV, env);
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
      for (const [name, value] of run.argPairs(ins, env)) {
        // A stage's ARG without a default takes the global ARG's value.
        const v = value ?? run.globalArgs.get(name);
        if (v !== undefined) next.args.set(name, v);
        else next.args.delete(name);
        words.push(v === undefined ? name : `${name}=${v}`);
      }
      comment = `ARG ${words.join(' ')}`;
      break;
    }
    case 'workdir': {
      const dir = run.expand(ins, ins.rest, env);
      cfg.WorkingDir = posix.resolve(cfg.WorkingDir || '/', dir);
      comment = `WORKDIR ${cfg.WorkingDir}`;
      break;
    }
    case 'maintainer':
      next.config.author = run.expand(ins, ins.rest, env);
      comment = `MAINTAINER ${next.config.author}`;
      break;
    case 'shell':
      cfg.Shell = ins.json!;
      comment = `SHELL ${JSON.stringify(ins.json)}`;
      break;
    case 'cmd':
    case 'entrypoint': {
      const args = ins.json ?? [...shellOf(state), ins.rest];
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
  const createdBy = `${shellOf(state).join(' ')} #(nop)  ${comment}`;
  if (ins.command === 'workdir') {
    // As Docker's classic builder: WORKDIR creates its folder (root-owned, 0755) in a layer when the image lacks it.
    const dir = cfg.WorkingDir!;
    return run.cached(state, { createdBy, config: cfg, workdir: true }, async () => {
      const lease = run.host.images.lease();
      try {
        const { layer } = await run.host.withRootfs(
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
        return await run.host.commitImage(next, layer ? { created_by: createdBy } : { created_by: createdBy, empty_layer: true }, layer);
      } finally {
        lease.release();
      }
    }, next, { createdBy, emptyLayer: undefined, config: next.config });
  }
  return run.cached(state, { createdBy, config: cfg, author: next.config.author ?? '' }, () => run.host.commitImage(next, { created_by: createdBy, empty_layer: true }), next, {
    createdBy,
    emptyLayer: true,
    config: next.config,
  });
}
