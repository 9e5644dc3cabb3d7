import type { Filters } from '../util/filters.js';

/**
 * The volumes part: named and anonymous volumes, the data that outlives containers. A volume
 * is a folder `<root>/volumes/<name>/_data` with a record beside it; the local driver (the
 * only one, `local.ts`) may mount a filesystem there (`type`, `o`, `device`, as Docker's
 * local driver: `mount -t <type> -o <o> <device> <_data>`) while a container uses it.
 *
 * Roles, in the manner of moby's volume service: reading (`VolumeReader`), managing
 * (`VolumeManager`: the /volumes endpoints) and the containers' use (`VolumeUsers`: the
 * references that make a volume "in use", and the mounts of running containers). Mount
 * specs of containers (`-v`, `--mount`) are parsed by the containers part
 * (src/containers/mounts.ts), which calls only these roles.
 *
 * Promises of every implementation:
 * - A volume's record survives a kill -9 at any point: a crash leaves the volume whole or
 *   absent, never half of one (`volume ls` never trips on a half-written record).
 * - A volume that a container references (any container, running or not) is not removed:
 *   `conflict` with Docker's message, `remove <name>: volume is in use - [<ids>]`.
 * - Data is removed only with its volume, and never across a mount: a volume whose folder
 *   still has a mount under it is not removed.
 */

/** The label Docker puts on anonymous volumes (its value is empty). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** The only driver there is. */
export const LOCAL_DRIVER = 'local';

/** A volume in Docker's wire shape (`GET /volumes/{name}`). */
export interface VolumeInfo {
  Name: string;
  Driver: string;
  Mountpoint: string;
  /** RFC 3339, seconds. */
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Scope: 'local';
  Options: Record<string, string> | null;
  /** Only where asked for (`system df`): bytes in the volume (-1: unknown) and the containers referencing it. */
  UsageData?: { Size: number; RefCount: number };
}

export interface CreateVolumeOptions {
  /** Absent or empty: an anonymous volume (a random 64-hex name and the anonymous label). */
  name?: string;
  /** Absent or empty: `local`; any other: notFound (there are no plugins). */
  driver?: string;
  labels?: Record<string, string> | null;
  /** The local driver's options: `type`, `o`, `device` (`size` is refused: no quota support). */
  options?: Record<string, string> | null;
}

/** Reading volumes. */
export interface VolumeReader {
  /** notFound (`get <name>: no such volume`) when there is none. */
  get(name: string): VolumeInfo;
  /** `GET /volumes`: filters `dangling`, `name`, `driver`, `label` (others: invalid). Sorted by name. */
  list(filters: Filters): VolumeInfo[];
  /** Every volume with its UsageData (what `system df` shows). */
  usage(): Promise<VolumeInfo[]>;
}

/** The /volumes endpoints. Each change emits Docker's `volume` event (`create`, `destroy`, `prune`). */
export interface VolumeManager {
  /**
   * Create a volume, or return the one of that name (a different driver: conflict). A bad name
   * or option: invalid. `reference`: the container the volume is made for, referenced at once,
   * so nothing can remove it before the container's record holds it.
   */
  create(opts: CreateVolumeOptions, reference?: string): Promise<VolumeInfo>;
  /**
   * Remove a volume and its data: notFound when there is none (nothing with `force`), conflict
   * while a container references it (with `force` too, as Docker).
   */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /**
   * Remove the volumes no container references that `filters` select (`label`, `label!`,
   * `all`); `anonymousOnly` (API >= 1.42 without `all`): anonymous volumes only.
   */
  prune(filters: Filters, opts: { anonymousOnly: boolean }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }>;
}

/** What a container's mount of a volume tells the `mount` event. */
export interface MountDetail {
  destination: string;
  rw: boolean;
  propagation: string;
}

/** The containers' use of volumes. */
export interface VolumeUsers {
  /** The container references the volume (in use from now on, until `release`). notFound when there is none. */
  reference(name: string, containerId: string): void;
  /** The container no longer references the volume. Idempotent. */
  release(name: string, containerId: string): void;
  /** The containers that reference a volume. */
  references(name: string): string[];
  /**
   * The host path of the volume's data for a container about to run: a volume with a `device`
   * is mounted there first when no running container holds it yet. `mount` event.
   */
  mount(name: string, containerId: string, detail: MountDetail): Promise<string>;
  /**
   * The container's run no longer holds the volume; a device mount goes when no other run
   * holds it. Idempotent (a container that holds nothing: nothing happens). `unmount` event.
   */
  unmount(name: string, containerId: string): Promise<void>;
}

/** What the part is told of the containers when pierd starts. */
export interface ContainerUse {
  id: string;
  /** The volumes its record references. */
  volumes: string[];
  /** Its record says it runs: its volumes stay mounted for it. */
  running: boolean;
}

/** The whole part. */
export interface Volumes extends VolumeReader, VolumeManager, VolumeUsers {
  /**
   * Load the records (finishing what a crash left: half-made and half-removed volumes go),
   * take the containers' references, and unmount device mounts no running container holds.
   */
  init(containers: ContainerUse[]): Promise<void>;
}
