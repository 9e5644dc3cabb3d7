import { rmdir } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { devicesFromPath, hostDevices, parseDeviceCgroupRule, throttleDevices, type OciDevice, type OciDeviceRule } from './devices.js';
import type { Throttles } from './resources.js';
import type { ContainerSpec } from './runtime.js';

/** What a container's spec asks of the host: its device nodes and rules, its block-device limits, and its cgroup's removal. */

/**
 * The host devices of a container: every device of /dev when privileged; else its `--device`
 * nodes and their rules, then its `--device-cgroup-rule`s.
 */
export async function containerDevices(spec: ContainerSpec): Promise<{ devices: OciDevice[]; rules: OciDeviceRule[] }> {
  if (spec.privileged) {
    const all = await hostDevices();
    const extra = await Promise.all(spec.devices.filter((d) => d.pathInContainer && d.pathInContainer !== d.pathOnHost).map((d) => devicesFromPath({ ...d, cgroupPermissions: 'rwm' })));
    return { devices: [...all, ...extra.flatMap((e) => e.devices)], rules: [] };
  }
  const found = await Promise.all(spec.devices.map((d) => devicesFromPath(d)));
  return {
    devices: found.flatMap((f) => f.devices),
    rules: [...found.flatMap((f) => f.rules), ...spec.deviceCgroupRules.map(parseDeviceCgroupRule)],
  };
}

/** The spec's block device limits by device numbers. */
export async function specThrottles(spec: ContainerSpec): Promise<Throttles> {
  const r = spec.resources;
  const [readBps, writeBps, readIOps, writeIOps] = await Promise.all([
    throttleDevices(r.blkioDeviceReadBps),
    throttleDevices(r.blkioDeviceWriteBps),
    throttleDevices(r.blkioDeviceReadIOps),
    throttleDevices(r.blkioDeviceWriteIOps),
  ]);
  return { readBps, writeBps, readIOps, writeIOps };
}

/** rmdir a cgroup, retrying while the kernel still tears its last processes down; false when it stays busy or fails. */
export async function removeCgroup(path: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(path);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= 20) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
