import type { Command } from 'commander';
import type { Cli } from '../../context.js';
import { passThrough, type Declarer, type Handler } from './declare.js';

/** Observing and tuning running containers: `top`, `stats`, `update`. */

export const monitorMod = () => import('../monitor.js');

export function defTop(d: Declarer, parent: Command): void {
  const c = parent
    .command('top')
    .usage('CONTAINER [ps OPTIONS]')
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[psOptions...]')
    .passThroughOptions()
    .allowUnknownOption();
  passThrough.add(c);
  c.action(d.act(monitorMod, (m) => m.top as Handler));
}

export function defStats(d: Declarer, parent: Command): void {
  parent
    .command('stats')
    .usage('[OPTIONS] [CONTAINER...]')
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[containers...]')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('--no-stream', 'Disable streaming stats and only pull the first result')
    .option('--no-trunc', 'Do not truncate output')
    .option('--format <string>', 'Format output using a custom template')
    .action(d.act(monitorMod, (m) => ((cli: Cli, names: string[], o: { all?: boolean; stream?: boolean; format?: string }) => m.stats(cli, names, { ...o, noStream: o.stream === false }))));
}

export function defUpdate(d: Declarer, parent: Command): void {
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
    .action(d.act(monitorMod, (m) => m.update as Handler));
}
