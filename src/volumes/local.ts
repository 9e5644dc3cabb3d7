import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { conflict, internal, invalid, notFound } from '../errors.js';
import type { EmitFn } from '../events/events.js';
import { log } from '../log.js';
import { diskUsage } from '../snapshots/diff.js';
import { unmount as unmountPath } from '../snapshots/mount.js';
import { checkFilterValues, selectVolumes } from './filters.js';
import { isMounted } from './mountinfo.js';
import { VolumeStore, type VolumeRecord } from './store.js';
import { KeyedMutex } from '../util/mutex.js';
import type { Filters } from '../util/filters.js';
import { matchLabels } from '../util/filters.js';
import {
  ANONYMOUS_LABEL,
  LOCAL_DRIVER,
  type ContainerUse,
  type CreateVolumeOptions,
  type MountDetail,
  type VolumeInfo,
  type Volumes,
} from './volumes.js';

/** Docker's local driver's name rule (moby's RestrictedNamePattern). */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The local driver's options and the ones each needs beside it (moby's validOpts, mandatoryOpts). */
const VALID_OPTIONS = ['type', 'o', 'device', 'size'];
const MANDATORY: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };

/**
 * The local driver and the volume service around it: records in `VolumeStore`, references
 * and the mounts of running containers in memory (rebuilt from the containers' records by
 * `init`). Every change of one volume is made under that volume's lock.
 */
export class LocalVolumes implements Volumes {
  private readonly store: VolumeStore;
  private readonly records = new Map<string, VolumeRecord>();
  /** Containers referencing each volume (any state). */
  private readonly refs = new Map<string, Set<string>>();
  /** Container runs holding each volume mounted. */
  private readonly active = new Map<string, Set<string>>();
  private readonly mutex = new KeyedMutex();

  constructor(
    root: string,
    private readonly emit: EmitFn,
  ) {
    this.store = new VolumeStore(join(root, 'volumes'));
  }

  async init(containers: ContainerUse[]): Promise<void> {
    for (const rec of await this.store.load()) this.records.set(rec.Name, rec);
    for (const c of containers) {
      for (const name of c.volumes) {
        if (!this.records.has(name)) continue;
        add(this.refs, name, c.id);
        if (c.running) add(this.active, name, c.id);
      }
    }
    // A device a run held when pierd stopped, which no run holds now.
    for (const rec of this.records.values()) {
      if (!needsMount(rec) || (this.active.get(rec.Name)?.size ?? 0) > 0) continue;
      const path = this.store.dataPath(rec.Name);
      if (await isMounted(path)) await unmountPath(path).catch((err: unknown) => log.warn({ err, volume: rec.Name }, 'unmounting a volume no container holds'));
    }
  }

  // ---- reading -------------------------------------------------------------------------------

  get(name: string): VolumeInfo {
    const rec = this.records.get(name);
    if (!rec) throw notFound(`get ${name}: no such volume`);
    return this.info(rec);
  }

  list(filters: Filters): VolumeInfo[] {
    checkFilterValues(filters, ['dangling', 'name', 'driver', 'label']);
    const all = [...this.records.values()].map((rec) => ({ rec, refs: this.refs.get(rec.Name)?.size ?? 0 }));
    return selectVolumes(all, filters).map((v) => this.info(v.rec)).sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }

  async usage(): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const rec of this.records.values()) {
      const size = await diskUsage(this.store.dataPath(rec.Name)).catch(() => -1);
      out.push({ ...this.info(rec), UsageData: { Size: size, RefCount: this.refs.get(rec.Name)?.size ?? 0 } });
    }
    return out;
  }

  private info(rec: VolumeRecord): VolumeInfo {
    return {
      CreatedAt: rec.CreatedAt,
      Driver: rec.Driver,
      // {} when none were given: the v1.51 schema has Labels required and never null.
      Labels: rec.Labels ?? {},
      Mountpoint: this.store.dataPath(rec.Name),
      Name: rec.Name,
      Options: rec.Options,
      Scope: 'local',
    };
  }

  // ---- managing ------------------------------------------------------------------------------

  async create(opts: CreateVolumeOptions, reference?: string): Promise<VolumeInfo> {
    const driver = opts.driver || LOCAL_DRIVER;
    if (driver !== LOCAL_DRIVER) throw notFound(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const anonymous = !opts.name;
    const name = opts.name || randomBytes(32).toString('hex');
    checkName(name);
    const options = opts.options && Object.keys(opts.options).length > 0 ? opts.options : null;
    checkOptions(name, options);
    return this.mutex.run(name, async () => {
      const existing = this.records.get(name);
      if (existing) {
        if (existing.Driver !== driver) throw conflict(`create ${name}: a volume with the name ${name} already exists with driver "${existing.Driver}"`);
        if (reference) add(this.refs, name, reference);
        return this.info(existing);
      }
      const labels = anonymous ? { ...(opts.labels ?? {}), [ANONYMOUS_LABEL]: '' } : (opts.labels ?? null);
      const rec: VolumeRecord = { Name: name, Driver: driver, CreatedAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), Labels: labels, Options: opts.options ?? null };
      await this.store.create(rec);
      this.records.set(name, rec);
      if (reference) add(this.refs, name, reference);
      this.emit('volume', 'create', name, { driver });
      return this.info(rec);
    });
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.mutex.run(name, async () => {
      const rec = this.records.get(name);
      if (!rec) {
        if (opts.force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const users = [...(this.refs.get(name) ?? [])];
      if (users.length > 0) throw conflict(`remove ${name}: volume is in use - [${users.join(' ')}]`);
      // Gone for new references from here on; back if the removal fails.
      this.records.delete(name);
      try {
        const path = this.store.dataPath(name);
        if (needsMount(rec) && (await isMounted(path))) await unmountPath(path);
        await this.store.remove(name);
      } catch (err) {
        this.records.set(name, rec);
        throw err;
      }
      this.refs.delete(name);
      this.active.delete(name);
      this.emit('volume', 'destroy', name, { driver: rec.Driver });
    });
  }

  async prune(filters: Filters, opts: { anonymousOnly: boolean }): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    checkFilterValues(filters, ['label', 'label!', 'all']);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const rec of [...this.records.values()]) {
      if ((this.refs.get(rec.Name)?.size ?? 0) > 0) continue;
      const labels = rec.Labels ?? {};
      if (opts.anonymousOnly && !(ANONYMOUS_LABEL in labels)) continue;
      if (!matchLabels(filters, labels)) continue;
      const size = await diskUsage(this.store.dataPath(rec.Name)).catch(() => 0);
      try {
        await this.remove(rec.Name);
      } catch (err) {
        // Referenced meanwhile, or a mount stays: not pruned, and the others still are.
        log.warn({ err, volume: rec.Name }, 'prune: volume not removed');
        continue;
      }
      deleted.push(rec.Name);
      reclaimed += size;
    }
    this.emit('volume', 'prune', '', { reclaimed: String(reclaimed) });
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---- the containers' use -------------------------------------------------------------------

  reference(name: string, containerId: string): void {
    if (!this.records.has(name)) throw notFound(`get ${name}: no such volume`);
    add(this.refs, name, containerId);
  }

  release(name: string, containerId: string): void {
    const set = this.refs.get(name);
    set?.delete(containerId);
    if (set?.size === 0) this.refs.delete(name);
  }

  references(name: string): string[] {
    return [...(this.refs.get(name) ?? [])];
  }

  async mount(name: string, containerId: string, detail: MountDetail): Promise<string> {
    return this.mutex.run(name, async () => {
      const rec = this.records.get(name);
      if (!rec) throw notFound(`get ${name}: no such volume`);
      const path = this.store.dataPath(name);
      if (needsMount(rec) && !(await isMounted(path))) await mountDevice(rec, path);
      add(this.active, name, containerId);
      this.emit('volume', 'mount', name, {
        container: containerId,
        destination: detail.destination,
        driver: rec.Driver,
        propagation: detail.propagation,
        'read/write': String(detail.rw),
      });
      return path;
    });
  }

  async unmount(name: string, containerId: string): Promise<void> {
    await this.mutex.run(name, async () => {
      const set = this.active.get(name);
      if (!set?.has(containerId)) return;
      set.delete(containerId);
      const rec = this.records.get(name);
      this.emit('volume', 'unmount', name, { container: containerId, driver: rec?.Driver ?? LOCAL_DRIVER });
      if (set.size > 0) return;
      this.active.delete(name);
      if (rec && needsMount(rec)) await unmountPath(this.store.dataPath(name));
    });
  }
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

/** A volume with a device or a type has a filesystem of its own, mounted on `_data` while used. */
function needsMount(rec: VolumeRecord): boolean {
  return !!(rec.Options?.device || rec.Options?.type);
}

export function checkName(name: string): void {
  if (NAME_RE.test(name)) return;
  if (name.length === 1) throw invalid(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
  throw invalid(
    `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
  );
}

/** The local driver's option rules (moby's validateOpts). */
export function checkOptions(name: string, options: Record<string, string> | null): void {
  if (!options) return;
  for (const key of Object.keys(options)) {
    if (!VALID_OPTIONS.includes(key)) throw invalid(`create ${name}: invalid option: "${key}"`);
  }
  if (options.size !== undefined) throw invalid(`create ${name}: quota size requested but no quota support`);
  for (const [key, needs] of Object.entries(MANDATORY)) {
    if (!(key in options)) continue;
    for (const need of needs) if (!(need in options)) throw invalid(`create ${name}: missing required option: "${need}"`);
  }
}

/** `mount -t <type> -o <o> <device> <path>`, as Docker's local driver mounts. */
function mountDevice(rec: VolumeRecord, path: string): Promise<void> {
  const o = rec.Options ?? {};
  const args = [...(o.type ? ['-t', o.type] : []), ...(o.o ? ['-o', o.o] : []), o.device ?? '', path];
  return new Promise((resolve, reject) => {
    const child = spawn('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(internal(`error while mounting volume '${path}': failed to mount local volume: ${err.message}`, err)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const said = `mount ${args.join(' ')}: ${stderr.trim() || `exit ${code}`}`.replace(/password=[^,\s]*/g, 'password=********');
        reject(internal(`error while mounting volume '${path}': failed to mount local volume: ${said}`));
      }
    });
  });
}
