import { Option, type Command } from 'commander';
import type { Cli } from '../../context.js';
import { collect, type Declarer, type Handler } from './declare.js';
import { defCp, defDiff, defExport } from './archive.js';
import { defCommit } from './build.js';
import { defExec } from './exec.js';
import { defStats, defTop, defUpdate } from './monitor.js';
import { defPort } from './network.js';
import { defCreate, defRun } from './run.js';

/** A container's lifecycle and records: `start` to `prune`, and the `container` management command. */

const containers = () => import('../containers.js');

export function defStart(d: Declarer, parent: Command): void {
  parent
    .command('start')
    .usage('[OPTIONS] CONTAINER [CONTAINER...]')
    .description('Start one or more stopped containers')
    .argument('<containers...>')
    .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .action(d.act(containers, (m) => m.start as Handler));
}

export function defAttach(d: Declarer, parent: Command): void {
  parent
    .command('attach')
    .usage('[OPTIONS] CONTAINER')
    .description("Attach local standard input, output, and error streams to a running container")
    .argument('<container>')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--sig-proxy', 'Proxy all received signals to the process (default true)')
    .option('--no-sig-proxy', 'Do not proxy received signals to the process')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .action(d.act(containers, (m) => m.attach as Handler));
}

export function defStop(d: Declarer, parent: Command, name: 'stop' | 'restart'): void {
  parent
    .command(name)
    .usage('[OPTIONS] CONTAINER [CONTAINER...]')
    .description(name === 'stop' ? 'Stop one or more running containers' : 'Restart one or more containers')
    .argument('<containers...>')
    .option('-s, --signal <signal>', 'Signal to send to the container')
    .option('-t, --time <seconds>', 'Seconds to wait before killing the container')
    .addOption(new Option('--timeout <seconds>').hideHelp())
    .action(
      d.act(containers, (m) =>
        ((cli: Cli, names: string[], o: { time?: string; timeout?: string; signal?: string }) =>
          (name === 'stop' ? m.stop : m.restart)(cli, names, { time: o.time ?? o.timeout, signal: o.signal })),
      ),
    );
}

export function defKill(d: Declarer, parent: Command): void {
  parent
    .command('kill')
    .usage('[OPTIONS] CONTAINER [CONTAINER...]')
    .description('Kill one or more running containers')
    .argument('<containers...>')
    .option('-s, --signal <signal>', 'Signal to send to the container')
    .action(d.act(containers, (m) => m.kill as Handler));
}

export function defRm(d: Declarer, parent: Command, name: string, alias?: string): void {
  const c = parent
    .command(name)
    .usage('[OPTIONS] CONTAINER [CONTAINER...]')
    .description('Remove one or more containers')
    .argument('<containers...>')
    .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
    .option('-l, --link', 'Remove the specified link')
    .action(d.act(containers, (m) => m.rm as Handler));
  if (alias) c.alias(alias);
}

export function defPs(d: Declarer, parent: Command, name: string, aliases: string[] = []): void {
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
    .action(d.act(containers, (m) => ((cli: Cli, o: Record<string, unknown>) => m.ps(cli, { ...o, noTrunc: o.trunc === false }))));
}

export function defLogs(d: Declarer, parent: Command): void {
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
    .action(d.act(containers, (m) => m.logs as Handler));
}

export function defWait(d: Declarer, parent: Command): void {
  parent
    .command('wait')
    .usage('CONTAINER [CONTAINER...]')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<containers...>')
    .action(d.act(containers, (m) => m.wait as Handler));
}

export function defInspect(d: Declarer, parent: Command, typed?: 'container' | 'image'): void {
  const c = parent
    .command('inspect')
    .usage('[OPTIONS] NAME|ID [NAME|ID...]')
    .description(typed ? `Display detailed information on one or more ${typed}s` : 'Return low-level information on Docker objects')
    .argument('<names...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes if the type is container');
  if (!typed) c.option('--type <type>', 'Return JSON for specified type');
  c.action(d.act(containers, (m) => ((cli: Cli, names: string[], o: { format?: string; type?: string; size?: boolean }) => m.inspect(cli, names, { ...o, type: typed ?? o.type }))));
}

export function defRename(d: Declarer, parent: Command): void {
  parent
    .command('rename')
    .usage('CONTAINER NEW_NAME')
    .description('Rename a container')
    .argument('<container>')
    .argument('<newName>')
    .action(d.act(containers, (m) => m.rename as Handler));
}

export function defContainerPrune(d: Declarer, parent: Command): void {
  parent
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove all stopped containers')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
    .action(d.act(containers, (m) => m.prune as Handler));
}

/** `pier container ...`: every container command under one management command. */
export function defContainer(d: Declarer): void {
  const container = d.program.command('container').usage('COMMAND').description('Manage containers');
  d.nameCommands(container);
  defRun(d, container);
  defCreate(d, container);
  defExec(d, container);
  defStart(d, container);
  defAttach(d, container);
  defStop(d, container, 'stop');
  defStop(d, container, 'restart');
  defKill(d, container);
  defRm(d, container, 'rm', 'remove');
  defPs(d, container, 'ls', ['list', 'ps']);
  defLogs(d, container);
  defWait(d, container);
  defInspect(d, container, 'container');
  defRename(d, container);
  defContainerPrune(d, container);
  defTop(d, container);
  defStats(d, container);
  defUpdate(d, container);
  defCommit(d, container);
  defPort(d, container);
  defCp(d, container);
  defDiff(d, container);
  defExport(d, container);
}
