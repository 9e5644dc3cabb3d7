import type { Command } from 'commander';
import type { Cli } from '../../context.js';
import type { Declarer, Handler } from './declare.js';

/** Registries and tag versions: `pull`, `push`, `login`, `logout`, `image versions`, `image rollback`. */

const distributionMod = () => import('../distribution.js');

export function defPull(d: Declarer, parent: Command): void {
  parent
    .command('pull')
    .usage('[OPTIONS] NAME[:TAG|@DIGEST]')
    .description('Download an image from a registry')
    .argument('<image>')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('-q, --quiet', 'Suppress verbose output')
    .action(d.act(distributionMod, (m) => m.pull as Handler));
}

export function defPush(d: Declarer, parent: Command): void {
  parent
    .command('push')
    .usage('[OPTIONS] NAME[:TAG]')
    .description('Upload an image to a registry')
    .argument('<image>')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .action(d.act(distributionMod, (m) => m.push as Handler));
}

export function defLogin(d: Declarer, parent: Command): void {
  parent
    .command('login')
    .usage('[OPTIONS] [SERVER]')
    .description('Authenticate to a registry (credentials are kept in Docker\'s config.json)')
    .argument('[server]')
    .option('-u, --username <username>', 'Username')
    .option('-p, --password <password>', 'Password')
    .option('--password-stdin', 'Take the password from stdin')
    .action(d.act(distributionMod, (m) => m.login as Handler));
}

export function defLogout(d: Declarer, parent: Command): void {
  parent
    .command('logout')
    .usage('[SERVER]')
    .description('Log out from a registry')
    .argument('[server]')
    .action(d.act(distributionMod, (m) => m.logout as Handler));
}

export function defVersions(d: Declarer, parent: Command): void {
  parent
    .command('versions')
    .usage('[OPTIONS] NAME[:TAG]')
    .description('List the images a tag pointed to, newest first (pier)')
    .argument('<image>')
    .option('-q, --quiet', 'Only show image IDs')
    .option('--no-trunc', "Don't truncate output")
    .action(
      d.act(distributionMod, (m) => ((cli: Cli, image: string, o: Record<string, unknown>) => m.versions(cli, image, { quiet: !!o.quiet, noTrunc: o.trunc === false }))),
    );
}

export function defRollback(d: Declarer, parent: Command): void {
  parent
    .command('rollback')
    .usage('[OPTIONS] NAME[:TAG]')
    .description('Move a tag back to a previous version (pier)')
    .argument('<image>')
    .option('--to <version>', 'A version number or image ID (default: the version before the current one)')
    .action(d.act(distributionMod, (m) => m.rollback as Handler));
}
