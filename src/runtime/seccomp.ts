/**
 * pier's default seccomp profile: allow everything but the system calls that let a container
 * reach past its namespaces (kernel modules, kexec, keyrings, mounts and new namespaces, clock
 * and swap changes, raw I/O ports, the new mount API, io_uring), each denied with EPERM unless
 * the container holds the capability Docker's profile asks for it.
 *
 * Docker's profile is an allow-list (default SCMP_ACT_ERRNO) of about 350 names; this one is a
 * deny-list of the calls Docker denies by default, so a program that works under Docker works
 * here, and the dangerous calls Docker denies are denied too. Not denied here but denied by
 * Docker: obsolete or unknown system calls, `personality` with unusual personas.
 */

export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: Array<{
    names: string[];
    action: string;
    errnoRet?: number;
    args?: Array<{ index: number; value: number; valueTwo: number; op: string }>;
  }>;
}

const EPERM = 1;
const ENOSYS = 38;

/** Denied unless the container has the capability (undefined: always denied). */
const DENIED: Array<{ names: string[]; unlessCap?: string }> = [
  { names: ['kexec_load', 'kexec_file_load', 'create_module', 'get_kernel_syms', 'query_module', 'nfsservctl', 'uselib', 'vm86', 'vm86old', '_sysctl', 'sysfs', 'ustat'] },
  { names: ['add_key', 'keyctl', 'request_key'] },
  { names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'] },
  { names: ['init_module', 'finit_module', 'delete_module'], unlessCap: 'CAP_SYS_MODULE' },
  { names: ['reboot'], unlessCap: 'CAP_SYS_BOOT' },
  { names: ['acct'], unlessCap: 'CAP_SYS_PACCT' },
  { names: ['iopl', 'ioperm'], unlessCap: 'CAP_SYS_RAWIO' },
  { names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64'], unlessCap: 'CAP_SYS_TIME' },
  { names: ['syslog'], unlessCap: 'CAP_SYSLOG' },
  { names: ['open_by_handle_at'], unlessCap: 'CAP_DAC_READ_SEARCH' },
  { names: ['mbind', 'set_mempolicy', 'get_mempolicy', 'move_pages'], unlessCap: 'CAP_SYS_NICE' },
  {
    names: [
      'mount', 'umount', 'umount2', 'pivot_root', 'setns', 'unshare', 'swapon', 'swapoff', 'quotactl', 'lookup_dcookie',
      'name_to_handle_at', 'fanotify_init', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
      'mount_setattr', 'bpf', 'perf_event_open',
    ],
    unlessCap: 'CAP_SYS_ADMIN',
  },
];

/** Namespace flags that clone(2) may not use without CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = [
  0x00020000, // CLONE_NEWNS
  0x02000000, // CLONE_NEWCGROUP
  0x04000000, // CLONE_NEWUTS
  0x08000000, // CLONE_NEWIPC
  0x10000000, // CLONE_NEWUSER
  0x20000000, // CLONE_NEWPID
  0x40000000, // CLONE_NEWNET
];

/** The profile for a container holding `caps` (names as `CAP_SYS_ADMIN`). */
export function seccompProfile(caps: string[]): SeccompProfile {
  const profile: SeccompProfile = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [],
  };
  for (const d of DENIED) {
    if (d.unlessCap && caps.includes(d.unlessCap)) continue;
    profile.syscalls.push({ names: [...d.names], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  }
  if (!caps.includes('CAP_SYS_ADMIN')) {
    // clone3 passes its flags in memory, out of seccomp's reach: ENOSYS makes libc fall back
    // to clone, whose flags are checked.
    profile.syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
    for (const flag of CLONE_NAMESPACE_FLAGS) {
      profile.syscalls.push({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      });
    }
  }
  return profile;
}
