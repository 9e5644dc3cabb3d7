import { arch as nodeArch, endianness, release } from 'node:os';
import { z } from 'zod';
import { invalid } from '../errors.js';
import defaultProfileData from './seccomp-default.json' with { type: 'json' };

/**
 * Seccomp profiles. pier's default is Docker's (moby/profiles `seccomp/default.json`, Apache-2.0,
 * shipped converted in `seccomp-default.json`; its `source` field names the exact file): an
 * allow-list whose default action is EPERM, so a system call the profile does not name
 * (obsolete ones, or ones a newer kernel adds) is refused.
 *
 * A profile in Docker's format (the default, or one a client sends in
 * `SecurityOpt: ["seccomp=<json>"]`) keeps rules that apply only to some architectures, kernel
 * versions or capabilities (`includes`/`excludes`). `convertDockerProfile` checks such a
 * profile and turns it into pier's form (`SeccompTemplate`: OCI-shaped rules, their conditions
 * kept); `resolveSeccomp` then gives the OCI `linux.seccomp` of one container, from its
 * capability set (the bounding set, as moby reads it), the host's architecture and kernel.
 */

// ---- the OCI form (runtime-spec `linux.seccomp`) ----

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: string;
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompSyscall[];
}

// ---- pier's converted form ----

/** When a rule applies: every listed capability held / one of the arches / a kernel at least this. */
export interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SeccompRule extends SeccompSyscall {
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
}

export interface SeccompTemplate {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** The architectures to load the filter for, by the host's native architecture (libseccomp names: `amd64`, `arm64`...). */
  archMap?: Record<string, string[]>;
  /** A fixed list (a profile in the plain OCI form); exclusive with `archMap`. */
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompRule[];
}

// ---- Docker's format (moby/profiles seccomp.Seccomp) ----

const ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
const OPS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
const uint = z.number().int().nonnegative();

const FilterSchema = z.object({
  caps: z.array(z.string()).nullish(),
  arches: z.array(z.string()).nullish(),
  minKernel: z.string().regex(/^\d+\.\d+$/, 'invalid kernel version, expected "<kernel>.<major>"').nullish(),
});

const SyscallSchema = z.object({
  name: z.string().nullish(),
  names: z.array(z.string()).nullish(),
  action: z.enum(ACTIONS),
  errnoRet: uint.nullish(),
  args: z.array(z.object({ index: uint.max(5), value: uint, valueTwo: uint.nullish(), op: z.enum(OPS) })).nullish(),
  comment: z.string().nullish(),
  includes: FilterSchema.nullish(),
  excludes: FilterSchema.nullish(),
});

const DockerProfileSchema = z.object({
  defaultAction: z.enum(ACTIONS),
  defaultErrnoRet: uint.nullish(),
  architectures: z.array(z.string()).nullish(),
  archMap: z.array(z.object({ architecture: z.string(), subArchitectures: z.array(z.string()).nullish() })).nullish(),
  flags: z.array(z.string()).nullish(),
  listenerPath: z.string().nullish(),
  listenerMetadata: z.string().nullish(),
  syscalls: z.array(SyscallSchema).nullish(),
});

/** libseccomp's native architecture names by the seccomp architecture (moby's nativeToSeccomp). */
const NATIVE_OF_ARCH: Record<string, string> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'amd64',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'arm64',
  SCMP_ARCH_LOONGARCH64: 'loong64',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mips3l64n32',
  SCMP_ARCH_MIPSEL: 'mipsle',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_RISCV64: 'riscv64',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
};

/**
 * Check a profile in Docker's format (its JSON text or parsed value) and convert it to pier's
 * form. Throws `invalid` with moby's wording (`Decoding seccomp profile failed: ...`) for JSON
 * that is no seccomp profile, and for what moby refuses (`name` and `names` together,
 * `architectures` and `archMap` together).
 */
export function convertDockerProfile(input: unknown): SeccompTemplate {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw invalid(`Decoding seccomp profile failed: ${(err as Error).message}`, err);
    }
  }
  const parsed = DockerProfileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`Decoding seccomp profile failed: ${issue.path.join('.') || 'profile'}: ${issue.message}`);
  }
  const p = parsed.data;
  if ((p.architectures?.length ?? 0) > 0 && (p.archMap?.length ?? 0) > 0) {
    throw invalid("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const out: Omit<SeccompTemplate, 'syscalls'> = { defaultAction: p.defaultAction };
  const syscalls: SeccompRule[] = [];
  if (p.defaultErrnoRet !== undefined && p.defaultErrnoRet !== null) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.archMap && p.archMap.length > 0) {
    out.archMap = {};
    for (const a of p.archMap) {
      const native = NATIVE_OF_ARCH[a.architecture];
      if (native === undefined) throw invalid(`Decoding seccomp profile failed: unknown architecture ${JSON.stringify(a.architecture)}`);
      out.archMap[native] = [a.architecture, ...(a.subArchitectures ?? [])];
    }
  } else if (p.architectures && p.architectures.length > 0) {
    out.architectures = [...p.architectures];
  }
  if (p.flags && p.flags.length > 0) out.flags = [...p.flags];
  if (p.listenerPath) out.listenerPath = p.listenerPath;
  if (p.listenerMetadata) out.listenerMetadata = p.listenerMetadata;
  for (const call of p.syscalls ?? []) {
    if (call.name && call.names && call.names.length > 0) {
      throw invalid("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
    }
    const rule: SeccompRule = { names: call.name ? [call.name] : [...(call.names ?? [])], action: call.action };
    if (call.errnoRet !== undefined && call.errnoRet !== null) rule.errnoRet = call.errnoRet;
    if (call.args && call.args.length > 0) rule.args = call.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op }));
    const includes = filterOf(call.includes);
    const excludes = filterOf(call.excludes);
    if (includes) rule.includes = includes;
    if (excludes) rule.excludes = excludes;
    syscalls.push(rule);
  }
  return { ...out, syscalls };
}

function filterOf(f: z.infer<typeof FilterSchema> | null | undefined): SeccompFilter | undefined {
  if (!f) return undefined;
  const out: SeccompFilter = {};
  if (f.caps && f.caps.length > 0) out.caps = [...f.caps];
  if (f.arches && f.arches.length > 0) out.arches = [...f.arches];
  if (f.minKernel) out.minKernel = f.minKernel;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The host a profile is resolved for. */
export interface SeccompHost {
  /** libseccomp's native name of the host architecture (`amd64`). */
  arch: string;
  /** The kernel release (`6.1.0-18-amd64`). */
  kernel: string;
}

/** This machine, as `resolveSeccomp` needs it. */
export function seccompHost(): SeccompHost {
  const a = nodeArch();
  const native: Record<string, string> = { x64: 'amd64', ia32: 'x86', arm: 'arm', arm64: 'arm64', s390x: 's390x', s390: 's390', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
  const archName = a === 'ppc64' ? (endianness() === 'LE' ? 'ppc64le' : 'ppc64') : (native[a] ?? a);
  return { arch: archName, kernel: release() };
}

/**
 * The OCI profile of one container, as moby's setupSeccomp: the architectures of the host's
 * entry in the arch map, and each rule whose `excludes` match nothing (no listed arch is the
 * host's, no listed capability is held, the kernel is older than `minKernel`) and whose
 * `includes` all match (the arch listed, every capability held, the kernel at least `minKernel`).
 */
export function resolveSeccomp(template: SeccompTemplate, caps: readonly string[], host: SeccompHost): SeccompProfile {
  const out: SeccompProfile = {
    defaultAction: template.defaultAction,
    architectures: template.architectures ? [...template.architectures] : [...(template.archMap?.[host.arch] ?? [])],
    syscalls: [],
  };
  if (template.defaultErrnoRet !== undefined) out.defaultErrnoRet = template.defaultErrnoRet;
  if (template.flags) out.flags = [...template.flags];
  if (template.listenerPath) out.listenerPath = template.listenerPath;
  if (template.listenerMetadata) out.listenerMetadata = template.listenerMetadata;
  const kernelAtLeast = (v: string) => compareKernel(host.kernel, v) >= 0;
  for (const rule of template.syscalls) {
    const ex = rule.excludes;
    if (ex) {
      if (ex.arches?.includes(host.arch)) continue;
      if (ex.caps?.some((c) => caps.includes(c))) continue;
      if (ex.minKernel !== undefined && kernelAtLeast(ex.minKernel)) continue;
    }
    const inc = rule.includes;
    if (inc) {
      if (inc.arches && !inc.arches.includes(host.arch)) continue;
      if (inc.caps && !inc.caps.every((c) => caps.includes(c))) continue;
      if (inc.minKernel !== undefined && !kernelAtLeast(inc.minKernel)) continue;
    }
    const call: SeccompSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) call.errnoRet = rule.errnoRet;
    if (rule.args) call.args = rule.args.map((a) => ({ ...a }));
    out.syscalls.push(call);
  }
  return out;
}

/** Compare kernel `<kernel>.<major>` versions, ignoring minor revisions and suffixes (`6.1.0-18-amd64` equals `6.1`). */
export function compareKernel(release: string, version: string): number {
  const parse = (s: string): [number, number] => {
    const m = /^(\d+)\.(\d+)/.exec(s);
    return m ? [Number(m[1]), Number(m[2])] : [0, 0];
  };
  const [a, b] = parse(release);
  const [c, d] = parse(version);
  return a !== c ? a - c : b - d;
}

/** Where pier's default profile came from (the `source` of seccomp-default.json). */
export interface SeccompSource {
  repository: string;
  path: string;
  version: string;
  commit: string;
  sha256: string;
  license: string;
}

/** pier's default profile: Docker's, converted (see seccomp-default.json's `source`). */
const shipped: unknown = defaultProfileData;
export const DEFAULT_SECCOMP = shipped as SeccompTemplate & { source: SeccompSource };

/** Docker's default profile for a container holding `caps` on this host. */
export function defaultSeccompProfile(caps: readonly string[], host: SeccompHost = seccompHost()): SeccompProfile {
  return resolveSeccomp(DEFAULT_SECCOMP, caps, host);
}
