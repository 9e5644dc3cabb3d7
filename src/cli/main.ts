import { Command, CommanderError } from 'commander';
import { CLIENT_VERSION } from '../client/client.js';
import { firstCommand, normalizeArgs } from './argv.js';
import { defCp, defDiff, defExport } from './commands/declare/archive.js';
import { defBuild, defBuilder, defCommit } from './commands/declare/build.js';
import { defAttach, defContainer, defInspect, defKill, defLogs, defPs, defRename, defRm, defStart, defStop, defWait } from './commands/declare/containers.js';
import { commandPath, type Declarer } from './commands/declare/declare.js';
import { defLogin, defLogout, defPull, defPush } from './commands/declare/distribution.js';
import { defExec } from './commands/declare/exec.js';
import { defHistory, defImage, defImages, defImport, defLoad, defRmi, defSave, defTag } from './commands/declare/images.js';
import { defStats, defTop, defUpdate } from './commands/declare/monitor.js';
import { defNetwork, defPort } from './commands/declare/network.js';
import { defCompose } from './commands/compose.js';
import { defKube } from './commands/declare/kube.js';
import { defCreate, defRun } from './commands/declare/run.js';
import { defEvents, defInfo, defSystem, defVersion } from './commands/declare/system.js';
import { defVolume } from './commands/declare/volume.js';
import { Cli, processIo, type GlobalOptions, type Io } from './context.js';
import { CliError, reportOf } from './errors.js';
import { nearest } from './suggest.js';

/**
 * The `pier` command line: Docker's commands, flags and output over the Docker Engine API.
 * This module wires the command groups (declared in `commands/declare/`, one file a group)
 * into one program and runs it; each command's code is imported when it runs, so `pier run`
 * loads little more than commander, the client and the run code.
 *
 * `main` never exits the process and never throws: it resolves with the exit code, having
 * written any error to stderr in Docker's words.
 */

interface Runner {
  /** Set by an action: the command's exit code. */
  code: number;
  /** The command being run, for error messages (`run`, `container ls`). */
  command: string | undefined;
  /** Whether failures before the container started exit 125 (run, create). */
  runLike: boolean;
  cli: Cli | undefined;
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

  const d: Declarer = {
    program,
    act:
      (load, pick, opts = {}) =>
      async (...args: unknown[]): Promise<void> => {
        const cmd = args[args.length - 1] as Command;
        const cli = new Cli(io, program.opts<GlobalOptions>());
        runner.cli = cli;
        runner.command = commandPath(cmd);
        runner.runLike = !!opts.runLike;
        const handler = pick(await load());
        // commander passes (...arguments, options, command); handlers take (cli, ...arguments, options)
        runner.code = await (handler as (cli: Cli, ...a: unknown[]) => Promise<number>)(cli, ...args.slice(0, -1));
      },
    nameCommands: (group) => {
      group.hook('preSubcommand', (_parent, sub) => {
        runner.command = commandPath(sub);
      });
    },
  };
  d.nameCommands(program);

  // Every top-level command, one line each: the commands as `docker` has them, then the
  // management commands, in the order `pier --help` lists them (and suggestions prefer).
  // Only the one named on the command line is declared; all of them for help or an unknown name.
  const p = program;
  const topLevel: Record<string, () => void> = {
    run: () => defRun(d, p),
    create: () => defCreate(d, p),
    exec: () => defExec(d, p),
    start: () => defStart(d, p),
    attach: () => defAttach(d, p),
    stop: () => defStop(d, p, 'stop'),
    restart: () => defStop(d, p, 'restart'),
    kill: () => defKill(d, p),
    rm: () => defRm(d, p, 'rm'),
    ps: () => defPs(d, p, 'ps'),
    logs: () => defLogs(d, p),
    wait: () => defWait(d, p),
    inspect: () => defInspect(d, p),
    rename: () => defRename(d, p),
    top: () => defTop(d, p),
    stats: () => defStats(d, p),
    update: () => defUpdate(d, p),
    images: () => defImages(d, p, 'images'),
    rmi: () => defRmi(d, p, 'rmi'),
    tag: () => defTag(d, p),
    history: () => defHistory(d, p),
    pull: () => defPull(d, p),
    push: () => defPush(d, p),
    login: () => defLogin(d, p),
    logout: () => defLogout(d, p),
    import: () => defImport(d, p),
    load: () => defLoad(d, p),
    save: () => defSave(d, p),
    build: () => defBuild(d, p),
    builder: () => defBuilder(d),
    commit: () => defCommit(d, p),
    events: () => defEvents(d, p),
    info: () => defInfo(d, p),
    port: () => defPort(d, p),
    cp: () => defCp(d, p),
    diff: () => defDiff(d, p),
    export: () => defExport(d, p),
    network: () => defNetwork(d),
    volume: () => defVolume(d),
    version: () => defVersion(d, p),
    container: () => defContainer(d),
    image: () => defImage(d),
    system: () => defSystem(d),
    compose: () => defCompose(d.program, (load, pick) => d.act(load, pick)),
    kube: () => defKube(d),
  };
  const only = commandName !== undefined && Object.hasOwn(topLevel, commandName) ? topLevel[commandName] : undefined;
  if (only) only();
  else for (const define of Object.values(topLevel)) define();
  return program;
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
