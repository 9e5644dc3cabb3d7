import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { conmonArgs, createError, parseSyncMessage, runtimeMessage, type ConmonOptions } from './conmon.js';
import { runtimeSignal } from './oci.js';

const OPTS: ConmonOptions = {
  conmonPath: '/usr/bin/conmon',
  runtimePath: '/usr/sbin/runc',
  runtimeArgs: ['--root=/run/pier/runtime-root', '--log-format=json'],
  id: 'abc',
  bundle: '/run/pier/containers/abc/bundle',
  pidFile: '/run/pier/containers/abc/pidfile',
  conmonPidFile: '/run/pier/containers/abc/conmon.pid',
  exitDir: '/run/pier/containers/abc/exits',
  persistDir: '/run/pier/containers/abc/persist',
  logPath: '/var/lib/pier/containers/abc/abc-json.log',
  logLevel: 'error',
  stdin: false,
  leaveStdinOpen: false,
  tty: false,
  cwd: '/run/pier/containers/abc',
};

test('conmon arguments in podman style; the runtime root goes through --runtime-arg', () => {
  const args = conmonArgs(OPTS);
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(value('--api-version'), '1');
  assert.equal(value('-c'), 'abc');
  assert.equal(value('-r'), '/usr/sbin/runc');
  assert.equal(value('-b'), OPTS.bundle);
  assert.equal(value('-p'), OPTS.pidFile);
  assert.equal(value('--exit-dir'), OPTS.exitDir);
  assert.equal(value('--persist-dir'), OPTS.persistDir);
  assert.equal(value('-l'), `k8s-file:${OPTS.logPath}`);
  assert.equal(value('--conmon-pidfile'), OPTS.conmonPidFile);
  assert.ok(args.includes('--full-attach'));
  assert.ok(args.includes('--no-sync-log'));
  assert.deepEqual(args.slice(-4), ['--runtime-arg', '--root=/run/pier/runtime-root', '--runtime-arg', '--log-format=json']);
  for (const f of ['-i', '-t', '--leave-stdin-open']) assert.ok(!args.includes(f), f);
});

test('stdin, TTY and leave-stdin-open flags', () => {
  const args = conmonArgs({ ...OPTS, stdin: true, tty: true, leaveStdinOpen: true });
  for (const f of ['-i', '-t', '--leave-stdin-open']) assert.ok(args.includes(f), f);
  // Leaving stdin open means nothing without stdin.
  assert.ok(!conmonArgs({ ...OPTS, leaveStdinOpen: true }).includes('--leave-stdin-open'));
});

test("conmon's sync messages", () => {
  assert.deepEqual(parseSyncMessage('{"data": 7265}'), { data: 7265 });
  assert.deepEqual(parseSyncMessage('{"data": -1, "message": "boom\\n"}'), { data: -1, message: 'boom\n' });
  assert.throws(() => parseSyncMessage('{"pid": 3}'));
});

test('runtime messages from JSON logs, logrus text and plain text', () => {
  assert.equal(
    runtimeMessage('{"level":"error","msg":"runc create failed: unable to start container process: exec: \\"nonexist\\": executable file not found in $PATH","time":"2026-01-01T00:00:00Z"}\n'),
    'runc create failed: unable to start container process: exec: "nonexist": executable file not found in $PATH',
  );
  assert.equal(
    runtimeMessage('time="2026-11-27T17:50:42Z" level=error msg="runc create failed: exec: \\"x\\": executable file not found in $PATH"\n'),
    'runc create failed: exec: "x": executable file not found in $PATH',
  );
  assert.equal(
    runtimeMessage('{"msg":"cgroups in hybrid mode not supported, drop all controllers from cgroupv2","level":"error","time":"2026-11-27T17:53:02.584289Z"}'),
    'cgroups in hybrid mode not supported, drop all controllers from cgroupv2',
  );
  assert.equal(runtimeMessage('{"level":"warning","msg":"ignored"}\nplain failure\n'), 'plain failure');
});

test('create errors: a command that cannot run is invalid, the rest internal', () => {
  const notFound = createError('{"level":"error","msg":"exec: \\"x\\": executable file not found in $PATH"}');
  assert.ok(isKind(notFound, 'invalid'));
  assert.ok(isKind(createError('{"level":"error","msg":"exec /bin/x: permission denied"}'), 'invalid'));
  assert.ok(isKind(createError('{"level":"error","msg":"cgroups in hybrid mode not supported"}'), 'internal'));
});

test('signals reach the runtime as numbers, by name, short name or number', () => {
  assert.equal(runtimeSignal('SIGTERM'), '15');
  assert.equal(runtimeSignal('kill'), '9');
  assert.equal(runtimeSignal('SIGRTMIN+3'), '37');
  assert.equal(runtimeSignal(9), '9');
  assert.equal(runtimeSignal('15'), '15');
  assert.throws(() => runtimeSignal(0), /Invalid signal/);
  assert.throws(() => runtimeSignal('SIG'), /Invalid signal/);
  assert.throws(() => runtimeSignal('TERM; rm'), /Invalid signal/);
});
