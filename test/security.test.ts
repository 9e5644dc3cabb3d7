import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fetchSocket, importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * Secure defaults as a Docker user meets them, through the real docker CLI against a private
 * pierd: Docker's seccomp allow-list, capabilities limited to what the daemon holds, security
 * options, devices, masked paths, and what a default container cannot do while a privileged
 * one can. Each item of the audit in issue 14 has a test here that failed before its fix.
 */

/** A static probe of the system calls Docker's profile refuses and pier's old deny-list let through. */
const PROBE_C = `
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long r = -1;
    errno = 0;
    if (!strcmp(argv[i], "kcmp")) r = syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0);
    else if (!strcmp(argv[i], "userfaultfd")) r = syscall(SYS_userfaultfd, 1);
    else if (!strcmp(argv[i], "personality")) r = personality(0x0400000);
    printf("%s %s\\n", argv[i], r < 0 ? strerror(errno) : "ok");
  }
  return 0;
}
`;

describe('secure defaults', () => {
  let d: Daemon;
  let probe: string;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    probe = join(d.dir, 'probe');
    await writeFile(`${probe}.c`, PROBE_C);
    await promisify(execFile)('cc', ['-static', '-O1', '-o', probe, `${probe}.c`]);
  });
  after(async () => {
    await d?.stop();
  });

  const sh = (args: string[], script: string) => d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', script]);

  describe('seccomp', () => {
    test("audit: the default profile is Docker's allow-list: kcmp, userfaultfd, personality(READ_IMPLIES_EXEC) are refused", async () => {
      const r = await d.docker(['run', '--rm', '-v', `${probe}:/probe:ro`, 'busybox', '/probe', 'kcmp', 'userfaultfd', 'personality']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'kcmp Operation not permitted\nuserfaultfd Operation not permitted\npersonality Operation not permitted\n');
      // Unconfined, the same calls go through (kcmp of a process with itself is 0).
      const open = await d.docker(['run', '--rm', '--security-opt', 'seccomp=unconfined', '-v', `${probe}:/probe:ro`, 'busybox', '/probe', 'kcmp', 'personality']);
      assert.equal(open.stdout, 'kcmp ok\npersonality ok\n');
    });

    test('audit: --security-opt seccomp=<file> is the profile applied, not replaced by the default', async () => {
      const file = join(d.dir, 'no-mkdir.json');
      await writeFile(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
      const r = await sh(['--security-opt', `seccomp=${file}`], 'mkdir /tmp/x; echo rc=$?; unshare -U true && echo unshared');
      assert.equal(r.stdout, 'rc=1\nunshared\n');
      assert.match(r.stderr, /mkdir: can't create directory '\/tmp\/x': Operation not permitted/);
      const inspect = await d.docker(['run', '--security-opt', `seccomp=${file}`, '--name', 'custom', 'busybox', 'true']);
      assert.equal(inspect.code, 0);
      const opts = JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'custom'])).stdout) as string[];
      assert.ok(opts[0]!.startsWith('seccomp={"defaultAction":"SCMP_ACT_ALLOW"'), opts[0]);
      await d.docker(['rm', 'custom']);
    });

    test("a missing profile file and one that is not JSON are the CLI's errors; a JSON that is no profile is the daemon's 400", async () => {
      const missing = await d.docker(['run', '--rm', '--security-opt', 'seccomp=/nonexistent/profile.json', 'busybox', 'true']);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /opening seccomp profile \(\/nonexistent\/profile\.json\) failed: open \/nonexistent\/profile\.json: no such file or directory/);
      const notJson = join(d.dir, 'bad.json');
      await writeFile(notJson, '{"defaultAction": SCMP_ACT_ALLOW}');
      const bad = await d.docker(['run', '--rm', '--security-opt', `seccomp=${notJson}`, 'busybox', 'true']);
      assert.equal(bad.code, 125);
      assert.match(bad.stderr, /compacting json for seccomp profile \(.*bad\.json\) failed: invalid character 'S'/);
      const api = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_MAYBE"}'] } }));
      assert.equal(api.status, 400);
      assert.match((JSON.parse(api.body) as { message: string }).message, /^Decoding seccomp profile failed: defaultAction: /);
    });

    test('no-new-privileges in every spelling; unknown options and AppArmor where there is none are refused', async () => {
      for (const opt of ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=true']) {
        const r = await sh(['--security-opt', opt], 'grep NoNewPrivs /proc/self/status');
        assert.equal(r.stdout, 'NoNewPrivs:\t1\n', opt);
      }
      assert.equal((await sh([], 'grep NoNewPrivs /proc/self/status')).stdout, 'NoNewPrivs:\t0\n');
      const bogus = await d.docker(['run', '--rm', '--security-opt', 'bogus=1', 'busybox', 'true']);
      assert.equal(bogus.code, 125);
      assert.match(bogus.stderr, /Error response from daemon: invalid --security-opt 2: "bogus=1"/);
      const apparmor = await d.docker(['run', '--rm', '--security-opt', 'apparmor=foo', 'busybox', 'true']);
      assert.equal(apparmor.code, 125);
      assert.match(apparmor.stderr, /Error response from daemon: AppArmor is not enabled on this host: cannot apply --security-opt "apparmor=foo"/);
      // label= is accepted and ignored without SELinux, as by Docker.
      assert.equal((await sh(['--security-opt', 'label=disable', '--security-opt', 'apparmor=unconfined'], 'echo ok')).stdout, 'ok\n');
      assert.equal((await d.docker(['ps', '-aq'])).stdout, '');
    });
  });

  describe('capabilities', () => {
    const capEff = async (args: string[]) => (await sh(args, 'grep CapEff /proc/self/status')).stdout.trim().split('\t')[1];
    const daemonCaps = async () => /^CapEff:\s*(\S+)$/m.exec(await readFile('/proc/self/status', 'utf8'))![1];

    test("Docker's default set: 00000000a80425fb", async () => {
      assert.equal(await capEff([]), '00000000a80425fb');
      assert.equal(await capEff(['--cap-drop', 'ALL', '--cap-add', 'net_bind_service']), '0000000000000400');
      assert.equal(await capEff(['--cap-drop', 'CHOWN', '--cap-add', 'CAP_SYS_PTRACE']), '00000000a80c25fa');
    });

    test('audit: --privileged and --cap-add ALL run, with every capability the daemon holds', async () => {
      const held = await daemonCaps();
      assert.equal(await capEff(['--privileged']), held);
      assert.equal(await capEff(['--cap-add', 'ALL']), held);
      assert.equal(await capEff(['--cap-add', 'all', '--cap-drop', 'NET_RAW']), (BigInt(`0x${held}`) & ~(1n << 13n)).toString(16).padStart(16, '0'));
    });

    test("an unknown capability, or one the daemon lacks, is Docker's 400", async () => {
      const unknown = await d.docker(['run', '--rm', '--cap-add', 'FLY', 'busybox', 'true']);
      assert.equal(unknown.code, 125);
      assert.match(unknown.stderr, /Error response from daemon: invalid CapAdd: unknown capability: "CAP_FLY"/);
      const api = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { CapDrop: ['cap_nope'] } }));
      assert.equal(api.status, 400);
      assert.equal((JSON.parse(api.body) as { message: string }).message, 'invalid CapDrop: unknown capability: "CAP_NOPE"');
      const held = BigInt(`0x${await daemonCaps()}`);
      if ((held & (1n << 24n)) === 0n) {
        const lacking = await d.docker(['run', '--rm', '--cap-add', 'SYS_RESOURCE', 'busybox', 'true']);
        assert.match(lacking.stderr, /capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"/);
      }
    });

    test('--group-add reaches the process', async () => {
      assert.equal((await sh(['--group-add', '10', '--group-add', 'tty', '-u', 'nobody'], 'id -G')).stdout, '65534 5 10\n');
    });
  });

  describe('devices', () => {
    test('audit: --device makes the node with its numbers, and its permissions hold', async () => {
      const r = await sh(['--device', '/dev/loop0:/dev/xloop:r'], "stat -c '%t:%T %F' /dev/xloop; dd if=/dev/xloop of=/dev/null bs=512 count=1 2>/dev/null && echo read; echo > /dev/xloop || echo nowrite");
      assert.equal(r.stdout, '7:0 block special file\nread\nnowrite\n');
      assert.match(r.stderr, /can't create \/dev\/xloop: Operation not permitted/);
      const id = (await d.docker(['create', '--device', '/dev/loop0:/dev/xloop:r', 'busybox', 'true'])).stdout.trim();
      const devs = JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.Devices}}', id])).stdout) as unknown;
      assert.deepEqual(devs, [{ PathOnHost: '/dev/loop0', PathInContainer: '/dev/xloop', CgroupPermissions: 'r' }]);
      await d.docker(['rm', id]);
    });

    test('a missing device is refused at create; --device-cgroup-rule allows what a rule names', async () => {
      const missing = await d.docker(['run', '--rm', '--device', '/dev/nope', 'busybox', 'true']);
      // The docker CLI exits 127 for any error that says "no such file or directory", as with Docker.
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/nope": no such file or directory/);
      const read = 'mknod /tmp/l0 b 7 0 && dd if=/tmp/l0 of=/dev/null bs=512 count=1 2>/dev/null && echo read';
      assert.equal((await sh(['--device-cgroup-rule', 'b 7:0 r'], read)).stdout, 'read\n');
      assert.equal((await sh([], read)).stdout, '');
      const bad = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { DeviceCgroupRules: ['c 1:3 rwx'] } }));
      assert.equal(bad.status, 400);
      assert.equal((JSON.parse(bad.body) as { message: string }).message, "invalid device cgroup rule format: 'c 1:3 rwx'");
    });
  });

  describe('isolation: what a default container cannot do and a privileged one can', () => {
    test('no host processes: only its own', async () => {
      const r = await sh([], 'ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline | tr "\\0" " "');
      const [count, init] = r.stdout.split('\n');
      assert.ok(Number(count) <= 4, r.stdout);
      assert.match(init!, /^\/sbin\/docker-init -- sh -c/);
    });

    test('mount, module loading, clock, new user namespaces, network links are refused', async () => {
      const r = await sh([], [
        'mkdir -p /mnt; mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo mount refused',
        'echo x > /tmp/m.ko; insmod /tmp/m.ko 2>/tmp/e; echo insmod=$?; cat /tmp/e',
        'before=$(date +%Y); date -s 2001-01-01 >/dev/null 2>/tmp/e; cat /tmp/e; echo year=$(date +%Y) before=$before',
        'unshare -U true 2>/dev/null; echo unshare=$?',
        'ip link add v0 type veth peer name v1 2>/tmp/e; echo link=$?; cat /tmp/e',
      ].join('; '));
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], 'mount refused');
      assert.equal(lines[1], 'insmod=1');
      assert.match(lines[2]!, /Operation not permitted/);
      assert.equal(lines[3], "date: can't set date: Operation not permitted");
      assert.match(lines[4]!, /^year=(\d+) before=\1$/);
      assert.equal(lines[5], 'unshare=1');
      assert.equal(lines[6], 'link=2');
      assert.equal(lines[7], 'ip: RTNETLINK answers: Operation not permitted');
    });

    test('/proc/sys and /proc/sysrq-trigger cannot be written; /proc/kcore and /proc/keys cannot be read', async () => {
      const r = await sh([], [
        'echo 1 > /proc/sys/kernel/domainname 2>/dev/null; echo sys=$?',
        'echo h > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?',
        'echo kcore=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)',
        'echo keys=$(wc -c < /proc/keys)',
        'grep -c " /proc/keys " /proc/self/mountinfo',
      ].join('; '));
      assert.equal(r.stdout, 'sys=1\nsysrq=1\nkcore=0\nkeys=0\n1\n');
      // The host's /proc/keys is not empty: the container's is masked (a bind of /dev/null).
      assert.ok((await readFile('/proc/keys', 'utf8')).length > 0);
    });

    test('a block device can be made but not read', async () => {
      const r = await sh([], 'mknod /tmp/l0 b 7 0 && echo made; dd if=/tmp/l0 of=/dev/null bs=512 count=1 2>/tmp/e || cat /tmp/e');
      assert.equal(r.stdout, "made\ndd: can't open '/tmp/l0': Operation not permitted\n");
    });

    test('privileged: a tmpfs mounts, a link is made in its own namespace, a block device is read, /sys is writable, no paths masked', async () => {
      const r = await sh(['--privileged'], [
        'mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted',
        'ip link add v0 type veth peer name v1 && ip link show v0 >/dev/null && echo link',
        'mknod /tmp/l0 b 7 0 && dd if=/tmp/l0 of=/dev/null bs=512 count=1 2>/dev/null && echo read',
        'grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1',
        'echo keys=$(grep -c " /proc/keys " /proc/self/mountinfo)',
        'grep Seccomp: /proc/self/status',
      ].join('; '));
      assert.equal(r.stdout, 'mounted\nlink\nread\nrw\nkeys=0\nSeccomp:\t0\n', r.stderr);
      // The link was made in the container's namespace, not the host's.
      const host = await promisify(execFile)('ip', ['link', 'show', 'v0']).then(() => 'there', () => 'absent');
      assert.equal(host, 'absent');
    });
  });

  test("audit: info lists the security options in force, and no cgroup namespace on cgroup v1", async () => {
    const info = JSON.parse((await d.docker(['info', '--format', '{{json .}}'])).stdout) as { SecurityOptions: string[]; CgroupVersion: string };
    if (info.CgroupVersion === '1') assert.deepEqual(info.SecurityOptions, ['name=seccomp,profile=builtin']);
    else assert.deepEqual(info.SecurityOptions, ['name=seccomp,profile=builtin', 'name=cgroupns']);
    const masked = JSON.parse((await d.docker(['inspect', '-f', '{{json .HostConfig.MaskedPaths}}', (await d.docker(['create', 'busybox', 'true'])).stdout.trim()])).stdout) as string[];
    assert.ok(masked.includes('/proc/kcore') && masked.includes('/proc/interrupts'));
  });

  test('after all the refusals pierd still serves', async () => {
    assert.equal((await d.docker(['run', '--rm', 'busybox', 'echo', 'still here'])).stdout, 'still here\n');
  });
});
