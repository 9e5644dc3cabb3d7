import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isKind } from '../errors.js';
import { capabilitySets } from './capabilities.js';
import { containerSpec, type ContainerSpec } from './runtime.js';
import {
  ALL_CAPABILITIES,
  buildExecProcess,
  buildOciConfig,
  parseOciConfig,
  DEFAULT_CAPABILITIES,
  serializeOciConfig,
  type BuildOptions,
} from './spec.js';
import { parseProcLimits, type HostInfo } from './host-info.js';

/** This machine's: root lacks CAP_SYS_RESOURCE (bit 24 of CapEff). */
const CAPS = capabilitySets(40, 'CapEff:\t000001fffeffffff\n');

const HOST: HostInfo = {
  caps: CAPS,
  hardLimits: { nofile: 20000, nproc: 96365, memlock: 8388608, core: Infinity, stack: Infinity },
  cgroupMode: 'hybrid',
  swapAccounting: true,
  blkioWeight: false,
  blkioThrottle: true,
  cpus: 2,
  cpusetCpus: '0-1',
  cpusetMems: '0',
  apparmor: false,
  seccomp: { arch: 'amd64', kernel: '6.1.0-18-amd64' },
  extraMaskedPaths: [],
};

const HELD = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');

function spec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return containerSpec({
    id: 'c1',
    rootfs: '/var/lib/pier/snapshots/1/merged',
    args: ['sh', '-c', 'echo hi'],
    env: ['FOO=bar'],
    cwd: '/work',
    hostname: 'c1host',
    shmSize: 0,
    ...over,
  });
}

function build(over: Partial<ContainerSpec> = {}, opts: Partial<BuildOptions> = {}) {
  return buildOciConfig(spec(over), {
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    host: HOST,
    cgroupsPath: '/pier/c1',
    initPath: '/usr/bin/tini-static',
    seccomp: true,
    ...opts,
  });
}

describe('process', () => {
  test('args, cwd, env with PATH, HOSTNAME and HOME defaults, user', () => {
    const { config } = build({}, { user: { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' } });
    assert.deepEqual(config.process.args, ['sh', '-c', 'echo hi']);
    assert.equal(config.process.cwd, '/work');
    assert.deepEqual(config.process.env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=c1host',
      'FOO=bar',
      'HOME=/home/alice',
    ]);
    assert.deepEqual(config.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 29] });
    assert.equal(config.process.terminal, false);
    assert.equal(config.hostname, 'c1host');
  });

  test('the spec env wins over defaults; a TTY gets TERM', () => {
    const { config } = build({ env: ['PATH=/opt/bin', 'HOME=/x', 'HOSTNAME=mine'], tty: true });
    assert.deepEqual(config.process.env, ['TERM=xterm', 'PATH=/opt/bin', 'HOME=/x', 'HOSTNAME=mine']);
    assert.equal(config.process.terminal, true);
  });

  test('init runs tini-static as PID 1, bound read-only at /sbin/docker-init', () => {
    const { config } = build({ init: true });
    assert.deepEqual(config.process.args, ['/sbin/docker-init', '--', 'sh', '-c', 'echo hi']);
    const m = config.mounts.find((x) => x.destination === '/sbin/docker-init');
    assert.deepEqual(m, { destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['bind', 'ro'] });
    assert.equal(build().config.mounts.some((x) => x.destination === '/sbin/docker-init'), false);
  });
});

describe('capabilities', () => {
  const caps = (over: Partial<ContainerSpec>, host: Partial<HostInfo> = {}) =>
    build(over, { host: { ...HOST, ...host } }).config.process.capabilities;

  test("Docker's default set, in every set", () => {
    const c = caps({});
    assert.deepEqual(c.bounding, DEFAULT_CAPABILITIES);
    assert.deepEqual(c.effective, DEFAULT_CAPABILITIES);
    assert.deepEqual(c.permitted, DEFAULT_CAPABILITIES);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
  });

  test('add and drop, any case, with or without CAP_', () => {
    const c = caps({ capAdd: ['net_admin', 'CAP_SYS_PTRACE', 'CHOWN'], capDrop: ['chown', 'CAP_MKNOD'] });
    assert.ok(c.bounding.includes('CAP_NET_ADMIN'));
    assert.ok(c.bounding.includes('CAP_SYS_PTRACE'));
    assert.ok(!c.bounding.includes('CAP_MKNOD'));
    // Docker drops first, then adds: CHOWN in both ends up added.
    assert.ok(c.bounding.includes('CAP_CHOWN'));
    assert.equal(c.bounding.length, 14 - 2 + 3);
  });

  test('ALL: every capability the daemon holds, less the drops; ALL dropped keeps the adds', () => {
    assert.deepEqual(caps({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] }).bounding, ['CAP_NET_BIND_SERVICE']);
    const all = caps({ capAdd: ['all'], capDrop: ['SYS_ADMIN'] }).bounding;
    assert.deepEqual(all, HELD.filter((c) => c !== 'CAP_SYS_ADMIN'));
  });

  test('privileged gets every capability the daemon holds, never one it lacks', () => {
    assert.deepEqual(caps({ privileged: true }).bounding, HELD);
    assert.ok(!caps({ privileged: true }).bounding.includes('CAP_SYS_RESOURCE'));
    assert.deepEqual(caps({ privileged: true }, { caps: capabilitySets(37, 'CapEff:\t0000003fffffffff\n') }).bounding, ALL_CAPABILITIES.slice(0, 38));
  });

  test('an unknown capability is refused; one the daemon lacks too, as moby does', () => {
    assert.throws(() => build({ capAdd: ['FLY'] }), (e: Error) => isKind(e, 'invalid') && e.message === 'unknown capability: "CAP_FLY"');
    assert.throws(
      () => build({ capAdd: ['sys_resource'] }),
      (e: Error) => isKind(e, 'invalid') && e.message === 'capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"',
    );
    // Dropping one the daemon lacks is harmless.
    assert.equal(caps({ capDrop: ['SYS_RESOURCE'] }).bounding.length, 14);
  });
});

describe('namespaces and isolation', () => {
  const types = (over: Partial<ContainerSpec>, host: Partial<HostInfo> = {}) =>
    build(over, { host: { ...HOST, ...host } }).config.linux.namespaces;

  test('new network namespace, private pid/ipc/uts/mount', () => {
    assert.deepEqual(types({}).map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    assert.deepEqual(types({}).find((n) => n.type === 'network'), { type: 'network' });
  });

  test('host network: no network namespace; path: joined', () => {
    assert.equal(types({ network: { netns: { kind: 'host' } } }).some((n) => n.type === 'network'), false);
    assert.deepEqual(
      types({ network: { netns: { kind: 'path', path: '/run/pier/netns/abc' } } }).find((n) => n.type === 'network'),
      { type: 'network', path: '/run/pier/netns/abc' },
    );
  });

  test('host pid and ipc modes; cgroup namespace only on cgroup v2', () => {
    const ns = types({ pidMode: 'host', ipcMode: 'host' }).map((n) => n.type);
    assert.ok(!ns.includes('pid') && !ns.includes('ipc'));
    assert.ok(!types({}).some((n) => n.type === 'cgroup'));
    assert.ok(types({}, { cgroupMode: 'v2' }).some((n) => n.type === 'cgroup'));
  });

  test("masked and read-only paths are Docker's; privileged has none; the HostConfig's replace them", () => {
    const { config } = build({}, { host: { ...HOST, extraMaskedPaths: ['/sys/devices/system/cpu/cpu0/thermal_throttle'] } });
    assert.deepEqual(config.linux.maskedPaths, [
      '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
      '/sys/devices/system/cpu/cpu0/thermal_throttle',
    ]);
    assert.deepEqual(config.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    const p = build({ privileged: true }).config;
    assert.deepEqual(p.linux.maskedPaths, []);
    assert.deepEqual(p.linux.readonlyPaths, []);
    const open = build({ maskedPaths: [], readonlyPaths: ['/proc/sys'] }).config;
    assert.deepEqual(open.linux.maskedPaths, []);
    assert.deepEqual(open.linux.readonlyPaths, ['/proc/sys']);
  });

  test('devices: deny all, then the standard ones; privileged allows all', () => {
    const { config } = build();
    const rules = config.linux.resources.devices;
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2]]) {
      assert.ok(rules.some((r) => r.allow && r.type === 'c' && r.major === major && r.minor === minor && r.access === 'rwm'), `${major}:${minor}`);
    }
    assert.ok(rules.some((r) => r.allow && r.type === 'c' && r.major === 136 && r.minor === undefined));
    assert.deepEqual(config.linux.devices.map((d) => d.path), ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
    assert.deepEqual(build({ privileged: true }).config.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  });

  test("seccomp: Docker's allow-list unless unconfined, privileged or switched off", () => {
    const s = build().config.linux.seccomp;
    assert.ok(s);
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = new Set(s.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
    for (const name of ['read', 'write', 'execve', 'openat', 'arch_prctl', 'chroot']) assert.ok(allowed.has(name), name);
    for (const name of ['mount', 'unshare', 'setns', 'kexec_load', 'init_module', 'keyctl', 'kcmp', 'userfaultfd', 'clone3', 'clone']) {
      assert.ok(!allowed.has(name), name);
    }
    assert.ok(s.syscalls.some((r) => r.names.includes('clone') && r.args?.[0]?.op === 'SCMP_CMP_MASKED_EQ'));
    assert.ok(s.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === 38));
    // A capability brings its calls.
    const admin = build({ capAdd: ['SYS_ADMIN'] }).config.linux.seccomp!;
    const adminAllowed = new Set(admin.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
    assert.ok(adminAllowed.has('mount') && adminAllowed.has('clone') && adminAllowed.has('setns'));
    assert.ok(!adminAllowed.has('init_module'));
    assert.ok(!admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'));
    assert.equal(build({ seccomp: 'unconfined' }).config.linux.seccomp, undefined);
    assert.equal(build({ privileged: true }).config.linux.seccomp, undefined);
    assert.equal(build({}, { seccomp: false }).config.linux.seccomp, undefined);
  });

  test('seccomp: a profile the client sent applies, to a privileged container too', () => {
    const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] });
    for (const privileged of [false, true]) {
      const s = build({ seccomp: { profile }, privileged }).config.linux.seccomp;
      assert.deepEqual(s, { defaultAction: 'SCMP_ACT_ALLOW', architectures: [], syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] });
    }
  });

  test('devices: --device nodes and rules after the defaults; oom score and AppArmor profile', () => {
    const node = { path: '/dev/xnull', type: 'c' as const, major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 };
    const rule = { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'r' };
    const { config } = build({ oomScoreAdj: 500, apparmorProfile: 'p' }, { devices: { devices: [node], rules: [rule] } });
    assert.deepEqual(config.linux.devices.at(-1), node);
    assert.deepEqual(config.linux.resources.devices.at(-1), rule);
    assert.equal(config.process.oomScoreAdj, 500);
    assert.equal(config.process.apparmorProfile, undefined, 'no AppArmor on the host');
    assert.equal(build({ apparmorProfile: 'p' }, { host: { ...HOST, apparmor: true } }).config.process.apparmorProfile, 'p');
  });
});

describe('mounts', () => {
  test("Docker's defaults, in order, with the standard options", () => {
    const { config } = build();
    assert.deepEqual(config.mounts, [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
    ]);
    assert.deepEqual(config.root, { path: '/var/lib/pier/snapshots/1/merged', readonly: false });
  });

  test('privileged: /sys and the cgroup mount are writable', () => {
    const { config } = build({ privileged: true });
    assert.ok(!config.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));
    assert.ok(!config.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options!.includes('ro'));
  });

  test('shm size, host IPC binds the host /dev/shm', () => {
    assert.ok(build({ shmSize: 1 << 20 }).config.mounts.find((m) => m.destination === '/dev/shm')!.options!.includes('size=1048576'));
    assert.deepEqual(build({ ipcMode: 'host' }).config.mounts.find((m) => m.destination === '/dev/shm'), {
      destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'],
    });
  });

  test('network files, then user mounts parents first; a user mount replaces a default', () => {
    const { config } = build({
      readonlyRootfs: true,
      network: { netns: { kind: 'new' }, hostsPath: '/c/hosts', resolvConfPath: '/c/resolv.conf', hostnamePath: '/c/hostname' },
      mounts: [
        { destination: '/data/sub', type: 'bind', source: '/v/sub', options: ['rbind'] },
        { destination: '/data', type: 'bind', source: '/v/data', options: ['rbind', 'ro'] },
        { destination: '/dev/shm', type: 'bind', source: '/host/shm', options: ['rbind'] },
      ],
    });
    assert.equal(config.root.readonly, true);
    const dests = config.mounts.map((m) => m.destination);
    assert.deepEqual(dests.slice(-6), ['/etc/resolv.conf', '/etc/hostname', '/etc/hosts', '/data', '/data/sub', '/dev/shm']);
    assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
    assert.deepEqual(config.mounts.find((m) => m.destination === '/etc/hosts'), {
      destination: '/etc/hosts', type: 'bind', source: '/c/hosts', options: ['rbind', 'rprivate'],
    });
  });
});

describe('resources and limits', () => {
  test('memory, swap, reservation, cpu, pids, cpuset, cgroups path', () => {
    const { config, warnings } = build({
      resources: { memory: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, nanoCpus: 1.5e9, cpuShares: 512, pidsLimit: 100, cpusetCpus: '0-1' },
    });
    assert.deepEqual(config.linux.resources.memory, { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 });
    assert.deepEqual(config.linux.resources.cpu, { shares: 512, period: 100000, quota: 150000, cpus: '0-1' });
    assert.deepEqual(config.linux.resources.pids, { limit: 100 });
    assert.equal(config.linux.cgroupsPath, '/pier/c1');
    assert.deepEqual(warnings, []);
  });

  test('explicit period and quota; nothing set, nothing written', () => {
    assert.deepEqual(build({ resources: { cpuPeriod: 50000, cpuQuota: 25000 } }).config.linux.resources.cpu, { period: 50000, quota: 25000 });
    const r = build().config.linux.resources;
    assert.equal(r.memory, undefined);
    assert.equal(r.cpu, undefined);
    assert.equal(r.pids, undefined);
  });

  test('what the host lacks is dropped with a warning', () => {
    const { config, warnings } = build(
      { resources: { memory: 64 << 20, memorySwap: 128 << 20, blkioWeight: 300 } },
      { host: { ...HOST, swapAccounting: false } },
    );
    assert.deepEqual(config.linux.resources.memory, { limit: 64 << 20 });
    assert.equal(config.linux.resources.blockIO, undefined);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /swap limit/);
    assert.match(warnings[1]!, /Block I\/O weight/);
  });

  test('no ulimits: RLIMIT_NOFILE at min(1048576, own hard)', () => {
    assert.deepEqual(build().config.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    const big = build({}, { host: { ...HOST, hardLimits: { nofile: 4194304 } } });
    assert.deepEqual(big.config.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
  });

  test('ulimits are clamped to the daemon hard limits; unlimited is the uint64 max', () => {
    const { config } = build({
      ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 65536 },
        { Name: 'nproc', Soft: 200000, Hard: 200000 },
        { Name: 'core', Soft: -1, Hard: -1 },
        { Name: 'memlock', Soft: -1, Hard: -1 },
      ],
    });
    assert.deepEqual(config.process.rlimits, [
      { type: 'RLIMIT_NOFILE', hard: 20000, soft: 1024 },
      { type: 'RLIMIT_NPROC', hard: 96365, soft: 96365 },
      { type: 'RLIMIT_CORE', hard: 'RLIM_INFINITY', soft: 'RLIM_INFINITY' },
      { type: 'RLIMIT_MEMLOCK', hard: 8388608, soft: 8388608 },
    ]);
    const json = serializeOciConfig(config);
    assert.match(json, /"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615/);
    assert.doesNotMatch(json, /RLIM_INFINITY/);
    assert.throws(() => build({ ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] }), /invalid ulimit type: bogus/);
  });

  test('sysctls, annotations, domainname pass through', () => {
    const { config } = build({ sysctls: { 'net.ipv4.ip_forward': '1' }, annotations: { 'org.example': 'x' }, domainname: 'example.org' });
    assert.deepEqual(config.linux.sysctl, { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ip_forward': '1' });
    assert.deepEqual(config.annotations, { 'org.example': 'x' });
    assert.equal(config.domainname, 'example.org');
    // Docker's network defaults, in a namespace of the container's own only; the spec's win.
    assert.equal(build({ network: { netns: { kind: 'host' } } }).config.linux.sysctl, undefined);
    assert.equal(build({ sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' } }).config.linux.sysctl!['net.ipv4.ip_unprivileged_port_start'], '1024');
  });
});

test('/proc/self/limits is parsed by Docker ulimit names', () => {
  const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max processes             96365                96365                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
Max nice priority         0                    0
Max realtime timeout      unlimited            unlimited            us
`;
  assert.deepEqual(parseProcLimits(text), {
    cpu: Infinity,
    stack: Infinity,
    nproc: 96365,
    nofile: 524288,
    memlock: 8388608,
    nice: 0,
    rttime: Infinity,
  });
});

test('config.json round-trips, unlimited rlimits included', () => {
  const { config } = build({ env: ['X=18446744073709551615', 'Y="RLIM_INFINITY"'], ulimits: [{ Name: 'core', Soft: -1, Hard: -1 }] });
  const back = parseOciConfig(serializeOciConfig(config));
  assert.deepEqual(back, config);
});

test("an exec process: the container's capabilities and rlimits, its own user, env and cwd", () => {
  const { config } = build({ capAdd: ['NET_ADMIN'], noNewPrivileges: true });
  const p = buildExecProcess(config, { args: ['ls'], env: ['A=1'], cwd: '', tty: true }, { uid: 5, gid: 6, additionalGids: [], home: '/h' }, CAPS);
  assert.deepEqual(p.args, ['ls']);
  assert.equal(p.cwd, '/work');
  assert.deepEqual(p.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'TERM=xterm', 'HOME=/h']);
  assert.deepEqual(p.user, { uid: 5, gid: 6 });
  assert.ok(p.capabilities.bounding.includes('CAP_NET_ADMIN'));
  assert.equal(p.capabilities.bounding.length, 15);
  assert.equal(p.noNewPrivileges, true);
  assert.equal(p.terminal, true);
  assert.deepEqual(p.rlimits, config.process.rlimits);
  const priv = buildExecProcess(config, { args: ['ls'], env: [], cwd: '/tmp', tty: false, privileged: true }, { uid: 0, gid: 0, additionalGids: [], home: '/root' }, CAPS);
  assert.deepEqual(priv.capabilities.bounding, HELD);
  assert.equal(priv.cwd, '/tmp');
});

describe('user namespace', () => {
  const userns = { uid: 300000, gid: 400000, size: 65536 };

  test('a mapping gives a user namespace with the uid and gid mappings; none gives neither', () => {
    const { config } = build({ userns });
    assert.ok(config.linux.namespaces.some((n) => n.type === 'user' && n.path === undefined));
    assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: 300000, size: 65536 }]);
    assert.deepEqual(config.linux.gidMappings, [{ containerID: 0, hostID: 400000, size: 65536 }]);
    const plain = build().config;
    assert.ok(!plain.linux.namespaces.some((n) => n.type === 'user'));
    assert.equal(plain.linux.uidMappings, undefined);
  });

  test('a namespace of its own: ping_group_range is left out (its groups are not mapped), the rest stays', () => {
    const { config, netSysctls } = build({ userns, sysctls: { 'net.core.somaxconn': '512' } });
    assert.deepEqual(config.linux.sysctl, { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.core.somaxconn': '512' });
    assert.equal(netSysctls, undefined);
  });

  test('a network namespace joined by path: its net.* sysctls are the caller\'s to write, the others stay', () => {
    const { config, netSysctls } = build({ userns, network: { netns: { kind: 'path', path: '/run/pier/netns/x' } }, sysctls: { 'net.core.somaxconn': '512', 'kernel.shmmax': '4096' } });
    assert.deepEqual(config.linux.sysctl, { 'kernel.shmmax': '4096' });
    assert.deepEqual(netSysctls, { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0', 'net.core.somaxconn': '512' });
    // Without a user namespace the runtime writes them all, as before.
    const plain = build({ network: { netns: { kind: 'path', path: '/run/pier/netns/x' } } });
    assert.equal(plain.netSysctls, undefined);
    assert.equal(plain.config.linux.sysctl?.['net.ipv4.ping_group_range'], '0 2147483647');
  });
});
