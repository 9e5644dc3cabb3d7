import { mkdir, realpath, stat } from 'node:fs/promises';
import { errnoCode, invalid, isKind, withContext } from '../errors.js';
import { log } from '../log.js';
import type { Mount } from '../runtime/runtime.js';
import { resolveInRoot } from '../runtime/user.js';
import { copyImageContent } from '../volumes/copy.js';
import type { VolumeManager, VolumeReader, VolumeUsers } from '../volumes/volumes.js';
import type { ContainerView } from './containers.js';
import type { CreateHooks } from './create.js';
import { planMounts, type PlannedMount } from './mount-spec.js';
import type { RemovalHooks } from './teardown.js';
import type { ContainerRecord, MountPoint } from './types.js';

export interface ContainerMountsDeps {
  volumes: VolumeReader & VolumeManager & VolumeUsers;
  /** The container a reference names (notFound otherwise): `--volumes-from`. */
  container(ref: string): ContainerView;
}

/**
 * The mounts of containers, between the containers part and the volumes part: at create the
 * specs are planned (mount-spec.ts), bind sources made or checked and resolved once, volumes
 * created or referenced, and the result kept in the record (`MountPoints`); at start they
 * become the runtime's mounts (volumes mounted for the run, an image's content copied into an
 * empty volume the first time); when the run ends the volumes are unmounted for it, and when
 * the container goes its references go, with its anonymous volumes for `rm -v`.
 */
export class ContainerMounts implements CreateHooks, Required<Pick<RemovalHooks, 'releaseVolumes' | 'unmountVolumes'>> {
  constructor(private readonly d: ContainerMountsDeps) {}

  /** Plan, check and complete the mounts of a new container into `rec.MountPoints`; nothing is left made when it throws. */
  async prepareMounts(rec: ContainerRecord): Promise<void> {
    const plan = planMounts(rec.HostConfig, rec.Config.Volumes ?? undefined, (ref) => this.d.container(ref).MountPoints ?? []);
    for (const p of plan) if (p.point.Type === 'bind' && !p.inherited) await resolveBindSource(p);
    const referenced: string[] = [];
    const made: string[] = [];
    try {
      for (const p of plan) {
        if (p.point.Type !== 'volume') continue;
        if (p.inherited) {
          this.d.volumes.reference(p.point.Name!, rec.Id);
          referenced.push(p.point.Name!);
          continue;
        }
        const v = await this.d.volumes.create(p.volume ?? {}, rec.Id);
        referenced.push(v.Name);
        if (p.point.Anonymous) made.push(v.Name);
        p.point.Name = v.Name;
        p.point.Driver = v.Driver;
      }
    } catch (err) {
      for (const name of referenced) this.d.volumes.release(name, rec.Id);
      for (const name of made) await this.d.volumes.remove(name, { force: true }).catch((e: unknown) => log.warn({ err: e, volume: name }, 'removing the volume of a failed create'));
      throw err;
    }
    rec.MountPoints = plan.map((p) => p.point);
  }

  async discardMounts(rec: ContainerRecord): Promise<void> {
    await this.releaseVolumes(rec, true);
  }

  /**
   * The runtime's mounts for a start (the rootfs is mounted at `rec.RootfsPath`): binds, the
   * volumes mounted for this run, tmpfs. A failure unmounts what this call mounted.
   */
  async mountsOf(rec: ContainerRecord): Promise<Mount[]> {
    if (!rec.MountPoints) await this.prepareMounts(rec);
    const out: Mount[] = [];
    const held: string[] = [];
    try {
      for (const p of rec.MountPoints ?? []) {
        if (p.Type === 'bind') out.push(await this.bindMount(p));
        else if (p.Type === 'volume') {
          out.push(await this.volumeMount(rec, p));
          held.push(p.Name!);
        } else out.push(tmpfsMount(p.Destination, p.TmpfsData ?? ''));
      }
    } catch (err) {
      for (const name of held) await this.d.volumes.unmount(name, rec.Id).catch((e: unknown) => log.warn({ err: e, volume: name }, 'unmounting after a failed start'));
      throw err;
    }
    for (const [dest, data] of Object.entries(rec.HostConfig.Tmpfs ?? {})) out.push(tmpfsMount(dest, data));
    return out;
  }

  private async bindMount(p: MountPoint): Promise<Mount> {
    const source = p.HostPath ?? p.Source;
    if (p.CreateHostPath) await mkdir(source, { recursive: true, mode: 0o755 }).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST' && errnoCode(err) !== 'ENOTDIR') throw withContext(`error while creating mount source path '${p.Source}'`, err);
    });
    const options = [p.NonRecursive ? 'bind' : 'rbind', p.RW ? 'rw' : 'ro'];
    if (p.Propagation) options.push(p.Propagation);
    return { destination: p.Destination, type: 'bind', source, options };
  }

  private async volumeMount(rec: ContainerRecord, p: MountPoint): Promise<Mount> {
    const name = p.Name!;
    const path = await this.d.volumes.mount(name, rec.Id, { destination: p.Destination, rw: p.RW, propagation: p.Propagation });
    if (p.CopyData && !p.Subpath) {
      // Docker's first use: an empty volume gets the image's content at the destination.
      await copyImageContent(await resolveInRoot(rec.RootfsPath, p.Destination), path).catch((err: unknown) => {
        throw withContext(`copying the image's content of ${p.Destination} into volume ${name}`, err);
      });
      p.CopyData = false;
    }
    let source = path;
    if (p.Subpath) {
      source = await resolveInRoot(path, p.Subpath);
      await stat(source).catch((err: unknown) => {
        throw invalid(`cannot access path ${source}: ${(err as Error).message}`, err);
      });
    }
    const options = ['rbind', p.RW ? 'rw' : 'ro'];
    if (p.Propagation) options.push(p.Propagation);
    return { destination: p.Destination, type: 'bind', source, options };
  }

  /** The run ended: each volume is unmounted for it (a device goes with its last run). */
  async unmountVolumes(rec: ContainerRecord): Promise<void> {
    for (const p of rec.MountPoints ?? []) {
      if (p.Type === 'volume' && p.Name) await this.d.volumes.unmount(p.Name, rec.Id);
    }
  }

  /** The container goes: its references go; `anonymous`: its anonymous volumes too, unless another container uses them. */
  async releaseVolumes(rec: ContainerRecord, anonymous: boolean): Promise<void> {
    for (const p of rec.MountPoints ?? []) {
      if (p.Type !== 'volume' || !p.Name) continue;
      this.d.volumes.release(p.Name, rec.Id);
      if (!anonymous || !p.Anonymous) continue;
      await this.d.volumes.remove(p.Name).catch((err: unknown) => {
        if (!isKind(err, 'conflict') && !isKind(err, 'notFound')) throw err;
      });
    }
  }

  /** `Mounts` of inspect and of the list, in Docker's shape. */
  mountsOfView(c: ContainerView): Array<Record<string, unknown>> {
    return (c.MountPoints ?? []).map((p) => {
      if (p.Type !== 'volume') return { Type: p.Type, Source: p.Source, Destination: p.Destination, Mode: p.Mode, RW: p.RW, Propagation: p.Propagation };
      let source = '';
      try {
        source = this.d.volumes.get(p.Name ?? '').Mountpoint;
      } catch {
        // a volume removed from under a container shows no source
      }
      return { Type: 'volume', Name: p.Name, Source: source, Destination: p.Destination, Driver: p.Driver, Mode: p.Mode, RW: p.RW, Propagation: p.Propagation };
    });
  }
}

/** A bind's source made (`-v`) or checked (`--mount`), then resolved once: the runtime mounts what it was at create. */
async function resolveBindSource(p: PlannedMount): Promise<void> {
  const source = p.point.Source;
  let exists = true;
  try {
    await stat(source);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw withContext(`invalid mount config for type "bind"`, err);
    exists = false;
  }
  if (!exists) {
    if (p.sourceMustExist) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
    await mkdir(source, { recursive: true, mode: 0o755 });
  }
  p.point.HostPath = await realpath(source);
}

/** Docker's tmpfs options (noexec, nosuid, nodev, rprivate), the mount's own over them. */
function tmpfsMount(destination: string, data: string): Mount {
  return { destination, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', 'rprivate'], data) };
}

const OPPOSITES: Record<string, string> = { exec: 'noexec', suid: 'nosuid', dev: 'nodev', ro: 'rw', atime: 'noatime', diratime: 'nodiratime', relatime: 'norelatime', strictatime: 'nostrictatime' };

/** moby's MergeTmpfsOptions: a later flag replaces its opposite, a later `key=value` the same key. */
export function mergeTmpfsOptions(base: string[], data: string): string[] {
  const out = [...base];
  for (const opt of data.split(',').map((o) => o.trim()).filter(Boolean)) {
    const key = opt.includes('=') ? opt.slice(0, opt.indexOf('=')) : undefined;
    const opposite = OPPOSITES[opt] ?? Object.entries(OPPOSITES).find(([, v]) => v === opt)?.[0];
    for (let i = out.length - 1; i >= 0; i--) {
      const o = out[i]!;
      if (o === opt || o === opposite || (key !== undefined && o.startsWith(`${key}=`))) out.splice(i, 1);
    }
    out.push(opt);
  }
  return out;
}
