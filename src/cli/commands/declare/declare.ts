import type { Command } from 'commander';
import type { Cli } from '../../context.js';

/**
 * What the files of this folder share to declare `pier`'s commands and flags with commander.
 * A declaration file names a command, its usage, arguments and flags, and the handler that
 * runs it; it never imports a handler's module itself: `act` imports it when the command
 * runs, so `pier run` loads little more than commander, the client and the run code.
 */

/** A command's code: takes the CLI context, the command's arguments and its options; resolves with the exit code. */
export type Handler = (cli: Cli, ...args: never[]) => Promise<number>;

/** How a command group's declarations reach the program being built. */
export interface Declarer {
  /** The `pier` program: the parent of top-level commands and of management commands (`container`, `image`). */
  readonly program: Command;
  /**
   * A commander action that loads a handler's module with `load`, picks the handler with
   * `pick` and runs it. `runLike`: failures before the container started exit 125 (run, create).
   */
  act<M>(load: () => Promise<M>, pick: (m: M) => Handler, opts?: { runLike?: boolean }): (...args: unknown[]) => Promise<void>;
  /** Make `group` name the subcommand being parsed, for `See 'pier container ls --help'.` after a flag error. */
  nameCommands(group: Command): void;
}

/** Commands whose options end at the first argument (`run IMAGE ls -l`); argument normalization stops there. */
export const passThrough = new WeakSet<Command>();

/** A repeatable flag's parser: each occurrence appends its value. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** The words naming `cmd` below the program (`container ls`). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
