import { writeFile } from 'node:fs/promises';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * crun gives its stdin to the container's (or exec's) process user: when that is the host's
 * /dev/null (conmon's stdin for a container or exec without -i), the host's node would change
 * owner (to a user namespace's root, or to `exec -u nobody`'s user). These lines put an empty
 * file of the bundle's (or the exec session's) in its place. A test builtin, no fork.
 */
const STDIN_PRELUDE = [
  'if [ /proc/self/fd/0 -ef /dev/null ]; then',
  '  dir= prev=',
  '  for a in "$@"; do',
  '    case "$prev" in --bundle|-b) dir=$a ;; --process|-p) dir=${a%/*} ;; esac',
  '    prev=$a',
  '  done',
  '  if [ -n "$dir" ] && : >"$dir/.stdin"; then exec 0<"$dir/.stdin"; fi',
  'fi',
];

/**
 * A script that runs `runtime` with its arguments after the stdin replacement above, and
 * nothing else: what conmon runs for crun's `exec` on every host, and for `create` where crun
 * runs as it is. Written at `path` (under the exec root), mode 0700.
 */
export async function writeStdinWrapper(path: string, runtime: string): Promise<void> {
  const script = [
    '#!/bin/sh',
    '# Written by pierd: crun with an empty file as stdin where it was given the host\'s /dev/null.',
    ...STDIN_PRELUDE,
    `exec ${q(runtime)} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
}

/**
 * A script that runs `runtime` with its arguments, after the stdin replacement above, in a new
 * mount namespace (private: nothing it unmounts is seen outside) from which the cgroup2 mount
 * `unifiedMount` is gone, so that crun sees a pure v1 layout. The namespace is made anew for
 * each call: it sees the host's mounts as they are then (the container's rootfs pierd just
 * mounted among them). Only crun's `create` and `delete` look at the layout (and refuse a
 * hybrid one); its exec, start, kill, pause, resume and state work on the cgroups its create
 * recorded, so they do without this. Written at `path` (under the exec root), mode 0700.
 */
export async function writeUnifiedlessWrapper(path: string, runtime: string, unifiedMount: string): Promise<void> {
  const script = [
    '#!/bin/sh',
    '# Written by pierd: crun in a mount namespace without the cgroup2 mount beside the v1 hierarchies.',
    ...STDIN_PRELUDE,
    `exec unshare --mount --propagation private /bin/sh -c 'umount -l "$0" && exec "$@"' ${q(unifiedMount)} ${q(runtime)} "$@"`,
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
}
