import type { Command } from 'commander';
import { collect, passThrough, type Declarer, type Handler } from './declare.js';

/** `pier exec`. */

export function defExec(d: Declarer, parent: Command): void {
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
  c.action(d.act(() => import('../exec.js'), (m) => m.exec as Handler));
}
