import { Option, type Command } from 'commander';
import type { Cli } from '../../context.js';
import { collect, passThrough, type Declarer } from './declare.js';

/** `pier run` and `pier create`: Docker's flags of a container's creation. */

const runMod = () => import('../run.js');

/** The flags `run` and `create` share; `withDetach` adds those of `run` alone (detach, signal proxy). */
function runFlags(c: Command, withDetach: boolean): Command {
  if (withDetach) {
    c.option('-d, --detach', 'Run container in background and print container ID');
    c.option('--sig-proxy', 'Proxy received signals to the process (default true)');
    c.option('--no-sig-proxy', 'Do not proxy received signals to the process');
    c.option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits');
    c.option('--detach-keys <keys>', 'Override the key sequence for detaching a container');
  } else {
    c.option('--rm', 'Automatically remove the container when it exits');
  }
  return c
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-a, --attach <stream>', 'Attach to STDIN, STDOUT or STDERR', collect)
    .option('--name <name>', 'Assign a name to the container')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <file>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('-u, --user <user>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <cmd>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-l, --label <label>', 'Set meta data on a container', collect)
    .option('--label-file <file>', 'Read in a line delimited file of labels', collect)
    .option('-m, --memory <bytes>', 'Memory limit (512m, 1g)')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--cpus <number>', 'Number of CPUs')
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <list>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('--blkio-weight <int>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable')
    .option('--device-read-bps <device:rate>', 'Limit read rate (bytes per second) from a device', collect)
    .option('--device-write-bps <device:rate>', 'Limit write rate (bytes per second) to a device', collect)
    .option('--device-read-iops <device:rate>', 'Limit read rate (IO per second) from a device', collect)
    .option('--device-write-iops <device:rate>', 'Limit write rate (IO per second) to a device', collect)
    .option('--kernel-memory <bytes>', 'Kernel memory limit (refused: not supported by the kernel)')
    .option('--memory-swappiness <int>', 'Tune container memory swappiness (0 to 100)')
    .option('--oom-kill-disable', 'Disable OOM Killer')
    .option('--oom-score-adj <int>', "Tune host's OOM preferences (-1000 to 1000)")
    .option('--ulimit <ulimit>', 'Ulimit options', collect)
    .option('--sysctl <name=value>', 'Sysctl options', collect)
    .option('--device <device>', 'Add a host device to the container', collect)
    .option('--device-cgroup-rule <rule>', 'Add a rule to the cgroup allowed devices list', collect)
    .option('--network <network>', 'Connect a container to a network (none, host, bridge, <name>)', collect)
    .option('--net <network>', 'Alias of --network', collect)
    .option('--network-alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--ip <address>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--ip6 <address>', 'IPv6 address (e.g., 2001:db8::33)')
    .option('--mac-address <address>', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)')
    .option('--restart <policy>', 'Restart policy to apply when a container exits (no, always, on-failure[:N], unless-stopped)')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--no-init', 'Run no init process (pier runs one by default)')
    .option('-h, --hostname <name>', 'Container host name')
    .option('--domainname <name>', 'Container NIS domain name')
    .option('--privileged', 'Give extended privileges to this container')
    .option('--userns <mode>', 'User namespace to use: host, or auto (a range of 65536 IDs of its own)')
    .option('--cap-add <cap>', 'Add Linux capabilities', collect)
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect)
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--stop-signal <signal>', 'Signal to stop the container')
    .option('--stop-timeout <seconds>', 'Timeout (in seconds) to stop a container')
    .option('-p, --publish <port>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--expose <port>', 'Expose a port or a range of ports', collect)
    .option('-v, --volume <spec>', 'Bind mount a volume', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--volumes-from <container>', 'Mount volumes from the specified container(s)', collect)
    .option('--volume-driver <driver>', 'Optional volume driver for the container')
    .option('--tmpfs <mount>', 'Mount a tmpfs directory', collect)
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping', collect)
    .option('--dns <ip>', 'Set custom DNS servers', collect)
    .option('--dns-search <domain>', 'Set custom DNS search domains', collect)
    .option('--dns-option <option>', 'Set DNS options', collect)
    .addOption(new Option('--dns-opt <option>', 'Set DNS options').argParser(collect).hideHelp())
    .option('--security-opt <opt>', 'Security Options', collect)
    .option('--group-add <group>', 'Add additional groups to join', collect)
    .option('--log-driver <driver>', 'Logging driver for the container')
    .option('--log-opt <opt>', 'Log driver options', collect)
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .addOption(new Option('--pull <policy>', 'Pull image before running').choices(['always', 'missing', 'never']).default('missing'));
}

/** `--network` with its alias `--net`, and `--dns-option` with its alias `--dns-opt`, each as one list (undefined when empty). */
function mergeNet(flags: Record<string, unknown>): Record<string, unknown> {
  const net = [...((flags.network as string[] | undefined) ?? []), ...((flags.net as string[] | undefined) ?? [])];
  const dnsOption = [...((flags.dnsOption as string[] | undefined) ?? []), ...((flags.dnsOpt as string[] | undefined) ?? [])];
  return { ...flags, network: net.length ? net : undefined, dnsOption: dnsOption.length ? dnsOption : undefined };
}

export function defRun(d: Declarer, parent: Command): void {
  const c = parent
    .command('run')
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .description('Create and run a new container from an image')
    .helpOption('--help', 'Print usage')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();
  passThrough.add(c);
  runFlags(c, true).action(
    d.act(runMod, (m) => ((cli: Cli, image: string, command: string[], flags: Record<string, unknown>) => m.run(cli, image, command, mergeNet(flags))), {
      runLike: true,
    }),
  );
}

export function defCreate(d: Declarer, parent: Command): void {
  const c = parent
    .command('create')
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .description('Create a new container')
    .helpOption('--help', 'Print usage')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();
  passThrough.add(c);
  runFlags(c, false).action(
    d.act(runMod, (m) => ((cli: Cli, image: string, command: string[], flags: Record<string, unknown>) => m.create(cli, image, command, mergeNet(flags))), {
      runLike: true,
    }),
  );
}
