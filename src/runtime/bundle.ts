import { join } from 'node:path';
import { invalid } from '../errors.js';

/**
 * Where the runtime keeps a container's state: the files of `<execRoot>/containers/<id>/`
 * (see OciRuntime), and the IDs the runtimes accept.
 */

/** What the runtimes take as a container ID (it becomes paths too): letters, digits, `_.-`, not starting with a symbol. */
const RUNTIME_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Whether `id` is a container ID the runtimes accept. */
export function isRuntimeId(id: string): boolean {
  return RUNTIME_ID.test(id);
}

/** `id`, checked: `invalid` for anything the runtimes would not take. */
export function checkId(id: string): string {
  if (!isRuntimeId(id)) throw invalid(`invalid container id: ${JSON.stringify(id)}`);
  return id;
}

/** The files of one container (see OciRuntime for what each holds). */
export interface BundlePaths {
  dir: string;
  bundle: string;
  config: string;
  attach: string;
  ctl: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  exitFile: string;
  persistDir: string;
}

/** The files of the container `id` whose folder is `dir`. */
export function bundlePaths(dir: string, id: string): BundlePaths {
  const bundle = join(dir, 'bundle');
  const exitDir = join(dir, 'exits');
  return {
    dir,
    bundle,
    config: join(bundle, 'config.json'),
    attach: join(bundle, 'attach'),
    ctl: join(bundle, 'ctl'),
    pidFile: join(dir, 'pidfile'),
    conmonPidFile: join(dir, 'conmon.pid'),
    exitDir,
    exitFile: join(exitDir, id),
    persistDir: join(dir, 'persist'),
  };
}
