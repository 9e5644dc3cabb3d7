import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnvFile } from './env-file.js';
import { ParseError } from './human.js';
import { attachedStreams, parsePublish, parseRestartPolicy, runOptionsToCreateBody, type RunContext, type RunFlags } from './run-options.js';

/**
 * Bodies Docker's CLI (28.2.2) sent to POST /containers/create, captured from a stand-in
 * daemon, for the flags in each test. pier's body must mean the same: every field pier
 * sends equals Docker's, and every field Docker sets to something other than its zero
 * value pier sends too.
 */
// docker run -d --name foo -e X=1 -e HOME -e NOPE --env-file envf -w /tmp -u 1000:1000 --entrypoint /bin/sh -l a=b -l c
//   -m 512m --cpus 1.5 --cpu-shares 512 --pids-limit 100 --network host --restart on-failure:3 --init --hostname hh
//   --privileged --cap-add NET_ADMIN --cap-drop ALL --read-only --stop-signal SIGINT --stop-timeout 5 -p 8080:80
//   -p 127.0.0.1:53:53/udp -p 9000 -v /a:/b:ro -v named:/c -it busybox -c 'echo hi'
// with envf = "\ufeffA=1\n# c\n  B= 2 \nC\nHOME\n", HOME=/root and C, NOPE unset
const DOCKER_BODY_1 = {"Hostname":"hh","Domainname":"","User":"1000:1000","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"53/udp":{},"80/tcp":{},"9000/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":false,"Env":["A=1","B= 2 ","HOME=/root","X=1","HOME=/root","NOPE"],"Cmd":["-c","echo hi"],"Image":"busybox","Volumes":{},"WorkingDir":"/tmp","Entrypoint":["/bin/sh"],"OnBuild":null,"Labels":{"a":"b","c":""},"StopSignal":"SIGINT","StopTimeout":5,"HostConfig":{"Binds":["named:/c","/a:/b:ro"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"host","PortBindings":{"53/udp":[{"HostIp":"127.0.0.1","HostPort":"53"}],"80/tcp":[{"HostIp":"","HostPort":"8080"}],"9000/tcp":[{"HostIp":"","HostPort":""}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":["CAP_NET_ADMIN"],"CapDrop":["ALL"],"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":true,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":512,"Memory":536870912,"NanoCpus":1500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":100,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null,"Init":true},"NetworkingConfig":{"EndpointsConfig":{}}};

// docker run -i --rm -e A=1 --name x --network mynet --network-alias web -p 8000-8001:80-81/tcp -p '[::1]:5353:53/udp'
//   -v ./rel:/data -v /anon --init=false --no-healthcheck --entrypoint '' --memory-swap -1 --shm-size 64m
//   --tmpfs /run:size=1m --add-host db:10.0.0.2 --dns 1.1.1.1 --security-opt no-new-privileges --group-add audio
//   --log-driver json-file --log-opt max-size=1m -a stdout -a stdin busybox echo hi      (in /tmp/cap)
const DOCKER_BODY_2 = {"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,"AttachStderr":false,"ExposedPorts":{"53/udp":{},"80/tcp":{},"81/tcp":{}},"Tty":false,"OpenStdin":true,"StdinOnce":true,"Env":["A=1"],"Cmd":["echo","hi"],"Healthcheck":{"Test":["NONE"]},"Image":"busybox","Volumes":{"/anon":{}},"WorkingDir":"","Entrypoint":[""],"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/tmp/cap/rel:/data"],"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"NetworkMode":"mynet","PortBindings":{"53/udp":[{"HostIp":"::1","HostPort":"5353"}],"80/tcp":[{"HostIp":"","HostPort":"8000"}],"81/tcp":[{"HostIp":"","HostPort":"8001"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":["1.1.1.1"],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":["db:10.0.0.2"],"GroupAdd":["audio"],"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":["no-new-privileges"],"Tmpfs":{"/run":"size=1m"},"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":-1,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null,"Init":false},"NetworkingConfig":{"EndpointsConfig":{"mynet":{"IPAMConfig":null,"Links":null,"Aliases":["web"],"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}};

/** Values Docker sends for fields nobody set: leaving them out means the same. */
const DOCKER_DEFAULTS: Record<string, unknown> = {
  'HostConfig.MemorySwappiness': -1,
  'HostConfig.ConsoleSize': [0, 0],
  'HostConfig.RestartPolicy': { Name: 'no', MaximumRetryCount: 0 },
};

function isZero(v: unknown): boolean {
  if (v === '' || v === 0 || v === false || v === null || v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v).every(isZero);
  return false;
}

/** Assert that pier's body means what Docker's does (see above); Binds compare as sets. */
function assertSameMeaning(pier: Record<string, unknown>, docker: Record<string, unknown>, path = ''): void {
  for (const key of new Set([...Object.keys(pier), ...Object.keys(docker)])) {
    const where = path + key;
    const p = pier[key];
    const d = docker[key];
    if (p === undefined) {
      const dflt = DOCKER_DEFAULTS[where];
      assert.ok(isZero(d) || (dflt !== undefined && JSON.stringify(dflt) === JSON.stringify(d)), `pier leaves out ${where}, Docker sends ${JSON.stringify(d)}`);
    } else if ((key === 'HostConfig' || key === 'NetworkingConfig' || key === 'EndpointsConfig') && typeof p === 'object' && typeof d === 'object') {
      assertSameMeaning(p as Record<string, unknown>, (d ?? {}) as Record<string, unknown>, `${where}.`);
    } else if (path === 'NetworkingConfig.EndpointsConfig.') {
      assertSameMeaning(p as Record<string, unknown>, (d ?? {}) as Record<string, unknown>, `${where}.`);
    } else if (where === 'HostConfig.Binds') {
      assert.deepEqual([...(p as string[])].sort(), [...(d as string[])].sort(), where);
    } else {
      assert.deepEqual(p, d, where);
    }
  }
}

const ctx = (files: Record<string, string> = {}, env: Record<string, string> = { HOME: '/root' }): RunContext => ({
  lookupEnv: (k) => env[k],
  readFile: (p) => {
    const text = files[p];
    if (text === undefined) throw new Error(`open ${p}: no such file or directory`);
    return text;
  },
  cwd: '/tmp/cap',
});

describe('runOptionsToCreateBody against Docker', () => {
  it('many flags at once (detached, TTY, resources, security, ports, volumes)', () => {
    const flags: RunFlags = {
      detach: true,
      name: 'foo',
      env: ['X=1', 'HOME', 'NOPE'],
      envFile: ['envf'],
      workdir: '/tmp',
      user: '1000:1000',
      entrypoint: '/bin/sh',
      label: ['a=b', 'c'],
      memory: '512m',
      cpus: '1.5',
      cpuShares: '512',
      pidsLimit: '100',
      network: ['host'],
      restart: 'on-failure:3',
      init: true,
      hostname: 'hh',
      privileged: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      readOnly: true,
      stopSignal: 'SIGINT',
      stopTimeout: '5',
      publish: ['8080:80', '127.0.0.1:53:53/udp', '9000'],
      volume: ['/a:/b:ro', 'named:/c'],
      interactive: true,
      tty: true,
    };
    const body = runOptionsToCreateBody('busybox', ['-c', 'echo hi'], flags, ctx({ envf: '\ufeffA=1\n# c\n  B= 2 \nC\nHOME\n' }));
    assertSameMeaning(body as Record<string, unknown>, DOCKER_BODY_1);
    assert.equal(body.HostConfig?.Memory, 536870912);
    assert.equal(body.HostConfig?.NanoCpus, 1500000000);
    assert.deepEqual(body.HostConfig?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
  });

  it('attached stdin, auto-remove, user network with alias, port ranges, relative and anonymous volumes', () => {
    const flags: RunFlags = {
      interactive: true,
      rm: true,
      env: ['A=1'],
      name: 'x',
      network: ['mynet'],
      networkAlias: ['web'],
      publish: ['8000-8001:80-81/tcp', '[::1]:5353:53/udp'],
      volume: ['./rel:/data', '/anon'],
      init: false,
      healthcheck: false,
      entrypoint: '',
      memorySwap: '-1',
      shmSize: '64m',
      tmpfs: ['/run:size=1m'],
      addHost: ['db:10.0.0.2'],
      dns: ['1.1.1.1'],
      securityOpt: ['no-new-privileges'],
      groupAdd: ['audio'],
      logDriver: 'json-file',
      logOpt: ['max-size=1m'],
      attach: ['stdout', 'stdin'],
    };
    const body = runOptionsToCreateBody('busybox', ['echo', 'hi'], flags, ctx());
    assertSameMeaning(body as Record<string, unknown>, DOCKER_BODY_2);
    assert.equal(body.HostConfig?.AutoRemove, true);
    assert.equal(body.HostConfig?.Init, false);
  });
});

describe('runOptionsToCreateBody', () => {
  it('a bare run attaches stdout and stderr, leaves Cmd and Env to the image', () => {
    const body = runOptionsToCreateBody('busybox', [], {}, ctx());
    assert.deepEqual(body, {
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Image: 'busybox',
      HostConfig: { NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false },
    });
  });

  it('--ip, --ip6, --mac-address go to the first network\'s endpoint; --dns-search and --dns-option to HostConfig', () => {
    const body = runOptionsToCreateBody('busybox', [], { network: ['appnet', 'other'], ip: '10.9.0.7', ip6: 'fd00::7', macAddress: '02:42:0a:09:00:07', networkAlias: ['db'], dnsSearch: ['example.com'], dnsOption: ['ndots:2'] }, ctx());
    assert.deepEqual(body.NetworkingConfig, {
      EndpointsConfig: {
        appnet: { Aliases: ['db'], IPAMConfig: { IPv4Address: '10.9.0.7', IPv6Address: 'fd00::7' }, MacAddress: '02:42:0a:09:00:07' },
        other: {},
      },
    });
    assert.deepEqual(body.HostConfig?.DnsSearch, ['example.com']);
    assert.deepEqual(body.HostConfig?.DnsOptions, ['ndots:2']);
    // without --network, the endpoint is the default network's, which the daemon resolves
    assert.deepEqual(runOptionsToCreateBody('busybox', [], { ip: '10.9.0.7' }, ctx()).NetworkingConfig, { EndpointsConfig: { default: { IPAMConfig: { IPv4Address: '10.9.0.7' } } } });
  });

  it('sends the console size with -t', () => {
    const body = runOptionsToCreateBody('busybox', [], { tty: true }, { ...ctx(), consoleSize: [40, 120] });
    assert.deepEqual(body.HostConfig?.ConsoleSize, [40, 120]);
  });

  it('refuses conflicting and malformed flags with Docker\'s messages', () => {
    const bad: [RunFlags, RegExp][] = [
      [{ rm: true, restart: 'always' }, /^conflicting options: cannot specify both --restart and --rm$/],
      [{ detach: true, attach: ['stdout'] }, /cannot specify both --attach and --detach/],
      [{ memory: '12x' }, /^invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'$/],
      [{ cpus: 'abc' }, /invalid argument "abc" for "--cpus" flag/],
      [{ restart: 'sometimes' }, /unknown policy 'sometimes'/],
      [{ restart: 'always:3' }, /maximum retry count can only be used with 'on-failure'/],
      [{ attach: ['stdlog'] }, /valid streams are STDIN, STDOUT and STDERR/],
      [{ publish: ['99999:80'] }, /invalid hostPort: 99999/],
      [{ env: ['=x'] }, /invalid environment variable: =x/],
      [{ envFile: ['missing'] }, /invalid env file \(missing\): open missing/],
      [{ envFile: ['bad'] }, /invalid env file \(bad\): variable 'B ' contains whitespaces/],
      [{ network: ['host'], networkAlias: ['x'] }, /only supported for user-defined networks/],
    ];
    for (const [flags, re] of bad) {
      assert.throws(() => runOptionsToCreateBody('busybox', [], flags, ctx({ bad: 'B =1\n' })), (err: unknown) => err instanceof ParseError && re.test(err.message), JSON.stringify(flags));
    }
  });

  it('attachedStreams: -a picks streams, -i adds stdin, -d none', () => {
    assert.deepEqual(attachedStreams({}), { stdin: false, stdout: true, stderr: true });
    assert.deepEqual(attachedStreams({ interactive: true }), { stdin: true, stdout: true, stderr: true });
    assert.deepEqual(attachedStreams({ attach: ['STDERR'] }), { stdin: false, stdout: false, stderr: true });
    assert.deepEqual(attachedStreams({ detach: true, interactive: true }), { stdin: false, stdout: false, stderr: false });
  });

  it('parseRestartPolicy', () => {
    assert.deepEqual(parseRestartPolicy('no'), { Name: 'no', MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy('unless-stopped'), { Name: 'unless-stopped', MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure'), { Name: 'on-failure', MaximumRetryCount: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.throws(() => parseRestartPolicy(':3'), /no policy provided before colon/);
    assert.throws(() => parseRestartPolicy('on-failure:x'), /must be an integer/);
  });

  it('parsePublish', () => {
    assert.deepEqual(parsePublish('80'), [{ port: '80/tcp', binding: { HostIp: '', HostPort: '' } }]);
    assert.deepEqual(parsePublish('127.0.0.1::80'), [{ port: '80/tcp', binding: { HostIp: '127.0.0.1', HostPort: '' } }]);
    assert.deepEqual(parsePublish('8000-8010:80'), [{ port: '80/tcp', binding: { HostIp: '', HostPort: '8000-8010' } }]);
    assert.deepEqual(parsePublish('53:53/UDP'), [{ port: '53/udp', binding: { HostIp: '', HostPort: '53' } }]);
    assert.throws(() => parsePublish('80/icmp'), /invalid proto: icmp/);
    assert.throws(() => parsePublish('1-3:1-2'), /invalid ranges/);
  });
});

describe('env files', () => {
  const lookup = (k: string): string | undefined => ({ HOME: '/root' })[k];

  it('keeps values exactly, skips comments and blanks, takes bare names from the environment', () => {
    assert.deepEqual(parseEnvFile('\ufeffA=1\n# comment\n\n  B= 2 \r\nC\nHOME\nQ="quoted"\nE=\n', 'f', lookup), ['A=1', 'B= 2 ', 'HOME=/root', 'Q="quoted"', 'E=']);
  });

  it('rejects names with spaces and lines without a name', () => {
    assert.throws(() => parseEnvFile('B =1', 'f', lookup), { message: "variable 'B ' contains whitespaces" });
    assert.throws(() => parseEnvFile('=1', 'f', lookup), { message: "no variable name on line '=1'" });
  });
});
