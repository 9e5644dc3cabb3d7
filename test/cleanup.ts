import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { networkTag, removeDaemonNetworking } from '../src/networks/bridge.js';
import { listDir, message, run } from './process.js';

/** The clean-up after a harness daemon: what it left under its directory, its processes, mounts, cgroups and networking. */

/** The OCI runtime's state folder under a daemon's exec root. */
export const RUNTIME_ROOT = 'runtime-root';

const CONTAINER_ID = /^[0-9a-f]{64}$/;

export interface DaemonPaths {
  dir: string;
  root: string;
  execRoot: string;
  socket: string;
}

/** The layout of a harness directory. */
export function daemonPaths(dir: string): DaemonPaths {
  const execRoot = join(dir, 'run');
  return { dir, root: join(dir, 'root'), execRoot, socket: join(execRoot, 'pier.sock') };
}

/**
 * Clean up after a daemon that is no longer running, whatever it left: delete the OCI runtime's
 * containers under `<execRoot>/runtime-root`, kill the processes whose command line names `dir`
 * (pierd, conmon, runtimes) or whose cgroup is named after a container recorded under `dir`,
 * unmount everything under `dir` (deepest first, lazily), remove the containers' cgroups, and
 * remove `dir`. Touches nothing else. Rejects, keeping `dir`, when a mount, process or cgroup
 * stays.
 */
export async function cleanUp(paths: DaemonPaths): Promise<void> {
  const { dir, execRoot } = paths;
  const ids = await containerIds(paths);
  const problems: string[] = [];

  const runtimeRoot = join(execRoot, RUNTIME_ROOT);
  for (const id of await listDir(runtimeRoot)) {
    for (const runtime of ['/usr/sbin/runc', '/usr/bin/crun']) {
      if (!existsSync(runtime)) continue;
      // One of the two does not know the other's state format: its failure says nothing.
      await run(runtime, ['--root', runtimeRoot, 'delete', '--force', id], process.env, { timeoutMs: 30_000 }).catch(() => undefined);
    }
  }

  let left = await ownedProcesses(dir, ids);
  for (let round = 0; left.length > 0 && round < 50; round++) {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    await sleep(100);
    left = await ownedProcesses(dir, ids);
  }
  if (left.length > 0) problems.push(`processes still running: ${left.join(', ')}`);

  const umountErrors = new Map<string, string>();
  for (let round = 0; round < 5; round++) {
    const mounts = (await mountsUnder(dir)).sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const mountPoint of mounts) {
      const result = await run('umount', ['-l', mountPoint], process.env, { timeoutMs: 30_000 });
      if (result.code !== 0) umountErrors.set(mountPoint, result.stderr.trim());
    }
  }
  for (const mountPoint of await mountsUnder(dir)) {
    problems.push(`still mounted: ${mountPoint} ${umountErrors.get(mountPoint) ?? ''}`);
  }

  for (const cgroup of await cgroupsOf(ids)) {
    try {
      await removeCgroup(cgroup);
    } catch (err) {
      problems.push(`cgroup ${cgroup}: ${message(err)}`);
    }
  }

  // The daemon's bridges, veths, namespaces and netfilter chains (named after its root).
  await removeDaemonNetworking(networkTag(paths.root), execRoot).catch((err: unknown) => {
    problems.push(`networking: ${message(err)}`);
  });

  if (problems.length > 0) throw new Error(`clean-up of ${dir} is incomplete (${dir} kept):\n${problems.join('\n')}`);
  await rm(dir, { recursive: true, force: true });
}

/** Container ids recorded under the daemon's directories (state, bundles, runtime state). */
async function containerIds(paths: DaemonPaths): Promise<Set<string>> {
  const places = [join(paths.root, 'containers'), join(paths.execRoot, 'containers'), join(paths.execRoot, RUNTIME_ROOT)];
  const ids = new Set<string>();
  for (const place of places) {
    for (const name of await listDir(place)) if (CONTAINER_ID.test(name)) ids.add(name);
  }
  return ids;
}

/** Pids of live processes whose command line names `dir` or whose cgroup path holds one of `ids`. */
async function ownedProcesses(dir: string, ids: Set<string>): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await listDir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // gone, or a zombie awaiting its parent
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg === dir || arg.includes(`${dir}/`))) {
      pids.push(pid);
      continue;
    }
    if (ids.size === 0) continue;
    const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    if ([...ids].some((id) => cgroups.includes(id))) pids.push(pid);
  }
  return pids;
}

/** One line of /proc/self/mountinfo: the mount point (unescaped) and the filesystem type. */
async function mountTable(): Promise<Array<{ mountPoint: string; fsType: string }>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter(Boolean).map((line) => {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    return { mountPoint: unescapeMountPath(fields[4] ?? ''), fsType: fields[separator + 1] ?? '' };
  });
}

/** Mount points at or under `dir`, as this process sees them. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return (await mountTable())
    .map((m) => m.mountPoint)
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Cgroup directories (in every cgroup hierarchy) whose name holds one of `ids`. */
async function cgroupsOf(ids: Set<string>): Promise<string[]> {
  if (ids.size === 0) return [];
  const hierarchies = (await mountTable()).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint);
  const found: string[] = [];
  const walk = async (path: string, depth: number): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      const child = join(path, entry.name);
      if ([...ids].some((id) => entry.name.includes(id))) found.push(child);
      else if (depth < 6) await walk(child, depth + 1);
    }
  };
  for (const hierarchy of new Set(hierarchies)) await walk(hierarchy, 1);
  return found;
}

/** rmdir a cgroup and the cgroups below it, deepest first (each must be empty of processes). */
async function removeCgroup(path: string): Promise<void> {
  for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) await removeCgroup(join(path, entry.name));
  }
  await rmdir(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  });
}
