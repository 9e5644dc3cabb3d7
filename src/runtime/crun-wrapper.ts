import { writeFile } from 'node:fs/promises';

/**
 * A script that runs `runtime` with its arguments in a new mount namespace (private: nothing
 * it unmounts is seen outside) from which the cgroup2 mount `unifiedMount` is gone, so that
 * crun sees a pure v1 layout. The namespace is made anew for each call: it sees the host's
 * mounts as they are then (the container's rootfs pierd just mounted among them). Written
 * at `path` (under the exec root), mode 0700.
 */
export async function writeUnifiedlessWrapper(path: string, runtime: string, unifiedMount: string): Promise<void> {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    '# Written by pierd: crun in a mount namespace without the cgroup2 mount beside the v1 hierarchies.',
    `exec unshare --mount --propagation private /bin/sh -c 'umount -l "$0" && exec "$@"' ${q(unifiedMount)} ${q(runtime)} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
}
