import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitHostConfig, parseDevice, parseSysctl, parseThrottle, parseUlimit, securityOpts } from './run-limits.js';

const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};

test('--device as the docker CLI parses it', () => {
  assert.deepEqual(parseDevice('/dev/sda'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/sda:r'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'r' });
  assert.deepEqual(parseDevice('/dev/sda:/dev/xvda'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/sda:/dev/xvda:rw'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rw' });
  assert.throws(() => parseDevice('/dev/sda:/dev/xvda:rwx'), /bad mode specified: rwx/);
  assert.throws(() => parseDevice('sda'), /bad format for path: sda/);
  assert.throws(() => parseDevice('/a:/b:r:x'), /invalid device specification/);
});

test('--ulimit, --sysctl, --device-*-bps/iops', () => {
  assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
  assert.deepEqual(parseUlimit('core=-1'), { Name: 'core', Soft: -1, Hard: -1 });
  assert.throws(() => parseUlimit('bogus=1'), /invalid ulimit type: bogus/);
  assert.throws(() => parseUlimit('nofile=2048:1024'), /soft limit must be less than or equal to hard limit/);
  assert.deepEqual(parseSysctl('net.ipv4.ip_forward=1'), ['net.ipv4.ip_forward', '1']);
  assert.deepEqual(parseSysctl('kernel.shmmax=1048576'), ['kernel.shmmax', '1048576']);
  assert.throws(() => parseSysctl('kernel.domainname=x'), /invalid argument "kernel.domainname=x" for "--sysctl" flag: sysctl 'kernel.domainname=x' is not allowed/);
  assert.deepEqual(parseThrottle('/dev/sda:1mb', '--device-read-bps', 'bytes'), { Path: '/dev/sda', Rate: 1048576 });
  assert.deepEqual(parseThrottle('/dev/sda:100', '--device-write-iops', 'count'), { Path: '/dev/sda', Rate: 100 });
  assert.throws(() => parseThrottle('/dev/sda:fast', '--device-read-bps', 'bytes'), /invalid rate for device: \/dev\/sda:fast/);
  assert.throws(() => parseThrottle('sda', '--device-read-bps', 'bytes'), /bad format: sda/);
});

test("--security-opt: a seccomp file sent as its compacted JSON; the CLI's errors for a missing or broken one", () => {
  const files: Record<string, string> = { '/p.json': '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n', '/bad.json': '{oops' };
  const read = (p: string) => files[p] ?? noFiles(p);
  assert.deepEqual(securityOpts(['seccomp=/p.json', 'no-new-privileges'], read), { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'no-new-privileges'] });
  assert.deepEqual(securityOpts(['seccomp=unconfined', 'systempaths=unconfined'], read), { SecurityOpt: ['seccomp=unconfined'], MaskedPaths: [], ReadonlyPaths: [] });
  assert.throws(() => securityOpts(['seccomp=/missing.json'], read), /^ParseError: opening seccomp profile \(\/missing.json\) failed: open \/missing.json: no such file or directory$/);
  assert.throws(() => securityOpts(['seccomp=/bad.json'], read), /compacting json for seccomp profile \(\/bad.json\) failed/);
  assert.throws(() => securityOpts(['bogus'], read), /invalid --security-opt: "bogus"/);
});

test('the limit flags become HostConfig fields', () => {
  assert.deepEqual(
    limitHostConfig({ cpuPeriod: '50000', cpuQuota: '25000', cpusetCpus: '0', oomKillDisable: true, oomScoreAdj: '-5', deviceCgroupRule: ['c 1:3 r'], kernelMemory: '10m' }, noFiles),
    { CpuPeriod: 50000, CpuQuota: 25000, CpusetCpus: '0', KernelMemory: 10485760, OomKillDisable: true, OomScoreAdj: -5, DeviceCgroupRules: ['c 1:3 r'] },
  );
  assert.deepEqual(limitHostConfig({}, noFiles), {});
});
