import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { ALL_CAPABILITIES, capabilitySets, DEFAULT_CAPABILITIES, resolveCapabilities, validateCapabilities } from './capabilities.js';

/** This machine's root: every capability of kernel 40 but CAP_SYS_RESOURCE (bit 24). */
const HERE = capabilitySets(40, 'Name:\tpierd\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n');
const FULL = capabilitySets(40, 'CapEff:\t000001ffffffffff\n');
const resolve = (o: { privileged?: boolean; capAdd?: string[]; capDrop?: string[] }, sets = HERE) =>
  resolveCapabilities({ privileged: false, capAdd: [], capDrop: [], ...o }, sets);

test('the sets of a host: known from cap_last_cap, held from CapEff', () => {
  assert.equal(HERE.known.length, 41);
  assert.equal(HERE.held.length, 40);
  assert.ok(!HERE.held.includes('CAP_SYS_RESOURCE'));
  assert.deepEqual(capabilitySets(37, 'CapEff:\t0000003fffffffff\n').known, ALL_CAPABILITIES.slice(0, 38));
  // No CapEff line: assume the daemon holds what the kernel knows.
  assert.equal(capabilitySets(40, '').held.length, 41);
});

test("Docker's default set; drops then adds, any case, with or without CAP_", () => {
  assert.deepEqual(resolve({}), DEFAULT_CAPABILITIES);
  const c = resolve({ capAdd: ['net_admin', 'CAP_SYS_PTRACE', 'Chown'], capDrop: ['chown', 'cap_mknod'] });
  assert.deepEqual(c.slice(-3), ['CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_CHOWN']);
  assert.ok(!c.includes('CAP_MKNOD'));
  assert.equal(c.length, 14 - 2 + 3);
});

test('ALL and --privileged: every capability the daemon holds', () => {
  const held = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
  assert.deepEqual(resolve({ privileged: true }), held);
  assert.deepEqual(resolve({ capAdd: ['ALL'] }), held);
  assert.deepEqual(resolve({ capAdd: ['all'], capDrop: ['NET_RAW'] }), held.filter((c) => c !== 'CAP_NET_RAW'));
  assert.deepEqual(resolve({ capDrop: ['ALL'], capAdd: ['kill'] }), ['CAP_KILL']);
  assert.deepEqual(resolve({ privileged: true }, FULL), ALL_CAPABILITIES);
});

test("an unknown capability, or one the daemon lacks, is refused at create with moby's messages", () => {
  const refused = (add: string[], drop: string[], message: string) =>
    assert.throws(() => validateCapabilities(add, drop, HERE), (e: Error) => isKind(e, 'invalid') && e.message === message);
  refused(['FLY'], [], 'invalid CapAdd: unknown capability: "CAP_FLY"');
  refused([], ['cap_fly'], 'invalid CapDrop: unknown capability: "CAP_FLY"');
  refused(['SYS_RESOURCE'], [], 'invalid CapAdd: capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"');
  // A kernel that does not know a capability (37: no PERFMON, BPF, CHECKPOINT_RESTORE).
  assert.throws(() => validateCapabilities(['BPF'], [], capabilitySets(37, '')), /not supported by your kernel.*"CAP_BPF"/);
  assert.doesNotThrow(() => validateCapabilities(['ALL', 'net_admin'], ['SYS_RESOURCE', 'all'], HERE));
});
