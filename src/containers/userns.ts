import { chmod, lchown, lstat, readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, invalid, unavailable } from '../errors.js';
import type { IdMap } from '../util/idmap.js';
import { IdRangePool, type SubIdRange } from './id-ranges.js';
import type { ContainerRecord, HostConfig } from './types.js';

/**
 * User namespaces of containers: which container gets one, with which IDs.
 *
 * A container's `HostConfig.UsernsMode` is `host` (the host's IDs), `auto` (pier's, as
 * Podman's: a range of its own, 65536 IDs no other container has, allocated at create and
 * given back when the container is removed) or empty: the daemon's default, which is the
 * `userns-remap` range (Docker's: every such container shares it), else `auto` where the
 * daemon's `default-userns-mode` says so, else the host's.
 *
 * The decision is made once, at create, and kept in the record (`Userns`), so that a
 * container keeps its IDs across restarts of itself and of pierd (whose start gives each
 * `auto` container its range back, `adopt`). Docker's rules hold for every container with a
 * user namespace: no `--privileged`, no `--network=host`, no `--pid=host` (Docker's messages).
 */

export interface UsernsSettings {
  /** Docker's `userns-remap`: the range of the containers that name no mode. */
  remap?: IdMap;
  /** The daemon's `default-userns-mode: auto`: containers that name no mode get a range of their own. */
  defaultAuto: boolean;
  /** The subordinate IDs `auto` ranges are cut from: read (or made) on the first `auto` container. */
  autoRanges(): Promise<{ uids: SubIdRange[]; gids: SubIdRange[] }>;
}

/** What a record keeps of its user namespace. */
export type UsernsRecord = NonNullable<ContainerRecord['Userns']>;

export class Userns {
  private pool: Promise<IdRangePool> | undefined;

  constructor(
    private readonly settings: UsernsSettings,
    /** The containers there are, for the ranges they hold when the pool is first made. */
    private readonly records: () => Iterable<ContainerRecord>,
  ) {}

  /** Whether the daemon remaps containers by default (`info` lists `name=userns`). */
  get remapping(): boolean {
    return this.settings.remap !== undefined || this.settings.defaultAuto;
  }

  /** The mode a HostConfig asks for, after the daemon's default; `invalid` for what is no mode. */
  modeOf(hc: HostConfig): 'host' | 'auto' | 'remap' {
    const mode = hc.UsernsMode ?? '';
    if (mode === 'host') return 'host';
    if (mode === 'auto') return 'auto';
    if (mode !== '') throw invalid(`invalid userns mode ${JSON.stringify(mode)}: pier takes host, auto or none (the daemon's default)`);
    if (this.settings.defaultAuto) return 'auto';
    return this.settings.remap ? 'remap' : 'host';
  }

  /** Docker's checks of a create: what cannot share a user namespace with the host's kernel objects. */
  validate(hc: HostConfig): void {
    if (this.modeOf(hc) === 'host') return;
    if (hc.Privileged) {
      throw invalid('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
    }
    if (hc.NetworkMode === 'host') throw invalid("cannot share the host's network namespace when user namespaces are enabled");
    if (hc.PidMode === 'host') throw invalid('cannot share the host PID namespace when user namespaces are enabled');
  }

  /** The user namespace of a new container (undefined: the host's); an `auto` range is held for it from now on. */
  async assign(id: string, hc: HostConfig): Promise<UsernsRecord | undefined> {
    const mode = this.modeOf(hc);
    if (mode === 'host') return undefined;
    if (mode === 'remap') return { mode, map: { ...this.settings.remap! } };
    const pool = await this.autoPool();
    return { mode, map: pool.allocate(id) };
  }

  /** The container is gone (or its create failed): its `auto` range goes back to the pool. */
  release(id: string): void {
    void this.pool?.then((p) => p.release(id), () => undefined);
  }

  private autoPool(): Promise<IdRangePool> {
    this.pool ??= this.settings.autoRanges().then((r) => {
      const pool = new IdRangePool(r.uids, r.gids);
      if (pool.capacity === 0) throw unavailable('--userns=auto needs subordinate IDs: the user pier takes them from has no range of 65536 uids and gids in /etc/subuid and /etc/subgid');
      for (const rec of this.records()) if (rec.Userns?.mode === 'auto') pool.take(rec.Id, rec.Userns.map);
      return pool;
    });
    this.pool.catch(() => (this.pool = undefined));
    return this.pool;
  }
}

/**
 * Make the host files of a run usable by a container whose root is `map.uid`: the folders on
 * the way to its rootfs searchable (`o+x`, as Docker makes its root 0711 when it remaps; a
 * folder above pier's `root` that is not searchable is an error that says so), and the files
 * it gets bound at /etc (hostname, hosts, resolv.conf) its root's, as Docker gives them.
 */
export async function prepareUsernsRun(rec: ContainerRecord, map: IdMap, root: string): Promise<void> {
  for (let dir = dirname(rec.RootfsPath); ; dir = dirname(dir)) {
    const st = await stat(dir);
    if ((st.mode & 0o001) === 0) {
      if (!(dir === root || dir.startsWith(`${root}/`))) {
        throw unavailable(`a container with a user namespace cannot reach its root filesystem: ${dir} (above pier's root) is not searchable by others (mode ${(st.mode & 0o777).toString(8)}); chmod o+x it`);
      }
      await chmod(dir, (st.mode & 0o7777) | 0o001);
    }
    if (dir === '/') break;
  }
  for (const path of [rec.HostnamePath, rec.HostsPath, rec.ResolvConfPath]) {
    await lchown(path, map.uid, map.gid).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
  }
}

/**
 * A volume first used by a container with a user namespace: its folder, still the host
 * root's and empty (made for it, with nothing of the image copied in), becomes the
 * container's root's, so that the container can write there (Podman does the same). A
 * volume that holds anything, or that someone owns already, is left as it is.
 */
export async function giveVolumeToRoot(path: string, map: IdMap): Promise<void> {
  const st = await lstat(path);
  if (st.uid !== 0 || st.gid !== 0 || (await readdir(path)).length > 0) return;
  await lchown(path, map.uid, map.gid);
}
