import { Option } from 'commander';
import { collect, type Declarer, type Handler } from './declare.js';

/** The `volume` management command. */

const volumeMod = () => import('../volume.js');

export function defVolume(d: Declarer): void {
  const volume = d.program.command('volume').usage('COMMAND').description('Manage volumes');
  d.nameCommands(volume);
  volume
    .command('create')
    .usage('[OPTIONS] [VOLUME]')
    .description('Create a volume')
    .argument('[volume]')
    .option('-d, --driver <driver>', 'Specify volume driver name', 'local')
    .option('--label <label>', 'Set metadata for a volume', collect)
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .addOption(new Option('--name <name>', 'Specify volume name').hideHelp())
    .action(d.act(volumeMod, (m) => m.volumeCreate as Handler));
  volume
    .command('ls')
    .aliases(['list'])
    .usage('[OPTIONS]')
    .description('List volumes')
    .option('--cluster', 'Display only cluster volumes, and use cluster volume list formatting')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'dangling=true')", collect)
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
    .option('-q, --quiet', 'Only display volume names')
    .action(d.act(volumeMod, (m) => m.volumeLs as Handler));
  volume
    .command('inspect')
    .usage('[OPTIONS] VOLUME [VOLUME...]')
    .description('Display detailed information on one or more volumes')
    .argument('<volumes...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(d.act(volumeMod, (m) => m.volumeInspect as Handler));
  volume
    .command('rm')
    .aliases(['remove'])
    .usage('[OPTIONS] VOLUME [VOLUME...]')
    .description('Remove one or more volumes')
    .argument('<volumes...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action(d.act(volumeMod, (m) => m.volumeRm as Handler));
  volume
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('--filter <filter>', "Provide filter values (e.g. 'label=<label>')", collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(d.act(volumeMod, (m) => m.volumePrune as Handler));
}
