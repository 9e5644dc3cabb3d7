import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fetchSocket, importBusybox, startDaemon, type Daemon } from './harness.js';

/**
 * Resource limits as a Docker user sets them, through the real docker CLI against a private
 * pierd: each limit is read back from the container's own cgroup files and from inspect;
 * refusals carry Docker's messages. The machines here have cgroup v1, where
 * /sys/fs/cgroup/<controller> inside a container is its own cgroup (the v2 files are covered
 * by the unit tests over a fake cgroup2 tree, src/runtime/resources.test.ts).
 */

const MB = 1024 * 1024;

describe('resource limits', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const sh = (args: string[], script: string) => d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', script]);
  const inspect = async (id: string, format: string) => (await d.docker(['inspect', '-f', format, id])).stdout.trim();

  test('-m 64m is the cgroup limit (memory+swap twice that) and shows in inspect', async () => {
    const r = await sh(['-m', '64m', '--memory-reservation', '32m'], 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes');
    assert.equal(r.stdout, `${64 * MB}\n${128 * MB}\n${32 * MB}\n`, r.stderr);
    const id = (await d.docker(['create', '-m', '64m', '--memory-swap', '96m', 'busybox', 'true'])).stdout.trim();
    assert.equal(await inspect(id, '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}'), `${64 * MB} ${96 * MB}`);
    await d.docker(['rm', id]);
  });

  test('a process past its memory limit is OOM-killed: exit 137, State.OOMKilled, an oom event', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    // dd's 96 MiB buffer, filled from /dev/zero, is past the 64 MiB limit (and no swap is allowed).
    const r = await d.docker(['run', '--name', 'hog', '-m', '64m', '--memory-swap', '64m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=96M', 'count=1']);
    assert.equal(r.code, 137, r.stderr);
    assert.equal(await inspect('hog', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}'), 'true 137 exited');
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await d.docker(['events', '--since', String(since), '--until', String(until), '--filter', 'container=hog', '--format', '{{.Action}}']);
    const actions = events.stdout.trim().split('\n');
    assert.ok(actions.includes('oom'), events.stdout);
    assert.ok(actions.indexOf('oom') < actions.indexOf('die'), events.stdout);
    await d.docker(['rm', 'hog']);
  });

  test('--pids-limit 20 stops a fork bomb at the 21st process', async () => {
    // An inner shell forks sleeps until a fork fails; the outer one then reports with builtins
    // only (it has a process slot again once the inner shell is gone). 20 = docker-init, two
    // shells and 17 sleeps; the container's end ends them all.
    const bomb = 'n=0; while :; do sleep 60 & n=$((n+1)); echo $n > /tmp/n; done';
    const r = await sh(['--init', '--pids-limit', '20'], `sh -c '${bomb}' 2>/tmp/err; read n < /tmp/n; read m < /sys/fs/cgroup/pids/pids.max; read c < /sys/fs/cgroup/pids/pids.current; read e < /tmp/err; echo "$m $n $c $e"`);
    assert.equal(r.stdout, "20 17 19 sh: can't fork: Resource temporarily unavailable\n", r.stderr);
    assert.equal((await d.docker(['ps', '-q'])).stdout, '');
  });

  test('--cpus 0.5 is a CFS quota of 50000 over 100000; shares, period and quota, cpusets', async () => {
    const cpu = '/sys/fs/cgroup/cpu';
    assert.equal((await sh(['--cpus', '0.5'], `cat ${cpu}/cpu.cfs_quota_us ${cpu}/cpu.cfs_period_us`)).stdout, '50000\n100000\n');
    assert.equal((await sh(['--cpu-shares', '512', '--cpu-period', '50000', '--cpu-quota', '25000'], `cat ${cpu}/cpu.shares ${cpu}/cpu.cfs_period_us ${cpu}/cpu.cfs_quota_us`)).stdout, '512\n50000\n25000\n');
    assert.equal((await sh(['--cpuset-cpus', '0', '--cpuset-mems', '0'], 'cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/cpuset.mems')).stdout, '0\n0\n');
    const id = (await d.docker(['create', '--cpus', '0.5', '--cpuset-cpus', '0', 'busybox', 'true'])).stdout.trim();
    assert.equal(await inspect(id, '{{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}}'), '500000000 0');
    await d.docker(['rm', id]);
  });

  test('block I/O limits by device, OOM score, OOM killer off, ulimits within the daemon limits, shm size', async () => {
    const dev = '/dev/loop0';
    const r = await sh(
      ['--device-read-bps', `${dev}:1mb`, '--device-write-iops', `${dev}:100`, '--oom-score-adj', '500', '-m', '32m', '--oom-kill-disable', '--ulimit', 'nofile=100:200', '--ulimit', 'nproc=99999999', '--shm-size', '16m'],
      [
        'cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device /proc/self/oom_score_adj',
        'grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control',
        'ulimit -n; ulimit -Hn; ulimit -Hu',
        "df -k /dev/shm | tail -1 | awk '{print $2}'",
      ].join('; '),
    );
    const ownNproc = /^Max processes\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1];
    assert.equal(r.stdout, `7:0 1048576\n7:0 100\n500\noom_kill_disable 1\n100\n200\n${ownNproc === 'unlimited' ? 'unlimited' : ownNproc}\n16384\n`, r.stderr);
    const id = (await d.docker(['create', '--device-read-bps', `${dev}:1mb`, '--oom-score-adj', '-200', '--oom-kill-disable', '-m', '32m', 'busybox', 'true'])).stdout.trim();
    assert.equal(await inspect(id, '{{json .HostConfig.BlkioDeviceReadBps}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.OomKillDisable}}'), `[{"Path":"${dev}","Rate":1048576}] -200 true`);
    await d.docker(['rm', id]);
  });

  test('sysctls: the namespaced ones reach the container; the others are refused', async () => {
    const r = await sh(['--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.shmmax=1048576', '--sysctl', 'fs.mqueue.msg_max=20'], 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max');
    assert.equal(r.stdout, '1\n1048576\n20\n', r.stderr);
    // Docker's defaults in a network namespace of the container's own: a non-root user binds port 80 and pings.
    const ports = await sh(['-u', 'nobody'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; nc -l -p 80 & sleep 0.2; netstat -ltn | grep -c ":80 "; kill %1');
    assert.equal(ports.stdout, '0\n0\t2147483647\n1\n', ports.stderr);
    // The docker CLI refuses what is not namespaced itself; the API gets runc's words as a 400.
    const cli = await d.docker(['run', '--rm', '--sysctl', 'kernel.domainname=x', 'busybox', 'true']);
    assert.equal(cli.code, 125);
    assert.match(cli.stderr, /invalid argument "kernel.domainname=x" for "--sysctl" flag: sysctl 'kernel.domainname=x' is not allowed/);
    const api = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { Sysctls: { 'kernel.panic': '1' } } }));
    assert.equal(api.status, 400);
    assert.equal((JSON.parse(api.body) as { message: string }).message, 'sysctl "kernel.panic" is not in a separate kernel namespace');
    const host = await d.docker(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true']);
    assert.equal(host.code, 125);
    assert.match(host.stderr, /Error response from daemon: sysctl "net.ipv4.ip_forward" not allowed in host network namespace/);
  });

  test("bad limits get Docker's messages", async () => {
    const refused = async (args: string[], message: string) => {
      const r = await d.docker(['run', '--rm', ...args, 'busybox', 'true']);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`Error response from daemon: ${message}`), r.stderr);
    };
    const cpus = (await d.docker(['info', '--format', '{{.NCPU}}'])).stdout.trim();
    await refused(['-m', '4m'], 'Minimum memory limit allowed is 6MB');
    await refused(['-m', '64m', '--memory-swap', '32m'], 'Minimum memoryswap limit should be larger than memory limit, see usage');
    await refused(['--cpus', String(Number(cpus) + 1)], `range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
    await refused(['--cpuset-cpus', '0-99'], `Requested CPUs are not available - requested 0-99, available: 0-${Number(cpus) - 1}`);
    await refused(['--cpu-period', '100'], 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    await refused(['--oom-score-adj', '1001'], 'Invalid value 1001, range for oom score adj is [-1000, 1000]');
    // The docker CLI 28 no longer sends --kernel-memory; a client of the API that does is told.
    const api = await fetchSocket(d.socket, 'POST', '/v1.51/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { KernelMemory: 64 * MB } }));
    assert.equal(api.status, 400);
    assert.match((JSON.parse(api.body) as { message: string }).message, /^Kernel memory limit is not supported/);
    assert.equal((await d.docker(['ps', '-aq'])).stdout, '');
  });

  test('docker update changes the running cgroup (pier writes it) and inspect', async () => {
    const id = (await d.docker(['run', '-d', '-m', '64m', '--pids-limit', '50', 'busybox', 'sleep', '60'])).stdout.trim();
    const up = await d.docker(['update', '-m', '256m', '--memory-swap', '512m', '--pids-limit', '30', '--cpus', '0.25', id]);
    assert.equal(up.code, 0, up.stderr);
    const cg = await d.docker(['exec', id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes', '/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us']);
    assert.equal(cg.stdout, `${256 * MB}\n${512 * MB}\n30\n25000\n`, cg.stderr);
    assert.equal(await inspect(id, '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}}'), `${256 * MB} ${512 * MB} 30`);
    const down = await d.docker(['update', '-m', '32m', '--memory-swap', '64m', id]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await d.docker(['exec', id, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).stdout, `${32 * MB}\n`);
    const bad = await d.docker(['update', '-m', '4m', id]);
    assert.match(bad.stderr, /Minimum memory limit allowed is 6MB/);
    await d.docker(['rm', '-f', id]);
  });
});
