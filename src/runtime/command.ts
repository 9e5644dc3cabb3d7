import { constants as fsc, lstatSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { closeLocation, fdPath, RootDir } from '../archive/root-dir.js';
import { CommandError } from './runtime.js';
import { DEFAULT_PATH } from './spec.js';

/**
 * Check, before a container is created behind an init, that its command can run: the runtime
 * then looks up the init, not the command, and a missing command would surface as the init's
 * own message (`[FATAL tini (7)] exec x failed`) and exit code instead of Docker's. The
 * command is looked up as runc looks it up: a name with a slash from the working directory,
 * any other name in the container's $PATH, every path resolved inside the root filesystem.
 * A path under one of `mountPoints` (where the container will have a bind or a volume that
 * the root filesystem does not show) is left for the runtime to find. Throws CommandError with
 * runc's words; returns when the command exists and is executable, or cannot be told yet.
 */
export function checkCommand(rootfs: string, command: string, env: readonly string[], cwd: string, mountPoints: readonly string[] = []): void {
  const mounted = (path: string): boolean => mountPoints.some((m) => path === m || path.startsWith(m === '/' ? '/' : `${m.replace(/\/+$/, '')}/`));
  const lookup = (root: RootDir, path: string) => (mounted(path) ? 'executable' : lookupIn(root, path));
  const root = RootDir.open(rootfs);
  try {
    if (command.includes('/')) {
      const path = posix.resolve(cwd || '/', command);
      const found = lookup(root, path);
      if (found === 'missing') throw new CommandError('notFound', `exec: "${command}": stat ${command}: no such file or directory`);
      if (found !== 'executable') throw new CommandError('notExecutable', `exec: "${command}": permission denied`);
      return;
    }
    const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
    let sawNotExecutable = false;
    for (const dir of pathVar.split(':')) {
      const found = lookup(root, posix.join(dir || '.', command));
      if (found === 'executable') return;
      if (found === 'notExecutable') sawNotExecutable = true;
    }
    if (sawNotExecutable) throw new CommandError('notExecutable', `exec: "${command}": permission denied`);
    throw new CommandError('notFound', `exec: "${command}": executable file not found in $PATH`);
  } finally {
    root.close();
  }
}

/** What `path` is inside the root, symlinks followed there. */
function lookupIn(root: RootDir, path: string): 'missing' | 'notExecutable' | 'executable' {
  let loc;
  try {
    loc = root.locate(path, { follow: true });
  } catch {
    return 'missing';
  }
  try {
    // The last component was followed by the walk: lstat it where the walk left it.
    const st = loc.name === null ? statSync(fdPath(loc.dirFd)) : lstatSync(`${fdPath(loc.dirFd)}/${loc.name}`, { throwIfNoEntry: false });
    if (!st) return 'missing';
    if (!st.isFile()) return 'notExecutable';
    return (st.mode & (fsc.S_IXUSR | fsc.S_IXGRP | fsc.S_IXOTH)) !== 0 ? 'executable' : 'notExecutable';
  } finally {
    closeLocation(loc);
  }
}
