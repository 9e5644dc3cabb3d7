import { join } from 'node:path';
import { log } from '../log.js';
import { canUseCrun, type CgroupLayout } from './cgroups.js';

export type RuntimeName = 'crun' | 'runc';

/** One OCI runtime pier can run containers with. */
export interface RuntimeBinary {
  name: RuntimeName;
  path: string;
  /**
   * What conmon runs for `create` and pierd for `delete`: runc itself; for crun a wrapper
   * (its stdin never the host's /dev/null; on a hybrid cgroup layout, without the cgroup2 mount).
   */
  command: string;
  /** What conmon runs for `exec`: runc itself, crun's stdin wrapper. */
  execCommand: string;
  /** Set for crun on a hybrid layout: the cgroup2 mount its create and delete must not see. */
  withoutUnified?: string;
}

const RUNC = '/usr/sbin/runc';
const CRUN = '/usr/bin/crun';

/**
 * The runtimes containers may name and the default among them: `auto` picks crun where it can
 * run on this cgroup layout (see canUseCrun), else runc; crun is offered where it can run (or
 * was chosen all the same), runc always. Pure but for a log line; whether the binaries are
 * installed is checked by the runtime's init.
 */
export function chooseRuntimes(
  opts: { runtime: 'crun' | 'runc' | 'auto'; runcPath?: string; crunPath?: string },
  layout: CgroupLayout,
  execRoot: string,
): { name: RuntimeName; reason: string; binaries: Map<RuntimeName, RuntimeBinary> } {
  const crun = canUseCrun(layout);
  let name: RuntimeName;
  let reason: string;
  if (opts.runtime === 'auto') {
    name = crun.ok ? 'crun' : 'runc';
    reason = crun.ok ? `auto: crun can run here (${crun.reason})` : `auto: runc, as crun cannot run here: ${crun.reason}`;
  } else {
    name = opts.runtime;
    reason = `configured: ${opts.runtime}`;
    if (opts.runtime === 'crun' && !crun.ok) log.warn({ reason: crun.reason }, 'crun was chosen but is expected to fail here');
  }
  const runcPath = opts.runcPath ?? RUNC;
  const crunPath = opts.crunPath ?? CRUN;
  const binaries = new Map<RuntimeName, RuntimeBinary>([['runc', { name: 'runc', path: runcPath, command: runcPath, execCommand: runcPath }]]);
  if (crun.ok || name === 'crun') {
    // On a hybrid cgroup layout crun's create and delete run through a wrapper, in a mount
    // namespace of its own without the cgroup2 mount (see canUseCrun).
    const execCommand = join(execRoot, 'crun-stdin');
    const command = crun.withoutUnified ? join(execRoot, 'crun-v1') : execCommand;
    binaries.set('crun', { name: 'crun', path: crunPath, command, execCommand, withoutUnified: crun.withoutUnified });
  }
  return { name, reason, binaries };
}
