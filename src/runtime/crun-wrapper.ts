import { writeFile } from 'node:fs/promises';

/**
 * A script that runs `runtime` with its arguments in a new mount namespace (private: nothing
 * it unmounts is seen outside) from which the cgroup2 mount `unifiedMount` is gone, so that
 * crun sees a pure v1 layout. The namespace is made anew for each call: it sees the host's
 * mounts as they are then (the container's rootfs pierd just mounted among them). A stdin
 * that is /dev/null is replaced by an empty file beside the bundle, which crun may give to a
 * user namespace's root without touching the host's node. Written at `path` (under the exec
 * root), mode 0700.
 */
export async function writeUnifiedlessWrapper(path: string, runtime: string, unifiedMount: string): Promise<void> {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    '# Written by pierd: crun in a mount namespace without the cgroup2 mount beside the v1 hierarchies.',
    // crun gives its stdin to the container's root; when that is the host's /dev/null (conmon's
    // stdin of a container or exec without -i), the host's node would change owner. An empty
    // file of the bundle's (or the exec session's) takes its place.
    'if [ "$(readlink /proc/self/fd/0)" = /dev/null ]; then',
    '  dir= prev=',
    '  for a in "$@"; do',
    '    case "$prev" in --bundle|-b) dir=$a ;; --process|-p) dir=${a%/*} ;; esac',
    '    prev=$a',
    '  done',
    '  if [ -n "$dir" ] && : >"$dir/.stdin"; then exec 0<"$dir/.stdin"; fi',
    'fi',
    `exec unshare --mount --propagation private /bin/sh -c 'umount -l "$0" && exec "$@"' ${q(unifiedMount)} ${q(runtime)} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
}
