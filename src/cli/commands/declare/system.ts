import type { Command } from 'commander';
import { collect, type Declarer, type Handler } from './declare.js';
import { monitorMod } from './monitor.js';

/** The daemon as a whole: `events`, `info`, `version`, and the `system` management command. */

const system = () => import('../system.js');

export function defEvents(d: Declarer, parent: Command): void {
  parent
    .command('events')
    .usage('[OPTIONS]')
    .description('Get real time events from the server')
    .option('--since <time>', 'Show all events created since timestamp')
    .option('--until <time>', 'Stream events until this timestamp')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <string>', 'Format output using a custom template')
    .action(d.act(system, (m) => m.events as Handler));
}

export function defInfo(d: Declarer, parent: Command): void {
  parent
    .command('info')
    .usage('[OPTIONS]')
    .description('Display system-wide information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(d.act(system, (m) => m.info as Handler));
}

export function defVersion(d: Declarer, parent: Command): void {
  parent
    .command('version')
    .usage('[OPTIONS]')
    .description('Show the pier version information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(d.act(system, (m) => m.version as Handler));
}

/** `pier system ...`: `info`, `events`, `df`, `prune`. */
export function defSystem(d: Declarer): void {
  const sys = d.program.command('system').usage('COMMAND').description('Manage pier');
  d.nameCommands(sys);
  defInfo(d, sys);
  defEvents(d, sys);
  sys
    .command('df')
    .usage('[OPTIONS]')
    .description('Show docker disk usage')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .option('--format <string>', 'Format output using a custom template')
    .action(d.act(monitorMod, (m) => m.systemDf as Handler));
  sys
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'label=<key>=<value>')", collect)
    .action(d.act(system, (m) => m.systemPrune as Handler));
}
