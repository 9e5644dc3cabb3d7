import { Command, CommanderError, Option } from 'commander';
import { CLIENT_VERSION } from '../client/client.js';
import { Cli, processIo, type GlobalOptions, type Io } from './context.js';
import { CliError, reportOf } from './errors.js';

/**
 * The `pier` command line: Docker's commands, flags and output over the Docker Engine API.
 * This module only declares commands and flags; each command's code is imported when it
 * runs, so `pier run` loads little more than commander, the client and the run code.
 *
 * `main` never exits the process and never throws: it resolves with the exit code, having
 * written any error to stderr in Docker's words.
 */

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

type Handler = (cli: Cli, ...args: never[]) => Promise<number>;

interface Runner {
  /** Set by an action: the command's exit code. */
  code: number;
  /** The command being run, for error messages (`run`, `container ls`). */
  command: string | undefined;
  /** Whether failures before the container started exit 125 (run, create). */
  runLike: boolean;
  cli: Cli | undefined;
}

/** Commands whose options end at the first argument (`run IMAGE ls -l`). */
const passThrough = new WeakSet<Command>();

/** The command closest to `word` (at most 2 edits away, or sharing its first 3 letters as a prefix), if any. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = name.startsWith(word.slice(0, 3)) && word.length >= 3 ? Math.min(editDistance(word, name), 2) : editDistance(word, name);
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The command named on the command line: the first word after the global flags. */
function firstCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * Build the program (only `commandName` when it is one); actions call `load()` for their
 * module, then the named handler.
 */
function buildProgram(io: Io, runner: Runner, commandName: string | undefined): Command {
  const program = new Command('pier');
  program
    .usage('[OPTIONS] COMMAND')
    .description('A self-sufficient runtime for containers (Docker-compatible CLI of pier)')
    .enablePositionalOptions()
    .option('-H, --host <host>', 'Daemon socket to connect to (default: $PIER_HOST, $DOCKER_HOST, unix:///run/pier/pier.sock)')
    .option('-D, --debug', 'Enable debug mode')
    .option('-v, --version', 'Print version information and quit')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`pier: ${s.replace(/^error: /, '')}`),
    })
    .argument('[command]')
    .action((command: string | undefined, opts: { version?: boolean }) => {
      if (command !== undefined) {
        const near = nearest(command, program.commands.map((c) => c.name()));
        throw new CliError(`pier: '${command}' is not a pier command.${near ? `\n\nDid you mean this?\n\t${near}\n` : ''}\nSee 'pier --help'`, 1);
      }
      if (opts.version) io.stdout.write(`pier version ${CLIENT_VERSION}\n`);
      else program.outputHelp();
    });

  /** Wrap a lazily loaded handler as a commander action. */
  const act =
    <M>(load: () => Promise<M>, pick: (m: M) => Handler, opts: { runLike?: boolean } = {}) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const cli = new Cli(io, program.opts<GlobalOptions>());
      runner.cli = cli;
      runner.command = commandPath(cmd);
      runner.runLike = !!opts.runLike;
      const handler = pick(await load());
      // commander passes (...arguments, options, command); handlers take (cli, ...arguments, options)
      runner.code = await (handler as (cli: Cli, ...a: unknown[]) => Promise<number>)(cli, ...args.slice(0, -1));
    };

  const containers = () => import('./commands/containers.js');
  const runMod = () => import('./commands/run.js');
  const imagesMod = () => import('./commands/images.js');
  const system = () => import('./commands/system.js');
  const networkMod = () => import('./commands/network.js');
  const volumeMod = () => import('./commands/volume.js');
  const distributionMod = () => import('./commands/distribution.js');

  // ------------------------------------------------------------ containers

  const runFlags = (c: Command, withDetach: boolean): Command => {
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
  };

  const mergeNet = (flags: Record<string, unknown>): Record<string, unknown> => {
    const net = [...((flags.network as string[] | undefined) ?? []), ...((flags.net as string[] | undefined) ?? [])];
    const dnsOption = [...((flags.dnsOption as string[] | undefined) ?? []), ...((flags.dnsOpt as string[] | undefined) ?? [])];
    return { ...flags, network: net.length ? net : undefined, dnsOption: dnsOption.length ? dnsOption : undefined };
  };

  const defRun = (parent: Command): void => {
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
      act(runMod, (m) => ((cli: Cli, image: string, command: string[], flags: Record<string, unknown>) => m.run(cli, image, command, mergeNet(flags))), {
        runLike: true,
      }),
    );
  };
  const defCreate = (parent: Command): void => {
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
      act(runMod, (m) => ((cli: Cli, image: string, command: string[], flags: Record<string, unknown>) => m.create(cli, image, command, mergeNet(flags))), {
        runLike: true,
      }),
    );
  };
  const defExec = (parent: Command): void => {
    const c = parent
      .command('exec')
      .usage('[OPTIONS] CONTAINER COMMAND [ARG...]')
      .description('Execute a command in a running container')
      .argument('<container>')
      .argument('<command...>')
      .passThroughOptions()
      .option('-d, --detach', 'Detached mode: run command in the background')
      .option('-i, --interactive', 'Keep STDIN open even if not attached')
      .option('-t, --tty', 'Allocate a pseudo-TTY')
      .option('-e, --env <list>', 'Set environment variables', collect)
      .option('--env-file <file>', 'Read in a file of environment variables', collect)
      .option('-w, --workdir <dir>', 'Working directory inside the container')
      .option('-u, --user <user>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
      .option('--privileged', 'Give extended privileges to the command')
      .option('--detach-keys <keys>', 'Override the key sequence for detaching a container');
    passThrough.add(c);
    c.action(act(() => import('./commands/exec.js'), (m) => m.exec as Handler));
  };
  const monitorMod = () => import('./commands/monitor.js');
  const defTop = (parent: Command): void => {
    const c = parent
      .command('top')
      .usage('CONTAINER [ps OPTIONS]')
      .description('Display the running processes of a container')
      .argument('<container>')
      .argument('[psOptions...]')
      .passThroughOptions()
      .allowUnknownOption();
    passThrough.add(c);
    c.action(act(monitorMod, (m) => m.top as Handler));
  };
  const defStats = (parent: Command): void => {
    parent
      .command('stats')
      .usage('[OPTIONS] [CONTAINER...]')
      .description('Display a live stream of container(s) resource usage statistics')
      .argument('[containers...]')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('--no-stream', 'Disable streaming stats and only pull the first result')
      .option('--no-trunc', 'Do not truncate output')
      .option('--format <string>', 'Format output using a custom template')
      .action(act(monitorMod, (m) => ((cli: Cli, names: string[], o: { all?: boolean; stream?: boolean; format?: string }) => m.stats(cli, names, { ...o, noStream: o.stream === false }))));
  };
  const defUpdate = (parent: Command): void => {
    parent
      .command('update')
      .usage('[OPTIONS] CONTAINER [CONTAINER...]')
      .description('Update configuration of one or more containers')
      .argument('<containers...>')
      .option('-m, --memory <bytes>', 'Memory limit')
      .option('--memory-reservation <bytes>', 'Memory soft limit')
      .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
      .option('--cpus <number>', 'Number of CPUs')
      .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
      .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
      .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
      .option('--cpuset-cpus <cpus>', 'CPUs in which to allow execution (0-3, 0,1)')
      .option('--cpuset-mems <mems>', 'MEMs in which to allow execution (0-3, 0,1)')
      .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
      .option('--blkio-weight <int>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable')
      .option('--restart <policy>', 'Restart policy to apply when a container exits')
      .action(act(monitorMod, (m) => m.update as Handler));
  };
  const defStart = (parent: Command): void => {
    parent
      .command('start')
      .usage('[OPTIONS] CONTAINER [CONTAINER...]')
      .description('Start one or more stopped containers')
      .argument('<containers...>')
      .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
      .option('-i, --interactive', "Attach container's STDIN")
      .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
      .action(act(containers, (m) => m.start as Handler));
  };
  const defAttach = (parent: Command): void => {
    parent
      .command('attach')
      .usage('[OPTIONS] CONTAINER')
      .description("Attach local standard input, output, and error streams to a running container")
      .argument('<container>')
      .option('--no-stdin', 'Do not attach STDIN')
      .option('--sig-proxy', 'Proxy all received signals to the process (default true)')
      .option('--no-sig-proxy', 'Do not proxy received signals to the process')
      .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
      .action(act(containers, (m) => m.attach as Handler));
  };
  const defStop = (parent: Command, name: 'stop' | 'restart'): void => {
    parent
      .command(name)
      .usage('[OPTIONS] CONTAINER [CONTAINER...]')
      .description(name === 'stop' ? 'Stop one or more running containers' : 'Restart one or more containers')
      .argument('<containers...>')
      .option('-s, --signal <signal>', 'Signal to send to the container')
      .option('-t, --time <seconds>', 'Seconds to wait before killing the container')
      .addOption(new Option('--timeout <seconds>').hideHelp())
      .action(
        act(containers, (m) =>
          ((cli: Cli, names: string[], o: { time?: string; timeout?: string; signal?: string }) =>
            (name === 'stop' ? m.stop : m.restart)(cli, names, { time: o.time ?? o.timeout, signal: o.signal })),
        ),
      );
  };
  const defKill = (parent: Command): void => {
    parent
      .command('kill')
      .usage('[OPTIONS] CONTAINER [CONTAINER...]')
      .description('Kill one or more running containers')
      .argument('<containers...>')
      .option('-s, --signal <signal>', 'Signal to send to the container')
      .action(act(containers, (m) => m.kill as Handler));
  };
  const defRm = (parent: Command, name: string, alias?: string): void => {
    const c = parent
      .command(name)
      .usage('[OPTIONS] CONTAINER [CONTAINER...]')
      .description('Remove one or more containers')
      .argument('<containers...>')
      .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
      .option('-l, --link', 'Remove the specified link')
      .action(act(containers, (m) => m.rm as Handler));
    if (alias) c.alias(alias);
  };
  const defPs = (parent: Command, name: string, aliases: string[] = []): void => {
    parent
      .command(name)
      .aliases(aliases)
      .usage('[OPTIONS]')
      .description('List containers')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('-q, --quiet', 'Only display container IDs')
      .option('-n, --last <int>', 'Show n last created containers (includes all states)')
      .option('-l, --latest', 'Show the latest created container (includes all states)')
      .option('-s, --size', 'Display total file sizes')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--no-trunc', "Don't truncate output")
      .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
      .action(act(containers, (m) => ((cli: Cli, o: Record<string, unknown>) => m.ps(cli, { ...o, noTrunc: o.trunc === false }))));
  };
  const defLogs = (parent: Command): void => {
    parent
      .command('logs')
      .usage('[OPTIONS] CONTAINER')
      .description('Fetch the logs of a container')
      .argument('<container>')
      .option('-f, --follow', 'Follow log output')
      .option('-t, --timestamps', 'Show timestamps')
      .option('-n, --tail <lines>', 'Number of lines to show from the end of the logs', 'all')
      .option('--since <time>', 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
      .option('--until <time>', 'Show logs before a timestamp or relative')
      .option('--details', 'Show extra details provided to logs')
      .action(act(containers, (m) => m.logs as Handler));
  };
  const defWait = (parent: Command): void => {
    parent
      .command('wait')
      .usage('CONTAINER [CONTAINER...]')
      .description('Block until one or more containers stop, then print their exit codes')
      .argument('<containers...>')
      .action(act(containers, (m) => m.wait as Handler));
  };
  const defInspect = (parent: Command, typed?: 'container' | 'image'): void => {
    const c = parent
      .command('inspect')
      .usage('[OPTIONS] NAME|ID [NAME|ID...]')
      .description(typed ? `Display detailed information on one or more ${typed}s` : 'Return low-level information on Docker objects')
      .argument('<names...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes if the type is container');
    if (!typed) c.option('--type <type>', 'Return JSON for specified type');
    c.action(act(containers, (m) => ((cli: Cli, names: string[], o: { format?: string; type?: string; size?: boolean }) => m.inspect(cli, names, { ...o, type: typed ?? o.type }))));
  };
  const defRename = (parent: Command): void => {
    parent
      .command('rename')
      .usage('CONTAINER NEW_NAME')
      .description('Rename a container')
      .argument('<container>')
      .argument('<newName>')
      .action(act(containers, (m) => m.rename as Handler));
  };
  const defContainerPrune = (parent: Command): void => {
    parent
      .command('prune')
      .usage('[OPTIONS]')
      .description('Remove all stopped containers')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
      .action(act(containers, (m) => m.prune as Handler));
  };

  // ------------------------------------------------------------ images

  const defImages = (parent: Command, name: string, aliases: string[] = []): void => {
    parent
      .command(name)
      .aliases(aliases)
      .usage('[OPTIONS] [REPOSITORY[:TAG]]')
      .description('List images')
      .argument('[repository]')
      .option('-a, --all', 'Show all images (default hides intermediate images)')
      .option('-q, --quiet', 'Only show image IDs')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--digests', 'Show digests')
      .option('--no-trunc', "Don't truncate output")
      .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
      .action(
        act(imagesMod, (m) => ((cli: Cli, repo: string | undefined, o: Record<string, unknown>) => m.images(cli, repo, { ...o, noTrunc: o.trunc === false }))),
      );
  };
  const defRmi = (parent: Command, name: string, aliases: string[] = []): void => {
    parent
      .command(name)
      .aliases(aliases)
      .usage('[OPTIONS] IMAGE [IMAGE...]')
      .description('Remove one or more images')
      .argument('<images...>')
      .option('-f, --force', 'Force removal of the image')
      .option('--no-prune', 'Do not delete untagged parents')
      .action(act(imagesMod, (m) => m.rmi as Handler));
  };
  const defTag = (parent: Command): void => {
    parent
      .command('tag')
      .usage('SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')
      .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
      .argument('<source>')
      .argument('<target>')
      .action(act(imagesMod, (m) => m.tag as Handler));
  };
  const defHistory = (parent: Command): void => {
    parent
      .command('history')
      .usage('[OPTIONS] IMAGE')
      .description('Show the history of an image')
      .helpOption('--help', 'Print usage')
      .argument('<image>')
      .option('-H, --human', 'Print sizes and dates in human readable format (default true)')
      .option('--no-human', 'Print sizes and dates as raw values')
      .option('--no-trunc', "Don't truncate output")
      .option('-q, --quiet', 'Only show image IDs')
      .option('--format <string>', 'Format output using a custom template')
      .action(
        act(imagesMod, (m) => ((cli: Cli, image: string, o: Record<string, unknown>) => m.history(cli, image, { ...o, human: o.human !== false, noTrunc: o.trunc === false }))),
      );
  };
  const defPull = (parent: Command): void => {
    parent
      .command('pull')
      .usage('[OPTIONS] NAME[:TAG|@DIGEST]')
      .description('Download an image from a registry')
      .argument('<image>')
      .option('-a, --all-tags', 'Download all tagged images in the repository')
      .option('--platform <platform>', 'Set platform if server is multi-platform capable')
      .option('-q, --quiet', 'Suppress verbose output')
      .action(act(distributionMod, (m) => m.pull as Handler));
  };
  const defPush = (parent: Command): void => {
    parent
      .command('push')
      .usage('[OPTIONS] NAME[:TAG]')
      .description('Upload an image to a registry')
      .argument('<image>')
      .option('-a, --all-tags', 'Push all tags of an image to the repository')
      .option('-q, --quiet', 'Suppress verbose output')
      .action(act(distributionMod, (m) => m.push as Handler));
  };
  const defLogin = (parent: Command): void => {
    parent
      .command('login')
      .usage('[OPTIONS] [SERVER]')
      .description('Authenticate to a registry (credentials are kept in Docker\'s config.json)')
      .argument('[server]')
      .option('-u, --username <username>', 'Username')
      .option('-p, --password <password>', 'Password')
      .option('--password-stdin', 'Take the password from stdin')
      .action(act(distributionMod, (m) => m.login as Handler));
  };
  const defLogout = (parent: Command): void => {
    parent
      .command('logout')
      .usage('[SERVER]')
      .description('Log out from a registry')
      .argument('[server]')
      .action(act(distributionMod, (m) => m.logout as Handler));
  };
  const defVersions = (parent: Command): void => {
    parent
      .command('versions')
      .usage('[OPTIONS] NAME[:TAG]')
      .description('List the images a tag pointed to, newest first (pier)')
      .argument('<image>')
      .option('-q, --quiet', 'Only show image IDs')
      .option('--no-trunc', "Don't truncate output")
      .action(
        act(distributionMod, (m) => ((cli: Cli, image: string, o: Record<string, unknown>) => m.versions(cli, image, { quiet: !!o.quiet, noTrunc: o.trunc === false }))),
      );
  };
  const defRollback = (parent: Command): void => {
    parent
      .command('rollback')
      .usage('[OPTIONS] NAME[:TAG]')
      .description('Move a tag back to a previous version (pier)')
      .argument('<image>')
      .option('--to <version>', 'A version number or image ID (default: the version before the current one)')
      .action(act(distributionMod, (m) => m.rollback as Handler));
  };
  const defImport = (parent: Command): void => {
    parent
      .command('import')
      .usage('[OPTIONS] file|URL|- [REPOSITORY[:TAG]]')
      .description('Import the contents from a tarball to create a filesystem image')
      .argument('<source>')
      .argument('[repository]')
      .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-m, --message <message>', 'Set commit message for imported image')
      .option('--platform <platform>', 'Set platform if server is multi-platform capable')
      .action(act(imagesMod, (m) => m.importImage as Handler));
  };
  const buildMod = () => import('./commands/build.js');
  const defBuild = (parent: Command): void => {
    parent
      .command('build')
      .usage('[OPTIONS] PATH | -')
      .description('Build an image from a Dockerfile')
      .argument('<path>')
      .option('-t, --tag <name>', "Name and optionally a tag in the 'name:tag' format", collect)
      .option('-f, --file <file>', "Name of the Dockerfile (default: 'PATH/Dockerfile')")
      .option('--build-arg <arg>', 'Set build-time variables', collect)
      .option('--target <stage>', 'Set the target build stage to build')
      .option('--no-cache', 'Do not use cache when building the image')
      .option('--pull', 'Always attempt to pull a newer version of the image')
      .option('--iidfile <file>', 'Write the image ID to the file')
      .option('-q, --quiet', 'Suppress the build output and print image ID on success')
      .option('--progress <type>', 'Set type of progress output (auto, plain, tty, rawjson)', 'auto')
      .option('--label <label>', 'Set metadata for an image', collect)
      .option('--secret <spec>', 'Secret to expose to the build (id=mysecret,src=/local/secret)', collect)
      .option('--network <mode>', 'Set the networking mode for the RUN instructions during build (default, none, host)')
      .action(act(buildMod, (m) => m.build as Handler));
  };
  const defCommit = (parent: Command): void => {
    parent
      .command('commit')
      .usage('[OPTIONS] CONTAINER [REPOSITORY[:TAG]]')
      .description("Create a new image from a container's changes")
      .argument('<container>')
      .argument('[repository]')
      .option('-a, --author <author>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
      .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
      .option('-m, --message <message>', 'Commit message')
      .option('-p, --pause', 'Pause container during commit (default true)')
      .option('--no-pause', 'Do not pause the container during commit')
      .action(act(buildMod, (m) => m.commit as Handler));
  };
  const defLoad = (parent: Command): void => {
    parent
      .command('load')
      .usage('[OPTIONS]')
      .description('Load an image from a tar archive or STDIN')
      .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'Suppress the load output')
      .action(act(imagesMod, (m) => m.load as Handler));
  };
  const defSave = (parent: Command): void => {
    parent
      .command('save')
      .usage('[OPTIONS] IMAGE [IMAGE...]')
      .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
      .argument('<images...>')
      .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
      .action(act(imagesMod, (m) => m.save as Handler));
  };
  const defImagePrune = (parent: Command): void => {
    parent
      .command('prune')
      .usage('[OPTIONS]')
      .description('Remove unused images')
      .option('-a, --all', 'Remove all unused images, not just dangling ones')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
      .action(act(imagesMod, (m) => m.imagePrune as Handler));
  };

  // ------------------------------------------------------------ system

  const defEvents = (parent: Command): void => {
    parent
      .command('events')
      .usage('[OPTIONS]')
      .description('Get real time events from the server')
      .option('--since <time>', 'Show all events created since timestamp')
      .option('--until <time>', 'Stream events until this timestamp')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
      .option('--format <string>', 'Format output using a custom template')
      .action(act(system, (m) => m.events as Handler));
  };
  const defInfo = (parent: Command): void => {
    parent
      .command('info')
      .usage('[OPTIONS]')
      .description('Display system-wide information')
      .option('-f, --format <string>', 'Format output using a custom template')
      .action(act(system, (m) => m.info as Handler));
  };

  // ------------------------------------------------------------ networks

  const defNetwork = (): void => {
    const network = program.command('network').usage('COMMAND').description('Manage networks');
    nameCommands(network);
    network
      .command('create')
      .usage('[OPTIONS] NETWORK')
      .description('Create a network')
      .argument('<network>')
      .option('--attachable', 'Enable manual container attachment')
      .option('--aux-address <name=ip>', 'Auxiliary IPv4 or IPv6 addresses used by Network driver', collect)
      .option('--config-from <network>', 'The network from which to copy the configuration')
      .option('--config-only', 'Create a configuration only network')
      .option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge')
      .option('--gateway <ip>', 'IPv4 or IPv6 Gateway for the master subnet', collect)
      .option('--ingress', 'Create swarm routing-mesh network')
      .option('--internal', 'Restrict external access to the network')
      .option('--ip-range <range>', 'Allocate container ip from a sub-range', collect)
      .option('--ipam-driver <driver>', 'IP Address Management Driver', 'default')
      .option('--ipam-opt <opt>', 'Set IPAM driver specific options', collect)
      .option('--ipv4', 'Enable or disable IPv4 address assignment (default true)')
      .option('--no-ipv4', 'Disable IPv4 address assignment')
      .option('--ipv6', 'Enable or disable IPv6 address assignment')
      .option('--label <label>', 'Set metadata on a network', collect)
      .option('-o, --opt <opt>', 'Set driver specific options', collect)
      .option('--scope <scope>', "Control the network's scope")
      .option('--subnet <subnet>', 'Subnet in CIDR format that represents a network segment', collect)
      .action(act(networkMod, (m) => m.networkCreate as Handler));
    network
      .command('ls')
      .aliases(['list'])
      .usage('[OPTIONS]')
      .description('List networks')
      .option('-f, --filter <filter>', "Provide filter values (e.g. 'driver=bridge')", collect)
      .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
      .option('--no-trunc', 'Do not truncate the output')
      .option('-q, --quiet', 'Only display network IDs')
      .action(act(networkMod, (m) => ((cli: Cli, o: Record<string, unknown>) => m.networkLs(cli, { ...o, noTrunc: o.trunc === false }))));
    network
      .command('inspect')
      .usage('[OPTIONS] NETWORK [NETWORK...]')
      .description('Display detailed information on one or more networks')
      .argument('<networks...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .option('-v, --verbose', 'Verbose output for diagnostics')
      .action(act(networkMod, (m) => m.networkInspect as Handler));
    network
      .command('rm')
      .aliases(['remove'])
      .usage('NETWORK [NETWORK...]')
      .description('Remove one or more networks')
      .argument('<networks...>')
      .option('-f, --force', 'Do not error if the network does not exist')
      .action(act(networkMod, (m) => m.networkRm as Handler));
    network
      .command('prune')
      .usage('[OPTIONS]')
      .description('Remove all unused networks')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
      .action(act(networkMod, (m) => m.networkPrune as Handler));
    network
      .command('connect')
      .usage('[OPTIONS] NETWORK CONTAINER')
      .description('Connect a container to a network')
      .argument('<network>')
      .argument('<container>')
      .option('--alias <alias>', 'Add network-scoped alias for the container', collect)
      .option('--driver-opt <opt>', 'driver options for the network', collect)
      .option('--ip <address>', 'IPv4 address (e.g., "172.30.100.104")')
      .option('--ip6 <address>', 'IPv6 address (e.g., "2001:db8::33")')
      .option('--link <link>', 'Add link to another container', collect)
      .option('--link-local-ip <address>', 'Add a link-local address for the container', collect)
      .action(act(networkMod, (m) => m.networkConnect as Handler));
    network
      .command('disconnect')
      .usage('[OPTIONS] NETWORK CONTAINER')
      .description('Disconnect a container from a network')
      .argument('<network>')
      .argument('<container>')
      .option('-f, --force', 'Force the container to disconnect from a network')
      .action(act(networkMod, (m) => m.networkDisconnect as Handler));
  };
  const archiveMod = () => import('./commands/archive.js');
  const defCp = (parent: Command): void => {
    parent
      .command('cp')
      .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       pier cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
      .description('Copy files/folders between a container and the local filesystem')
      .argument('<source>')
      .argument('<destination>')
      .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'Always follow symlinks in SRC_PATH')
      .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
      .action(act(archiveMod, (m) => m.cp as Handler));
  };
  const defDiff = (parent: Command): void => {
    parent
      .command('diff')
      .usage('CONTAINER')
      .description("Inspect changes to files or directories on a container's filesystem")
      .argument('<container>')
      .action(act(archiveMod, (m) => m.diff as Handler));
  };
  const defExport = (parent: Command): void => {
    parent
      .command('export')
      .usage('[OPTIONS] CONTAINER')
      .description("Export a container's filesystem as a tar archive")
      .argument('<container>')
      .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
      .action(act(archiveMod, (m) => m.exportContainer as Handler));
  };
  // ------------------------------------------------------------ volumes

  const defVolume = (): void => {
    const volume = program.command('volume').usage('COMMAND').description('Manage volumes');
    nameCommands(volume);
    volume
      .command('create')
      .usage('[OPTIONS] [VOLUME]')
      .description('Create a volume')
      .argument('[volume]')
      .option('-d, --driver <driver>', 'Specify volume driver name', 'local')
      .option('--label <label>', 'Set metadata for a volume', collect)
      .option('-o, --opt <opt>', 'Set driver specific options', collect)
      .addOption(new Option('--name <name>', 'Specify volume name').hideHelp())
      .action(act(volumeMod, (m) => m.volumeCreate as Handler));
    volume
      .command('ls')
      .aliases(['list'])
      .usage('[OPTIONS]')
      .description('List volumes')
      .option('--cluster', 'Display only cluster volumes, and use cluster volume list formatting')
      .option('-f, --filter <filter>', "Provide filter values (e.g. 'dangling=true')", collect)
      .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
      .option('-q, --quiet', 'Only display volume names')
      .action(act(volumeMod, (m) => m.volumeLs as Handler));
    volume
      .command('inspect')
      .usage('[OPTIONS] VOLUME [VOLUME...]')
      .description('Display detailed information on one or more volumes')
      .argument('<volumes...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .action(act(volumeMod, (m) => m.volumeInspect as Handler));
    volume
      .command('rm')
      .aliases(['remove'])
      .usage('[OPTIONS] VOLUME [VOLUME...]')
      .description('Remove one or more volumes')
      .argument('<volumes...>')
      .option('-f, --force', 'Force the removal of one or more volumes')
      .action(act(volumeMod, (m) => m.volumeRm as Handler));
    volume
      .command('prune')
      .usage('[OPTIONS]')
      .description('Remove unused local volumes')
      .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
      .option('--filter <filter>', "Provide filter values (e.g. 'label=<label>')", collect)
      .option('-f, --force', 'Do not prompt for confirmation')
      .action(act(volumeMod, (m) => m.volumePrune as Handler));
  };

  const defPort = (parent: Command): void => {
    parent
      .command('port')
      .usage('CONTAINER [PRIVATE_PORT[/PROTO]]')
      .description('List port mappings or a specific mapping for the container')
      .argument('<container>')
      .argument('[privatePort]')
      .action(act(networkMod, (m) => ((cli: Cli, container: string, privatePort: string | undefined) => m.port(cli, container, privatePort))));
  };

  const nameCommands = (group: Command): void => {
    // Name the command being parsed, for `See 'pier container ls --help'.` after a flag error.
    group.hook('preSubcommand', (_parent, sub) => {
      runner.command = commandPath(sub);
    });
  };
  nameCommands(program);

  // Top-level commands as `docker` has them, then the management commands. Only the one
  // named on the command line is declared (declaring all ~80 costs milliseconds at every
  // start); all of them for help or an unknown name.
  const topLevel: Record<string, () => void> = {
    run: () => defRun(program),
    create: () => defCreate(program),
    exec: () => defExec(program),
    start: () => defStart(program),
    attach: () => defAttach(program),
    stop: () => defStop(program, 'stop'),
    restart: () => defStop(program, 'restart'),
    kill: () => defKill(program),
    rm: () => defRm(program, 'rm'),
    ps: () => defPs(program, 'ps'),
    logs: () => defLogs(program),
    wait: () => defWait(program),
    inspect: () => defInspect(program),
    rename: () => defRename(program),
    top: () => defTop(program),
    stats: () => defStats(program),
    update: () => defUpdate(program),
    images: () => defImages(program, 'images'),
    rmi: () => defRmi(program, 'rmi'),
    tag: () => defTag(program),
    history: () => defHistory(program),
    pull: () => defPull(program),
    push: () => defPush(program),
    login: () => defLogin(program),
    logout: () => defLogout(program),
    import: () => defImport(program),
    load: () => defLoad(program),
    save: () => defSave(program),
    build: () => defBuild(program),
    builder: () => {
      const builder = program.command('builder').usage('COMMAND').description('Manage builds');
      nameCommands(builder);
      builder
        .command('prune')
        .usage('[OPTIONS]')
        .description('Remove build cache')
        .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
        .option('-f, --force', 'Do not prompt for confirmation')
        .action(act(buildMod, (m) => m.builderPrune));
    },
    commit: () => defCommit(program),
    events: () => defEvents(program),
    info: () => defInfo(program),
    port: () => defPort(program),
    cp: () => defCp(program),
    diff: () => defDiff(program),
    export: () => defExport(program),
    network: () => defNetwork(),
    volume: () => defVolume(),
    version: () => {
      program
        .command('version')
        .usage('[OPTIONS]')
        .description('Show the pier version information')
        .option('-f, --format <string>', 'Format output using a custom template')
        .action(act(system, (m) => m.version as Handler));
    },
    container: () => {
      const container = program.command('container').usage('COMMAND').description('Manage containers');
      nameCommands(container);
      defRun(container);
      defCreate(container);
      defExec(container);
      defStart(container);
      defAttach(container);
      defStop(container, 'stop');
      defStop(container, 'restart');
      defKill(container);
      defRm(container, 'rm', 'remove');
      defPs(container, 'ls', ['list', 'ps']);
      defLogs(container);
      defWait(container);
      defInspect(container, 'container');
      defRename(container);
      defContainerPrune(container);
      defTop(container);
      defStats(container);
      defUpdate(container);
      defCommit(container);
      defPort(container);
      defCp(container);
      defDiff(container);
      defExport(container);
    },
    image: () => {
      const image = program.command('image').usage('COMMAND').description('Manage images');
      nameCommands(image);
      defImages(image, 'ls', ['list']);
      defInspect(image, 'image');
      defRmi(image, 'rm', ['remove']);
      defTag(image);
      defHistory(image);
      defPull(image);
      defPush(image);
      defVersions(image);
      defRollback(image);
      defImport(image);
      defLoad(image);
      defSave(image);
      defImagePrune(image);
      defBuild(image);
    },
    system: () => {
      const sys = program.command('system').usage('COMMAND').description('Manage pier');
      nameCommands(sys);
      defInfo(sys);
      defEvents(sys);
      sys
        .command('df')
        .usage('[OPTIONS]')
        .description('Show docker disk usage')
        .option('-v, --verbose', 'Show detailed information on space usage')
        .option('--format <string>', 'Format output using a custom template')
        .action(act(monitorMod, (m) => m.systemDf as Handler));
      sys
        .command('prune')
        .usage('[OPTIONS]')
        .description('Remove unused data')
        .option('-a, --all', 'Remove all unused images not just dangling ones')
        .option('-f, --force', 'Do not prompt for confirmation')
        .option('--filter <filter>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
        .action(act(system, (m) => m.systemPrune as Handler));
    },
  };
  const only = commandName !== undefined && Object.hasOwn(topLevel, commandName) ? topLevel[commandName] : undefined;
  if (only) only();
  else for (const define of Object.values(topLevel)) define();
  return program;
}

// ------------------------------------------------------------ argument normalization

function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.short === flag || o.long === flag);
}

const takesValue = (o: Option): boolean => o.required || o.optional;

/**
 * Docker's flag library accepts `--rm=false`, `--sig-proxy=false`, `-e=A=1`; commander does
 * not. Rewrite them: `--x=true` → `--x`, `--x=false` → `--no-x` (or nothing when false is
 * the default), `-e=A=1` → `-e A=1`. Arguments after a `run`/`create` image are the
 * container's own and are left alone.
 */
export function normalizeArgs(program: Command, argv: string[]): string[] {
  const out: string[] = [];
  let cmd = program;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(0, eq) : a;
      const opt = findOption(cmd, name);
      if (opt && eq > 0 && !takesValue(opt)) {
        const v = a.slice(eq + 1).toLowerCase();
        if (v === 'true' || v === '1') out.push(name);
        else if (v === 'false' || v === '0') {
          const negation = opt.long && !opt.negate ? findOption(cmd, opt.long.replace(/^--/, '--no-')) : undefined;
          if (negation) out.push(negation.long!);
        } else out.push(a);
        continue;
      }
      if (opt && eq > 0 && !a.startsWith('--')) {
        out.push(name, a.slice(eq + 1));
        continue;
      }
      out.push(a);
      if (opt && eq < 0 && takesValue(opt) && i + 1 < argv.length) out.push(argv[++i]!);
      else if (!opt && /^-[a-zA-Z]{2,}$/.test(a)) {
        // combined short flags (`-it`, `-dp 80:80`): a last flag that takes a value takes the next word
        const last = findOption(cmd, `-${a[a.length - 1]}`);
        if (last && takesValue(last) && i + 1 < argv.length) out.push(argv[++i]!);
      }
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    out.push(a);
    if (sub) {
      cmd = sub;
      continue;
    }
    if (passThrough.has(cmd)) {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}

// ------------------------------------------------------------ entry points

const USAGE_CODES = new Set(['commander.missingArgument', 'commander.excessArguments', 'commander.unknownCommand']);

/** Run the CLI with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const runner: Runner = { code: 0, command: undefined, runLike: false, cli: undefined };
  const program = buildProgram(io, runner, firstCommand(argv));
  try {
    await program.parseAsync(normalizeArgs(program, argv), { from: 'user' });
    return runner.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      io.stderr.write(`See 'pier${runner.command ? ` ${runner.command}` : ''} --help'.\n`);
      return USAGE_CODES.has(err.code) ? 1 : 125;
    }
    const { code, message } = reportOf(err, runner.command, runner.runLike);
    if (message !== undefined) io.stderr.write(`${message}\n`);
    if (runner.cli?.globals.debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return code;
  } finally {
    runner.cli?.close();
  }
}

/** The process entry of `bin/pier`: run, flush, exit with the code. */
export async function runProcess(): Promise<void> {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // A closed pipe (`pier ps | head -1`) ends the command quietly, as Docker's does.
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
