import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { capabilitySets } from '../runtime/capabilities.js';
import type { HostFacts } from './limits.js';
import { parseSecurityOpt, validateSecurity, validateSysctls } from './security.js';

const HOST: HostFacts = {
  caps: capabilitySets(40, 'CapEff:\t000001fffeffffff\n'),
  cgroupMode: 'hybrid',
  swapAccounting: true,
  blkioWeight: false,
  blkioThrottle: true,
  cpus: 2,
  cpusetCpus: '0-1',
  cpusetMems: '0',
  apparmor: false,
};

const refused = (fn: () => unknown, message: string) => assert.throws(fn, (e: Error) => isKind(e, 'invalid') && e.message === message, message);

test('security options as moby parses them', () => {
  assert.deepEqual(parseSecurityOpt([]), { noNewPrivileges: false, seccomp: 'default', labels: [] });
  assert.equal(parseSecurityOpt(['no-new-privileges']).noNewPrivileges, true);
  assert.equal(parseSecurityOpt(['no-new-privileges:true']).noNewPrivileges, true);
  assert.equal(parseSecurityOpt(['no-new-privileges=false'], undefined, true).noNewPrivileges, false);
  assert.equal(parseSecurityOpt([], undefined, true).noNewPrivileges, true, 'the daemon default');
  assert.equal(parseSecurityOpt(['seccomp=unconfined']).seccomp, 'unconfined');
  assert.equal(parseSecurityOpt(['seccomp:unconfined']).seccomp, 'unconfined');
  const profile = '{"defaultAction":"SCMP_ACT_ALLOW"}';
  assert.deepEqual(parseSecurityOpt([`seccomp=${profile}`]).seccomp, { profile });
  assert.deepEqual(parseSecurityOpt(['label=type:svirt_apache_t', 'label=disable']).labels, ['type:svirt_apache_t', 'disable']);
  assert.equal(parseSecurityOpt(['apparmor=docker-default'], { apparmor: true }).apparmorProfile, 'docker-default');
  assert.equal(parseSecurityOpt(['apparmor=unconfined'], { apparmor: false }).apparmorProfile, 'unconfined');
  refused(() => parseSecurityOpt(['bogus=1']), 'invalid --security-opt 2: "bogus=1"');
  refused(() => parseSecurityOpt(['bogus']), 'invalid --security-opt 1: "bogus"');
  refused(() => parseSecurityOpt(['no-new-privileges=maybe']), 'invalid --security-opt 2: "no-new-privileges=maybe"');
  refused(() => parseSecurityOpt(['apparmor=foo'], { apparmor: false }), 'AppArmor is not enabled on this host: cannot apply --security-opt "apparmor=foo"');
  assert.throws(() => parseSecurityOpt(['seccomp={"defaultAction":"SCMP_ACT_NOPE"}']), /^EngineError: Decoding seccomp profile failed: defaultAction/);
});

test('sysctls: only namespaced ones, none of the network with the host network, none of IPC with the host IPC', () => {
  assert.doesNotThrow(() => validateSysctls({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'kernel.sem': '1 2 3 4', 'fs.mqueue.msg_max': '10' }, {}));
  refused(() => validateSysctls({ 'kernel.panic': '1' }, {}), 'sysctl "kernel.panic" is not in a separate kernel namespace');
  refused(() => validateSysctls({ 'vm.swappiness': '1' }, {}), 'sysctl "vm.swappiness" is not in a separate kernel namespace');
  refused(() => validateSysctls({ 'net.ipv4.ip_forward': '1' }, { NetworkMode: 'host' }), 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace');
  refused(() => validateSysctls({ 'kernel.msgmax': '1' }, { IpcMode: 'host' }), 'sysctl "kernel.msgmax" is not allowed in the hosts ipc namespace');
});

test('a create request: capabilities against the daemon, devices and cgroup rules', () => {
  refused(() => validateSecurity({ CapAdd: ['CAP_FLY'] }, HOST), 'invalid CapAdd: unknown capability: "CAP_FLY"');
  refused(() => validateSecurity({ CapAdd: ['SYS_RESOURCE'] }, HOST), 'invalid CapAdd: capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"');
  refused(() => validateSecurity({ DeviceCgroupRules: ['c 1:3 rwx'] }, HOST), "invalid device cgroup rule format: 'c 1:3 rwx'");
  refused(() => validateSecurity({ Devices: [{ PathOnHost: 'null', PathInContainer: '', CgroupPermissions: 'rwm' }] }, HOST), 'invalid device path: "null": it must be absolute');
  refused(() => validateSecurity({ SecurityOpt: ['bogus=1'] }, HOST), 'invalid --security-opt 2: "bogus=1"');
  assert.doesNotThrow(() => validateSecurity({ CapAdd: ['ALL'], Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'r' }], DeviceCgroupRules: ['b *:* m'] }, HOST));
});
