import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isKind } from '../errors.js';
import { compareKernel, convertDockerProfile, DEFAULT_SECCOMP, defaultSeccompProfile, resolveSeccomp, type SeccompProfile } from './seccomp.js';

const AMD64 = { arch: 'amd64', kernel: '6.1.0-18-amd64' };
const DEFAULT_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

/** Names a profile allows unconditionally (no argument filter). */
function allowed(p: SeccompProfile): Set<string> {
  return new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
}

/** A small profile in Docker's format with every kind of condition. */
const SAMPLE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'always' },
    { name: 'ptrace', action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
    { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['kexec_load'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_SYS_BOOT'] } },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390x'] } },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
  ],
};

describe("Docker's profile format, converted", () => {
  test('the arch map by native architecture, OCI-shaped rules with their conditions', () => {
    const t = convertDockerProfile(JSON.stringify(SAMPLE));
    assert.equal(t.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(t.defaultErrnoRet, 1);
    assert.deepEqual(t.archMap, { amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] });
    assert.deepEqual(t.syscalls[0], { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' });
    assert.deepEqual(t.syscalls[1], { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } });
    assert.deepEqual(t.syscalls[5]!.args, [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    assert.deepEqual(t.syscalls[5]!.excludes, { caps: ['CAP_SYS_ADMIN'], arches: ['s390x'] });
  });

  test('rules resolved per container: includes.caps needs every capability, excludes.caps any', () => {
    const t = convertDockerProfile(SAMPLE);
    const plain = resolveSeccomp(t, DEFAULT_CAPS, AMD64);
    assert.deepEqual(plain.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual([...allowed(plain)].sort(), ['arch_prctl', 'ptrace', 'read', 'write']);
    assert.ok(plain.syscalls.some((r) => r.names[0] === 'clone' && r.args));
    assert.ok(plain.syscalls.some((r) => r.names[0] === 'clone3' && r.errnoRet === 38));

    const admin = resolveSeccomp(t, [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], AMD64);
    assert.ok(allowed(admin).has('mount'));
    assert.ok(!allowed(admin).has('kexec_load'), 'CAP_SYS_BOOT is missing');
    assert.ok(!admin.syscalls.some((r) => r.names[0] === 'clone' || r.names[0] === 'clone3'));
    assert.ok(allowed(resolveSeccomp(t, ['CAP_SYS_ADMIN', 'CAP_SYS_BOOT'], AMD64)).has('kexec_load'));
  });

  test('and per host: architecture and kernel version', () => {
    const t = convertDockerProfile(SAMPLE);
    const arm = resolveSeccomp(t, DEFAULT_CAPS, { arch: 'arm64', kernel: '4.4.0' });
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.ok(!allowed(arm).has('arch_prctl'));
    assert.ok(!allowed(arm).has('ptrace'), 'kernel 4.4 < 4.8');
    const s390 = resolveSeccomp(t, DEFAULT_CAPS, { arch: 's390x', kernel: '5.10' });
    assert.deepEqual(s390.architectures, []);
    assert.ok(!s390.syscalls.some((r) => r.names[0] === 'clone'));
    assert.equal(compareKernel('6.1.0-18-amd64', '6.1'), 0);
    assert.ok(compareKernel('4.10', '4.8') > 0);
    assert.ok(compareKernel('3.12-rc5', '4.0') < 0);
  });

  test('what is no profile is refused with moby words', () => {
    const bad = (p: unknown, re: RegExp) =>
      assert.throws(() => convertDockerProfile(typeof p === 'string' ? p : JSON.stringify(p)), (e: Error) => isKind(e, 'invalid') && re.test(e.message));
    bad('{"defaultAction": ', /^Decoding seccomp profile failed: /);
    bad({ defaultAction: 'SCMP_ACT_MAYBE' }, /^Decoding seccomp profile failed: defaultAction/);
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', args: [{ index: 9, value: 0, op: 'SCMP_CMP_EQ' }] }] }, /syscalls\.0\.args\.0\.index/);
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }, /both 'name' and 'names'/);
    bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }, /both 'architectures' and 'archMap'/);
  });

  test('a profile in the plain OCI form keeps its architectures', () => {
    const t = convertDockerProfile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
    assert.deepEqual(resolveSeccomp(t, [], AMD64), { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
  });
});

describe("pier's default: Docker's allow-list", () => {
  test('is the converted moby/profiles file it names', () => {
    assert.equal(DEFAULT_SECCOMP.source.repository, 'moby/profiles');
    assert.equal(DEFAULT_SECCOMP.source.path, 'seccomp/default.json');
    assert.match(DEFAULT_SECCOMP.source.sha256, /^[0-9a-f]{64}$/);
    assert.equal(DEFAULT_SECCOMP.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(DEFAULT_SECCOMP.defaultErrnoRet, 1);
  });

  test('a default container: the common calls allowed; namespaces, modules, keyrings, kcmp, userfaultfd, clocks refused', () => {
    const p = defaultSeccompProfile(DEFAULT_CAPS, AMD64);
    const ok = allowed(p);
    assert.ok(ok.size > 300);
    // ptrace is allowed from kernel 4.8 on (earlier ones let it bypass seccomp).
    assert.ok(ok.has('ptrace'));
    assert.ok(!allowed(defaultSeccompProfile(DEFAULT_CAPS, { arch: 'amd64', kernel: '4.4.0' })).has('ptrace'));
    for (const name of ['read', 'openat', 'execve', 'clone', 'futex', 'arch_prctl', 'chroot', 'io_setup']) {
      if (name !== 'clone') assert.ok(ok.has(name), name);
    }
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'pivot_root', 'init_module', 'finit_module', 'kexec_load', 'add_key', 'keyctl', 'request_key',
      'kcmp', 'pidfd_getfd', 'userfaultfd', 'clock_settime', 'settimeofday', 'bpf', 'perf_event_open', 'io_uring_setup', 'open_by_handle_at', 'reboot', 'swapon', 'acct', 'syslog']) {
      assert.ok(!ok.has(name), name);
    }
    // personality(2) only with the usual personas, not READ_IMPLIES_EXEC (0x0400000).
    const personas = p.syscalls.filter((r) => r.names.includes('personality')).map((r) => r.args![0]!.value);
    assert.deepEqual(personas, [0, 8, 131072, 131080, 4294967295]);
    // clone only without namespace flags; clone3 answers ENOSYS so that libc falls back to clone.
    assert.ok(p.syscalls.some((r) => r.names[0] === 'clone' && r.args![0]!.op === 'SCMP_CMP_MASKED_EQ' && r.args![0]!.value === 2114060288));
    assert.ok(p.syscalls.some((r) => r.names[0] === 'clone3' && r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 38));
  });

  test('capabilities bring their calls: SYS_PTRACE kcmp, SYS_TIME the clock, SYS_MODULE modules, SYS_ADMIN mounts', () => {
    const ok = (cap: string) => allowed(defaultSeccompProfile([...DEFAULT_CAPS, cap], AMD64));
    assert.ok(ok('CAP_SYS_PTRACE').has('kcmp') && ok('CAP_SYS_PTRACE').has('pidfd_getfd'));
    assert.ok(ok('CAP_SYS_TIME').has('clock_settime'));
    assert.ok(ok('CAP_SYS_MODULE').has('finit_module'));
    const admin = ok('CAP_SYS_ADMIN');
    assert.ok(admin.has('mount') && admin.has('unshare') && admin.has('setns') && admin.has('clone') && admin.has('clone3'));
    assert.ok(!admin.has('kcmp'));
  });
});
