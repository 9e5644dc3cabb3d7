import { posix } from 'node:path';
import { invalid } from '../errors.js';
import type { HostConfig, MountConfig, MountPoint } from './types.js';

/**
 * A container's mount specs, parsed and checked as Docker's daemon does (moby's
 * volume/mounts/linux_parser.go and daemon/volumes.go registerMountPoints): `-v` binds
 * (HostConfig.Binds), `--mount` (HostConfig.Mounts), `--tmpfs` (HostConfig.Tmpfs),
 * `--volumes-from` and the anonymous volumes of Config.Volumes (the image's VOLUMEs and
 * `-v /path`). Pure: what needs the filesystem or the volumes part (a bind source's
 * existence, creating volumes) is left to the caller (mounts.ts). Every refusal is `invalid`
 * with Docker's message.
 */

/** A mount point to be, and what its volume is made with. */
export interface PlannedMount {
  point: MountPoint;
  /** volume: what creating it takes (a name-less one is anonymous). */
  volume?: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string> };
  /** bind from `--mount`: the source must exist (Docker makes `-v` sources, never `--mount` ones). */
  sourceMustExist?: boolean;
  /** From `--volumes-from`: the volume is referenced, not created. */
  inherited?: boolean;
}

const RW_MODES = ['rw', 'ro', 'ro-non-recursive', 'ro-force-recursive', 'rro'];
const READ_ONLY_MODES = ['ro', 'ro-non-recursive', 'ro-force-recursive', 'rro'];
const LABEL_MODES = ['z', 'Z'];
export const PROPAGATIONS = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'];
const CONSISTENCY = ['consistent', 'cached', 'delegated'];
const COPY_MODES = ['nocopy'];
const DEFAULT_PROPAGATION = 'rprivate';

const ERR_ROOT = "invalid specification: destination can't be '/'";

/** Docker's path.Clean of a container path. */
function clean(p: string): string {
  return posix.normalize(p).replace(/(.)\/+$/, '$1');
}

function notAbsolute(p: string): string {
  return `invalid mount path: '${p}' mount path must be absolute`;
}

/** Whether a `-v` mode is a valid list of options, at most one of each kind (linuxValidMountMode). */
export function validMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = [0, 0, 0, 0, 0];
  for (const o of mode.split(',')) {
    const kind = RW_MODES.includes(o) ? 0 : LABEL_MODES.includes(o) ? 1 : PROPAGATIONS.includes(o) ? 2 : COPY_MODES.includes(o) ? 3 : CONSISTENCY.includes(o) ? 4 : -1;
    if (kind < 0) return false;
    counts[kind]!++;
  }
  return counts.every((c) => c <= 1);
}

/** The checks of moby's validateMountConfig; `message` is the reason, wrapped by the caller. */
function mountConfigError(m: MountConfig): string | undefined {
  const target = m.Target ?? '';
  if (target === '') return 'field Target must not be empty';
  if (clean(target) === '/') return ERR_ROOT;
  if (!target.startsWith('/')) return notAbsolute(target);
  const source = m.Source ?? '';
  switch (m.Type) {
    case 'bind': {
      if (source === '') return 'field Source must not be empty';
      const prop = m.BindOptions?.Propagation;
      if (prop && !PROPAGATIONS.includes(prop)) return `invalid propagation mode: ${prop}`;
      if (m.VolumeOptions) return 'field VolumeOptions must not be specified';
      if (!source.startsWith('/')) return notAbsolute(source);
      return undefined;
    }
    case 'volume': {
      if (m.BindOptions) return 'field BindOptions must not be specified';
      const anonymous = source === '';
      const subpath = m.VolumeOptions?.Subpath;
      if (subpath) {
        if (anonymous) return 'must not set Subpath when using anonymous volumes';
        if (!isLocalPath(subpath)) return 'subpath must be a relative path within the volume';
      }
      if (m.ReadOnly && anonymous) return 'must not set ReadOnly mode when using anonymous volumes';
      return undefined;
    }
    case 'tmpfs': {
      if (m.BindOptions) return 'field BindOptions must not be specified';
      if (source !== '') return 'field Source must not be specified';
      try {
        tmpfsData(m.TmpfsOptions ?? undefined, m.ReadOnly ?? false);
      } catch (err) {
        return (err as Error).message;
      }
      return undefined;
    }
    default:
      return 'mount type unknown';
  }
}

/** Go's filepath.IsLocal: relative, not empty, never above its base. */
function isLocalPath(p: string): boolean {
  if (p === '' || p.startsWith('/')) return false;
  const n = posix.normalize(p);
  return n !== '..' && !n.startsWith('../');
}

/** A `--mount` entry (HostConfig.Mounts) as a planned mount. */
export function parseMountConfig(m: MountConfig): PlannedMount {
  const problem = mountConfigError(m);
  if (problem) throw invalid(`invalid mount config for type "${m.Type ?? ''}": ${problem}`);
  return planOf(m, { fromBinds: false });
}

/** A `-v` spec (HostConfig.Binds): `[src:]dst[:mode]`. */
export function parseBind(raw: string, volumeDriver = ''): PlannedMount {
  const spec = `invalid volume specification: '${raw}'`;
  const arr = splitN(raw, ':', 4);
  if (arr[0] === '') throw invalid(spec);
  const m: MountConfig = {};
  let mode = '';
  if (arr.length === 1) m.Target = arr[0];
  else if (arr.length === 2) {
    // A destination and a mode is no volume: `/foo:rw`.
    if (validMode(arr[1]!)) throw invalid(spec);
    m.Source = arr[0];
    m.Target = arr[1];
  } else if (arr.length === 3) {
    [m.Source, m.Target, mode] = arr as [string, string, string];
  } else throw invalid(spec);
  if (!validMode(mode)) throw invalid(`invalid mode: ${mode}`);
  const options = mode.split(',');
  m.Type = m.Source?.startsWith('/') ? 'bind' : 'volume';
  m.ReadOnly = options.some((o) => READ_ONLY_MODES.includes(o));
  if (volumeDriver !== '' && m.Type === 'volume') m.VolumeOptions = { DriverConfig: { Name: volumeDriver } };
  if (options.includes('nocopy')) m.VolumeOptions = { ...(m.VolumeOptions ?? {}), NoCopy: true };
  const propagation = options.find((o) => PROPAGATIONS.includes(o));
  if (propagation) m.BindOptions = { Propagation: propagation };
  const problem = mountConfigError(m);
  if (problem) throw invalid(`${spec}: invalid mount config for type "${m.Type}": ${problem}`);
  const planned = planOf(m, { fromBinds: true });
  planned.point.Mode = mode;
  // A local volume given no mode shows `z` (moby's setBindModeIfNull).
  if (m.Type === 'volume' && mode === '' && isLocalDriver(m)) planned.point.Mode = 'z';
  return planned;
}

function planOf(m: MountConfig, opts: { fromBinds: boolean }): PlannedMount {
  const destination = clean(m.Target!);
  const rw = !m.ReadOnly;
  switch (m.Type) {
    case 'bind':
      return {
        point: {
          Type: 'bind',
          Destination: destination,
          Source: clean(m.Source!),
          RW: rw,
          Mode: '',
          Propagation: m.BindOptions?.Propagation || DEFAULT_PROPAGATION,
          ...(m.BindOptions?.NonRecursive ? { NonRecursive: true } : {}),
          ...(opts.fromBinds ? { CreateHostPath: true } : {}),
        },
        sourceMustExist: !opts.fromBinds && !m.BindOptions?.CreateMountpoint,
      };
    case 'volume': {
      const vo = m.VolumeOptions;
      const name = m.Source || undefined;
      return {
        point: {
          Type: 'volume',
          Destination: destination,
          Source: '',
          RW: rw,
          Mode: !opts.fromBinds && isLocalDriver(m) ? 'z' : '',
          Propagation: '',
          CopyData: !vo?.NoCopy,
          ...(vo?.Subpath ? { Subpath: vo.Subpath } : {}),
          ...(name === undefined ? { Anonymous: true } : {}),
        },
        volume: {
          name,
          driver: vo?.DriverConfig?.Name || undefined,
          labels: (vo?.Labels ?? undefined) as Record<string, string> | undefined,
          options: (vo?.DriverConfig?.Options ?? undefined) as Record<string, string> | undefined,
        },
      };
    }
    default:
      return {
        point: { Type: 'tmpfs', Destination: destination, Source: '', RW: rw, Mode: '', Propagation: '', TmpfsData: tmpfsData(m.TmpfsOptions ?? undefined, m.ReadOnly ?? false) },
      };
  }
}

/** The mount data of a `--mount type=tmpfs` (moby's ConvertTmpfsOptions): ro, mode, size with Docker's suffixes, exec/noexec. */
export function tmpfsData(opts: MountConfig['TmpfsOptions'] | undefined, readOnly: boolean): string {
  const out: string[] = [];
  if (readOnly) out.push('ro');
  if (opts?.Mode) out.push(`mode=${opts.Mode.toString(8)}`);
  if (opts?.SizeBytes) {
    let size = opts.SizeBytes;
    let suffix = '';
    for (const [s, d] of [['g', 2 ** 30], ['m', 2 ** 20], ['k', 2 ** 10]] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    out.push(`size=${size}${suffix}`);
  }
  for (const opt of opts?.Options ?? []) {
    if (opt.length < 1 || opt.length > 2) throw new Error('invalid option array length');
    if (!['exec', 'noexec'].includes(opt[0]!)) throw new Error(`invalid option: ${opt[0]}`);
    out.push(opt.length === 1 ? opt[0]! : `${opt[0]}=${opt[1]}`);
  }
  return out.join(',');
}

/** `--volumes-from <container>[:ro|rw]`: the container and the mode (moby's ParseVolumesFrom). */
export function parseVolumesFrom(spec: string): { ref: string; mode: string } {
  if (spec === '') throw invalid('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  const ref = i < 0 ? spec : spec.slice(0, i);
  const mode = i < 0 ? '' : spec.slice(i + 1);
  if (mode === '') return { ref, mode: 'rw' };
  const options = mode.split(',');
  if (!validMode(mode) || options.some((o) => PROPAGATIONS.includes(o) || COPY_MODES.includes(o))) throw invalid(`invalid mode: ${mode}`);
  return { ref, mode };
}

/** A `--tmpfs` destination: absolute, not `/`. */
export function checkTmpfsDestination(dest: string): void {
  if (clean(dest) === '/') throw invalid(ERR_ROOT);
  if (!dest.startsWith('/')) throw invalid(notAbsolute(dest));
}

/**
 * Every mount of a new container, in Docker's order of precedence: `--volumes-from` first,
 * replaced by binds and `--mount` at the same destination; two binds, two `--mount`s, a bind
 * and a `--mount`, or either and a `--tmpfs` at one destination: `Duplicate mount point`.
 * Config.Volumes (the image's VOLUMEs, `-v /path`) add anonymous volumes where nothing else
 * is mounted. `from` gives the mount points of a `--volumes-from` container.
 */
export function planMounts(hc: HostConfig, configVolumes: Record<string, unknown> | undefined, from: (ref: string) => MountPoint[]): PlannedMount[] {
  const byDest = new Map<string, PlannedMount>();
  const tmpfs = new Set(Object.keys(hc.Tmpfs ?? {}).map((d) => {
    checkTmpfsDestination(d);
    return clean(d);
  }));
  for (const spec of hc.VolumesFrom ?? []) {
    const { ref, mode } = parseVolumesFrom(spec);
    const readOnly = mode.split(',').some((o) => READ_ONLY_MODES.includes(o));
    for (const p of from(ref)) {
      if (p.Type === 'tmpfs') continue;
      const point: MountPoint = { ...p, RW: p.RW && !readOnly, CopyData: false };
      if (point.Type === 'bind') delete point.CreateHostPath;
      byDest.set(p.Destination, { point, inherited: true });
    }
  }
  const explicit = new Set<string>();
  const add = (planned: PlannedMount, target: string): void => {
    const dest = planned.point.Destination;
    if (explicit.has(dest) || tmpfs.has(dest)) throw invalid(`Duplicate mount point: ${target}`);
    explicit.add(dest);
    byDest.set(dest, planned);
  };
  for (const raw of hc.Binds ?? []) {
    const planned = parseBind(raw, hc.VolumeDriver ?? '');
    add(planned, planned.point.Destination);
  }
  for (const m of hc.Mounts ?? []) add(parseMountConfig(m), m.Target ?? '');
  for (const raw of Object.keys(configVolumes ?? {})) {
    if (!raw.startsWith('/')) throw invalid(`invalid volume specification: '${raw}': invalid mount config for type "volume": ${notAbsolute(raw)}`);
    const dest = clean(raw);
    if (dest === '/') throw invalid(`invalid volume specification: '${raw}': invalid mount config for type "volume": ${ERR_ROOT}`);
    if (byDest.has(dest) || tmpfs.has(dest)) continue;
    byDest.set(dest, {
      point: { Type: 'volume', Destination: dest, Source: '', RW: true, Mode: '', Propagation: '', CopyData: true, Anonymous: true },
      volume: { driver: hc.VolumeDriver || undefined },
    });
  }
  return [...byDest.values()];
}

function isLocalDriver(m: MountConfig): boolean {
  const name = m.VolumeOptions?.DriverConfig?.Name ?? '';
  return name === '' || name === 'local';
}

/** Go's strings.SplitN. */
function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  if (parts.length <= n) return parts;
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}
