import type { Command } from 'commander';
import type { Cli } from '../../context.js';
import { collect, type Declarer, type Handler } from './declare.js';
import { defBuild } from './build.js';
import { defInspect } from './containers.js';
import { defPull, defPush, defRollback, defVersions } from './distribution.js';

/** Local images: `images`, `rmi`, `tag`, `history`, `import`, `load`, `save`, `image prune`, and the `image` management command. */

const imagesMod = () => import('../images.js');

export function defImages(d: Declarer, parent: Command, name: string, aliases: string[] = []): void {
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
      d.act(imagesMod, (m) => ((cli: Cli, repo: string | undefined, o: Record<string, unknown>) => m.images(cli, repo, { ...o, noTrunc: o.trunc === false }))),
    );
}

export function defRmi(d: Declarer, parent: Command, name: string, aliases: string[] = []): void {
  parent
    .command(name)
    .aliases(aliases)
    .usage('[OPTIONS] IMAGE [IMAGE...]')
    .description('Remove one or more images')
    .argument('<images...>')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action(d.act(imagesMod, (m) => m.rmi as Handler));
}

export function defTag(d: Declarer, parent: Command): void {
  parent
    .command('tag')
    .usage('SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>')
    .argument('<target>')
    .action(d.act(imagesMod, (m) => m.tag as Handler));
}

export function defHistory(d: Declarer, parent: Command): void {
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
      d.act(imagesMod, (m) => ((cli: Cli, image: string, o: Record<string, unknown>) => m.history(cli, image, { ...o, human: o.human !== false, noTrunc: o.trunc === false }))),
    );
}

export function defImport(d: Declarer, parent: Command): void {
  parent
    .command('import')
    .usage('[OPTIONS] file|URL|- [REPOSITORY[:TAG]]')
    .description('Import the contents from a tarball to create a filesystem image')
    .argument('<source>')
    .argument('[repository]')
    .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'Set commit message for imported image')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .action(d.act(imagesMod, (m) => m.importImage as Handler));
}

export function defLoad(d: Declarer, parent: Command): void {
  parent
    .command('load')
    .usage('[OPTIONS]')
    .description('Load an image from a tar archive or STDIN')
    .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(d.act(imagesMod, (m) => m.load as Handler));
}

export function defSave(d: Declarer, parent: Command): void {
  parent
    .command('save')
    .usage('[OPTIONS] IMAGE [IMAGE...]')
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('<images...>')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .action(d.act(imagesMod, (m) => m.save as Handler));
}

export function defImagePrune(d: Declarer, parent: Command): void {
  parent
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
    .action(d.act(imagesMod, (m) => m.imagePrune as Handler));
}

/** `pier image ...`: every image command under one management command. */
export function defImage(d: Declarer): void {
  const image = d.program.command('image').usage('COMMAND').description('Manage images');
  d.nameCommands(image);
  defImages(d, image, 'ls', ['list']);
  defInspect(d, image, 'image');
  defRmi(d, image, 'rm', ['remove']);
  defTag(d, image);
  defHistory(d, image);
  defPull(d, image);
  defPush(d, image);
  defVersions(d, image);
  defRollback(d, image);
  defImport(d, image);
  defLoad(d, image);
  defSave(d, image);
  defImagePrune(d, image);
  defBuild(d, image);
}
