import type { Command } from 'commander';
import type { Declarer, Handler } from './declare.js';

/** A container's files: `cp`, `diff`, `export`. */

const archiveMod = () => import('../archive.js');

export function defCp(d: Declarer, parent: Command): void {
  parent
    .command('cp')
    .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       pier cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
    .description('Copy files/folders between a container and the local filesystem')
    .argument('<source>')
    .argument('<destination>')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symlinks in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
    .action(d.act(archiveMod, (m) => m.cp as Handler));
}

export function defDiff(d: Declarer, parent: Command): void {
  parent
    .command('diff')
    .usage('CONTAINER')
    .description("Inspect changes to files or directories on a container's filesystem")
    .argument('<container>')
    .action(d.act(archiveMod, (m) => m.diff as Handler));
}

export function defExport(d: Declarer, parent: Command): void {
  parent
    .command('export')
    .usage('[OPTIONS] CONTAINER')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .action(d.act(archiveMod, (m) => m.exportContainer as Handler));
}
