import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, invalid } from '../errors.js';
import type { DeviceRequest, ThrottleDevice } from './runtime.js';

/**
 * Device nodes and device cgroup rules, as moby builds them (`daemon/pkg/oci/devices_linux.go`,
 * `AppendDevicePermissionsFromCgroupRules`): a `--device` is looked up on the host (a symlink
 * followed, a folder walked for the devices under it) and made in the container with the
 * host's type, numbers, mode and owner, and allowed in the device cgroup with its permissions.
 * The parsing is pure; the lookups read the host's /dev and nothing else.
 */

/** A device node the runtime makes in the container (runtime-spec `linux.devices`). */
export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** A device cgroup rule (runtime-spec `linux.resources.devices`); an absent major or minor is a wildcard. */
export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

/** A block I/O limit on one device (runtime-spec `linux.resources.blockIO.throttle*Device`). */
export interface OciThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

const RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** Parse `c 1:3 rwm` / `b *:* m` / `a *:* rwm`; throws `invalid` with moby's message. */
export function parseDeviceCgroupRule(rule: string): OciDeviceRule {
  const m = RULE.exec(rule);
  if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`);
  const out: OciDeviceRule = { allow: true, type: m[1] as 'a' | 'c' | 'b', access: m[4]! };
  if (m[2] !== '*') out.major = Number(m[2]);
  if (m[3] !== '*') out.minor = Number(m[3]);
  return out;
}

/** Check a device mapping of a create request (absolute paths, permissions of `rwm`). */
export function validateDeviceRequest(d: DeviceRequest): void {
  if (!d.pathOnHost.startsWith('/')) throw invalid(`invalid device path: ${JSON.stringify(d.pathOnHost)}: it must be absolute`);
  if (d.pathInContainer !== '' && !d.pathInContainer.startsWith('/')) {
    throw invalid(`invalid device path in container: ${JSON.stringify(d.pathInContainer)}: it must be absolute`);
  }
  if (d.cgroupPermissions !== '' && !/^[rwm]{1,3}$/.test(d.cgroupPermissions)) {
    throw invalid(`invalid device cgroup permissions: ${JSON.stringify(d.cgroupPermissions)}: use r, w and m`);
  }
}

/** Major and minor numbers of a Linux dev_t (glibc's gnu_dev_major/minor). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev % 2 ** 32;
  return {
    major: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    minor: ((lo & 0xff) | ((lo >>> 12) & 0xfff00) | ((hi & 0xfff) << 20)) >>> 0,
  };
}

/** The device at `path` on the host (no symlink followed), or undefined when it is no device node. */
async function deviceAt(path: string): Promise<Omit<OciDevice, 'path'> | undefined> {
  const st = await lstat(path);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (type === undefined) return undefined;
  return { type, ...devNumbers(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/**
 * The nodes and cgroup rules of one `--device` (moby's DevicesFromPath). Throws `invalid` with
 * moby's message when the path holds no device.
 */
export async function devicesFromPath(request: DeviceRequest): Promise<{ devices: OciDevice[]; rules: OciDeviceRule[] }> {
  const inContainer = request.pathInContainer || request.pathOnHost;
  const access = request.cgroupPermissions || 'rwm';
  let resolved = request.pathOnHost;
  const fail = (why: string, cause?: unknown) =>
    invalid(`error gathering device information while adding custom device ${JSON.stringify(request.pathOnHost)}: ${why}`, cause);
  try {
    if ((await lstat(resolved)).isSymbolicLink()) resolved = await realpath(resolved);
  } catch (err) {
    throw fail(errnoCode(err) === 'ENOENT' ? 'no such file or directory' : (err as Error).message, err);
  }
  const devices: OciDevice[] = [];
  const one = await deviceAt(resolved);
  if (one) devices.push({ path: inContainer, ...one });
  else if ((await stat(resolved)).isDirectory()) {
    for (const [hostPath, dev] of await walkDevices(resolved)) devices.push({ path: inContainer + hostPath.slice(resolved.length), ...dev });
  }
  if (devices.length === 0) throw fail('not a device node');
  return { devices, rules: devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access })) };
}

/** Device nodes under `dir`, recursively, by host path. */
async function walkDevices(dir: string, skip: (name: string, isDir: boolean) => boolean = () => false): Promise<Array<[string, Omit<OciDevice, 'path'>]>> {
  const out: Array<[string, Omit<OciDevice, 'path'>]> = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EACCES') return out;
    throw err;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (skip(e.name, e.isDirectory())) continue;
    if (e.isDirectory()) out.push(...(await walkDevices(path, skip)));
    else if (e.isCharacterDevice() || e.isBlockDevice()) {
      const dev = await deviceAt(path).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (dev) out.push([path, dev]);
    }
  }
  return out;
}

/**
 * Every device of the host's /dev, for a privileged container (containerd's HostDevices): the
 * folders a container mounts itself (pts, shm, mqueue) and /dev/console are left out.
 */
export async function hostDevices(root = '/dev'): Promise<OciDevice[]> {
  const skipDirs = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
  const found = await walkDevices(root, (name, isDir) => (isDir ? skipDirs.has(name) : name === 'console'));
  return found.map(([path, dev]) => ({ path: `/dev${path.slice(root.length)}`, ...dev }));
}

/** `--device-read-bps /dev/sda:1mb` and the like, by the device's numbers (moby's getBlkioThrottleDevices). */
export async function throttleDevices(list: ThrottleDevice[] | undefined): Promise<OciThrottleDevice[]> {
  const out: OciThrottleDevice[] = [];
  for (const d of list ?? []) {
    let st;
    try {
      st = await stat(d.path);
    } catch (err) {
      throw invalid(`stat ${d.path}: ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, err);
    }
    out.push({ ...devNumbers(st.rdev), rate: d.rate });
  }
  return out;
}
