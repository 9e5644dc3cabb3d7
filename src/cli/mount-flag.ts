import type { MountBody } from '../client/types.js';
import { ParseError, ramInBytes } from './human.js';

/**
 * `--mount type=bind|volume|tmpfs,source=...,target=...,...` → one entry of HostConfig.Mounts,
 * as the docker CLI builds it (docker/cli `opts/mount.go`): the type defaults to `volume`;
 * unknown keys, options of another type and a missing target are refused here, the rest of
 * the checks are the daemon's. Throws ParseError with the reason (the caller names the flag).
 */

/** A request's mount, its type always set (`volume` when the flag names none). */
type MountEntry = MountBody & { Type: string };

/** The fields of a CSV line (Go's encoding/csv: double quotes group, `""` is a quote). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new ParseError(`parse error: extraneous or missing " in quoted-field`);
  out.push(cur);
  return out;
}

function bool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw new ParseError(`invalid value for ${key}: ${value}`);
}

export function parseMountFlag(value: string): MountEntry {
  const m: MountEntry = { Type: 'volume' };
  const bindOpts = (): NonNullable<MountEntry['BindOptions']> => (m.BindOptions ??= {});
  const volumeOpts = (): NonNullable<MountEntry['VolumeOptions']> => (m.VolumeOptions ??= {});
  const tmpfsOpts = (): NonNullable<MountEntry['TmpfsOptions']> => (m.TmpfsOptions ??= {});
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (val === undefined) throw new ParseError(`invalid field '${field}' must be a key=value pair`);
      return val;
    };
    switch (key) {
      case 'type':
        m.Type = need().toLowerCase();
        break;
      case 'source':
      case 'src':
        m.Source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = need();
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = bool(key, val);
        break;
      case 'consistency':
        m.Consistency = need();
        break;
      case 'bind-propagation':
        bindOpts().Propagation = need().toLowerCase();
        break;
      case 'bind-nonrecursive':
        bindOpts().NonRecursive = bool(key, val);
        break;
      case 'bind-create-mountpoint':
        bindOpts().CreateMountpoint = bool(key, val);
        break;
      case 'volume-nocopy':
        volumeOpts().NoCopy = bool(key, val);
        break;
      case 'volume-subpath':
        volumeOpts().Subpath = need();
        break;
      case 'volume-label': {
        const [k, ...rest] = need().split('=');
        (volumeOpts().Labels ??= {})[k!] = rest.join('=');
        break;
      }
      case 'volume-driver':
        (volumeOpts().DriverConfig ??= {}).Name = need();
        break;
      case 'volume-opt': {
        const [k, ...rest] = need().split('=');
        ((volumeOpts().DriverConfig ??= {}).Options ??= {})[k!] = rest.join('=');
        break;
      }
      case 'tmpfs-size':
        tmpfsOpts().SizeBytes = ramInBytes(need());
        break;
      case 'tmpfs-mode': {
        const mode = need();
        if (!/^[0-7]+$/.test(mode)) throw new ParseError(`invalid value for ${key}: ${mode}`);
        tmpfsOpts().Mode = parseInt(mode, 8);
        break;
      }
      default:
        throw new ParseError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (m.Type === '') throw new ParseError('type is required');
  if (m.Target === undefined || m.Target === '') throw new ParseError('target is required');
  if (m.BindOptions && m.Type !== 'bind') throw new ParseError(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.VolumeOptions && m.Type !== 'volume') throw new ParseError(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.TmpfsOptions && m.Type !== 'tmpfs') throw new ParseError(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  return m;
}
