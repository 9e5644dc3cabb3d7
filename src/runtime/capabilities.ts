import { invalid } from '../errors.js';

/**
 * Linux capabilities as Docker hands them to containers (moby `daemon/pkg/oci/caps`): the
 * default set, `--cap-add`/`--cap-drop` by name (with or without `CAP_`, any case, `ALL`), and
 * `--privileged`. Every set is limited to the capabilities the daemon itself holds: a runtime
 * cannot give a container what its parent lacks ("unable to apply caps: operation not
 * permitted"), so, as moby does, `ALL` and `--privileged` mean all the daemon holds, and an
 * explicit `--cap-add` of one it lacks is refused.
 */

/** Capability names by number (linux/capability.h). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capability set, in Docker's order. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** What a host offers: the capabilities its kernel knows and those the daemon holds, by number. */
export interface CapabilitySets {
  /** Names of the capabilities the kernel knows (0..cap_last_cap). */
  known: string[];
  /** Names of the capabilities the daemon holds (its effective set), a subset of `known`. */
  held: string[];
}

/** The capability sets of a host from cap_last_cap and the `CapEff:` hex mask of /proc/self/status. */
export function capabilitySets(lastCap: number, statusText: string): CapabilitySets {
  const known = ALL_CAPABILITIES.slice(0, lastCap + 1);
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m) return { known, held: known };
  const mask = BigInt(`0x${m[1]!}`);
  return { known, held: known.filter((_, i) => (mask >> BigInt(i)) & 1n) };
}

/**
 * Normalize `net_admin` / `CAP_NET_ADMIN` / `all` as moby's NormalizeLegacyCapabilities does;
 * throws `invalid` with Docker's messages for a name no kernel has, or one this host cannot give.
 */
export function normalizeCapabilities(names: string[], sets: CapabilitySets): { caps: string[]; all: boolean } {
  const caps: string[] = [];
  let all = false;
  for (const raw of names) {
    const up = raw.trim().toUpperCase();
    if (up === 'ALL') {
      all = true;
      continue;
    }
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!ALL_CAPABILITIES.includes(name)) throw invalid(`unknown capability: "${name}"`);
    if (!sets.known.includes(name) || !sets.held.includes(name)) {
      throw invalid(`capability not supported by your kernel or not available in the current environment: "${name}"`);
    }
    if (!caps.includes(name)) caps.push(name);
  }
  return { caps, all };
}

/** Check a HostConfig's CapAdd and CapDrop as Docker does at create (`invalid CapAdd: ...`). */
export function validateCapabilities(capAdd: string[], capDrop: string[], sets: CapabilitySets): void {
  for (const [field, names] of [['CapAdd', capAdd], ['CapDrop', capDrop]] as const) {
    try {
      normalizeCapabilities(names, field === 'CapDrop' ? { known: sets.known, held: sets.known } : sets);
    } catch (err) {
      throw invalid(`invalid ${field}: ${(err as Error).message}`, err);
    }
  }
}

/**
 * The container's capability set, as moby's TweakCapabilities: privileged, or `ALL` added, gives
 * every capability the daemon holds (less the drops); `ALL` dropped keeps only the adds; else
 * the default set less the drops plus the adds. Never more than the daemon holds. Dropping a
 * capability the daemon lacks is no error (it is not there to give).
 */
export function resolveCapabilities(
  opts: { privileged: boolean; capAdd: string[]; capDrop: string[] },
  sets: CapabilitySets,
): string[] {
  const held = sets.known.filter((c) => sets.held.includes(c));
  if (opts.privileged) return held;
  const add = normalizeCapabilities(opts.capAdd, sets);
  const drop = normalizeCapabilities(opts.capDrop, { known: sets.known, held: sets.known });
  let caps: string[];
  if (add.all) caps = held.filter((c) => !drop.caps.includes(c));
  else if (drop.all) caps = add.caps;
  else {
    caps = DEFAULT_CAPABILITIES.filter((c) => !drop.caps.includes(c));
    for (const c of add.caps) if (!caps.includes(c)) caps.push(c);
  }
  return caps.filter((c) => held.includes(c));
}
