import { rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { EngineError, invalid } from '../errors.js';
import { checksumSources, collectSources } from './context.js';
import { copyInto, download, isArchive, resolveOwner, urlBaseName } from './copy-files.js';
import { expandWord } from './expand.js';
import { checkFlags, flagValue, parseError, splitShellWords, type Instruction } from './parser.js';
import { shellOf, type StageState, type StepContext } from './step.js';

/**
 * COPY and ADD: sources from the context (less what .dockerignore excludes), a stage or an
 * image (`--from`), heredocs, or URLs (ADD), written into a writable snapshot of the stage's
 * chain, whose diff becomes the step's layer. The key of the step is the checksum of the
 * sources with the destination and the flags that change the result; the files themselves
 * are in `copy-files.ts`.
 */

/** Run one COPY or ADD instruction on `state`; the step's image comes from the cache when it can. */
export async function copyStep(run: StepContext, ins: Instruction, state: StageState): Promise<StageState> {
  const isAdd = ins.command === 'add';
  checkFlags(ins, isAdd ? ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'] : ['from', 'chown', 'chmod', 'link', 'parents', 'exclude']);
  const env = run.expansionEnv(state);
  const cfg = state.config.config ?? {};
  const words = (ins.json ?? splitShellWords(ins.rest, run.escape)).map((w) => (ins.json ? run.expand(ins, w.replace(/"/g, '\\"'), env) : run.expand(ins, w, env)));
  let heredocDir: string | undefined;
  try {
    let rawSources = words.slice(0, -1);
    const destWord = words.at(-1)!;
    if (rawSources.length === 0 && ins.heredocs.length === 0) throw parseError(ins.line, `${ins.command.toUpperCase()} requires at least two arguments`);
    const from = flagValue(ins, 'from');
    const chown = flagValue(ins, 'chown');
    const chmodFlag = flagValue(ins, 'chmod');
    const chmodMode = chmodFlag === undefined ? undefined : parseChmod(ins, chmodFlag);
    let root = run.context.dir;
    let filter: ((rel: string) => boolean) | undefined = (rel) => !run.context.ignored(rel);
    let fromTree: { release: () => Promise<void> } | undefined;
    if (ins.heredocs.length > 0) {
      heredocDir = await run.host.tempDir('heredoc-');
      for (const h of ins.heredocs) {
        const content = h.quoted ? h.content : expandWord(h.content, env, { escape: run.escape, literalQuotes: true });
        await writeFile(join(heredocDir, h.name), content, { mode: 0o644 });
      }
      rawSources = rawSources.filter((s) => !s.startsWith('<<'));
      rawSources.push(...ins.heredocs.map((h) => h.name));
      root = heredocDir;
      filter = undefined;
    }
    const urls = isAdd ? rawSources.filter((s) => /^https?:\/\//.test(s)) : [];
    if (urls.length > 0) {
      const dl = await run.host.tempDir('add-');
      heredocDir = dl;
      for (const url of urls) await download(url, dl);
      rawSources = rawSources.map((s) => (/^https?:\/\//.test(s) ? urlBaseName(s) : s));
      root = dl;
      filter = undefined;
    }
    if (from !== undefined) {
      const tree = await run.fromTree(ins, from);
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
      const createdBy = `${shellOf(state).join(' ')} #(nop) ${ins.command.toUpperCase()} ${what}:${sum} in ${dest} `;
      const key = { copy: createdBy, chown: chown ?? '', chmod: chmodFlag ?? '', archives };
      return await run.cached(state, key, async () => {
        const lease = run.host.images.lease();
        try {
          const { layer } = await run.host.withRootfs(state.chainId, lease, async (rootfs) => {
            const owner = chown ? await resolveOwner(rootfs, chown) : { uid: 0, gid: 0 };
            await copyInto(rootfs, sources, dest, { owner, chmod: chmodMode, archives, tmp: () => run.host.tempDir('x-') }).catch((err: unknown) => {
              if (err instanceof EngineError) throw err;
              throw invalid(`${ins.command.toUpperCase()} failed: ${(err as Error).message}`);
            });
          });
          return await run.host.commitImage(state, { created_by: createdBy }, layer);
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

/** `--chmod=0755`: the mode, or a parse error naming the line. */
function parseChmod(ins: Instruction, value: string): number {
  if (!/^[0-7]{3,4}$/.test(value)) throw parseError(ins.line, `invalid chmod parameter: ${value}`);
  return parseInt(value, 8);
}

