import { invalid } from '../errors.js';
import { validateCapabilities } from '../runtime/capabilities.js';
import { parseDeviceCgroupRule, validateDeviceRequest } from '../runtime/devices.js';
import type { ContainerSpec } from '../runtime/runtime.js';
import { convertDockerProfile } from '../runtime/seccomp.js';
import type { HostFacts } from './limits.js';
import type { HostConfig } from './types.js';

/**
 * A container's security settings as Docker reads them from its HostConfig: `SecurityOpt`
 * (moby's parseSecurityOpt), capabilities, devices and sysctls, checked at create with
 * Docker's messages (400), so that a container that was created can be started. Pure: the
 * host's facts come in as `HostFacts`.
 */

export interface SecurityOptions {
  noNewPrivileges: boolean;
  seccomp: ContainerSpec['seccomp'];
  /** An AppArmor profile named by `apparmor=`; absent: the default (none here). */
  apparmorProfile?: string;
  /** `label=...` options: accepted and ignored (pier runs without SELinux, as Docker does where SELinux is off). */
  labels: string[];
}

/**
 * Parse `SecurityOpt`: `no-new-privileges[:true|=true|=false]`, `seccomp=unconfined|<profile
 * JSON>` (the docker CLI reads a profile file and sends its content), `apparmor=<profile>`
 * (refused where the host has no AppArmor, unless `unconfined`), `label=...`, and `=` or the
 * deprecated `:` as separator. Anything else is refused with moby's message.
 */
export function parseSecurityOpt(opts: string[], host?: Pick<HostFacts, 'apparmor'>, daemonNoNewPrivileges = false): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: daemonNoNewPrivileges, seccomp: 'default', labels: [] };
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') {
      out.labels.push('disable');
      continue;
    }
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : undefined;
    if (sep === undefined) throw invalid(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const at = opt.indexOf(sep);
    const key = opt.slice(0, at);
    const value = opt.slice(at + 1);
    switch (key) {
      case 'label':
        out.labels.push(value);
        break;
      case 'apparmor':
        if (value !== 'unconfined' && host && !host.apparmor) {
          throw invalid(`AppArmor is not enabled on this host: cannot apply --security-opt ${JSON.stringify(opt)}`);
        }
        out.apparmorProfile = value;
        break;
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = 'unconfined';
        else if (value === 'builtin' || value === '') out.seccomp = 'default';
        else {
          // Checked now, so that a bad profile is a 400 at create rather than a failed start.
          convertDockerProfile(value);
          out.seccomp = { profile: value };
        }
        break;
      case 'no-new-privileges': {
        const b = parseBool(value);
        if (b === undefined) throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.noNewPrivileges = b;
        break;
      }
      default:
        throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

/** The sysctls Docker lets a container set in its IPC namespace (runc's list). */
const IPC_SYSCTLS = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];

/**
 * Check sysctls as runc does before it runs a container (Docker reports runc's refusal): only
 * namespaced ones, `net.*` only in a network namespace of the container's own, IPC ones only
 * in a private IPC namespace.
 */
export function validateSysctls(sysctls: Record<string, string>, hc: Pick<HostConfig, 'NetworkMode' | 'IpcMode' | 'UTSMode'>): void {
  const hostNet = hc.NetworkMode === 'host';
  const hostIpc = hc.IpcMode === 'host';
  for (const name of Object.keys(sysctls)) {
    if (IPC_SYSCTLS.includes(name) || name.startsWith('fs.mqueue.')) {
      if (hostIpc) throw invalid(`sysctl ${JSON.stringify(name)} is not allowed in the hosts ipc namespace`);
      continue;
    }
    if (name.startsWith('net.')) {
      if (hostNet) throw invalid(`sysctl ${JSON.stringify(name)} not allowed in host network namespace`);
      continue;
    }
    throw invalid(`sysctl ${JSON.stringify(name)} is not in a separate kernel namespace`);
  }
}

/**
 * Every security check of a create request's HostConfig: its security options, capabilities
 * (against those the daemon holds), devices, device cgroup rules and sysctls.
 */
export function validateSecurity(hc: HostConfig, host: HostFacts | undefined): void {
  parseSecurityOpt(hc.SecurityOpt ?? [], host);
  if (host) validateCapabilities(hc.CapAdd ?? [], hc.CapDrop ?? [], host.caps);
  for (const d of hc.Devices ?? []) {
    validateDeviceRequest({ pathOnHost: d.PathOnHost, pathInContainer: d.PathInContainer, cgroupPermissions: d.CgroupPermissions });
  }
  for (const rule of hc.DeviceCgroupRules ?? []) parseDeviceCgroupRule(rule);
  validateSysctls(hc.Sysctls ?? {}, hc);
}
