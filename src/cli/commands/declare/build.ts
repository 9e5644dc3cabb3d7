import type { Command } from 'commander';
import { collect, type Declarer, type Handler } from './declare.js';

/** Making images: `build`, `commit`, and the `builder` management command. */

const buildMod = () => import('../build.js');

export function defBuild(d: Declarer, parent: Command): void {
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
    .action(d.act(buildMod, (m) => m.build as Handler));
}

export function defCommit(d: Declarer, parent: Command): void {
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
    .action(d.act(buildMod, (m) => m.commit as Handler));
}

/** `pier builder prune`. */
export function defBuilder(d: Declarer): void {
  const builder = d.program.command('builder').usage('COMMAND').description('Manage builds');
  d.nameCommands(builder);
  builder
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove build cache')
    .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(d.act(buildMod, (m) => m.builderPrune));
}
