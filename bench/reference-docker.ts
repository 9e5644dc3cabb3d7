import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dockerCli, repoRoot, run, type RunOptions, type RunResult } from '../test/harness.js';
import { netfilterState, restoreNetfilter } from './netfilter.js';
import { check } from './stats.js';

/** A docker CLI bound to one engine. */
export type DockerCli = (args: string[], runOpts?: RunOptions) => Promise<RunResult>;

/**
 * Run `fn` against Docker's own engine, started by ../shared/reference-docker/start.sh and
 * stopped by its stop.sh after `fn`, whatever `fn` did; the host's netfilter state is put back
 * as it was before. `fn` gets the engine's docker CLI, the environment that points clients at
 * it (DOCKER_HOST, no other DOCKER_ variable) and its version. Where the scripts are missing,
 * `fn` is not run and a note says so.
 */
export async function withReferenceDocker(
  notes: string[],
  fn: (docker: DockerCli, env: NodeJS.ProcessEnv, version: string) => Promise<void>,
): Promise<void> {
  const scripts = [join(repoRoot, '..', 'shared', 'reference-docker'), '/work/shared/reference-docker'].find((dir) => existsSync(join(dir, 'start.sh')));
  if (!scripts) {
    notes.push('no shared/reference-docker/start.sh here: no Docker figures');
    return;
  }
  const netfilter = await netfilterState();
  try {
    const started = check(await run('bash', [join(scripts, 'start.sh')], process.env, { timeoutMs: 600_000 }), 'reference-docker start.sh');
    const host = /DOCKER_HOST=(\S+)/.exec(started)?.[1];
    if (!host) throw new Error(`reference-docker start.sh printed no DOCKER_HOST: ${started}`);
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_'))), DOCKER_HOST: host };
    const docker: DockerCli = (args, runOpts) => run(dockerCli, args, { ...env, DOCKER_CLI_HINTS: 'false' }, runOpts);
    const version = check(await docker(['version', '--format', '{{.Server.Version}}']), 'docker version').trim();
    await fn(docker, env, version);
  } finally {
    await run('bash', [join(scripts, 'stop.sh')], process.env, { timeoutMs: 120_000 });
    await restoreNetfilter(netfilter);
  }
}

/** Run a part of a benchmark; a failure becomes a note of the report, and the other parts still run. */
export async function part(notes: string[], name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    notes.push(`${name} failed: ${(err as Error).message}`);
  }
}
