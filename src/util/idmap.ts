/**
 * A container's user namespace as one contiguous range: container IDs `0..size-1` are the
 * host's `uid..uid+size-1` (users) and `gid..gid+size-1` (groups). Shared by the parts that
 * need it (runtime: the OCI mappings; snapshots: idmapped layers; containers: the policy)
 * without one depending on another.
 */
export interface IdMap {
  uid: number;
  gid: number;
  size: number;
}

/** The host ID of a container's ID `id` (an ID outside the range is the overflow ID 65534, as the kernel shows it). */
export function hostId(map: IdMap, id: number, kind: 'uid' | 'gid'): number {
  if (id < 0 || id >= map.size) return 65534;
  return (kind === 'uid' ? map.uid : map.gid) + id;
}

/** The container's ID of a host ID, undefined when the range does not hold it. */
export function containerId(map: IdMap, id: number, kind: 'uid' | 'gid'): number | undefined {
  const base = kind === 'uid' ? map.uid : map.gid;
  return id >= base && id < base + map.size ? id - base : undefined;
}

export function sameIdMap(a: IdMap | undefined, b: IdMap | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.uid === b.uid && a.gid === b.gid && a.size === b.size;
}
