import { ApiError, DaemonUnreachableError } from '../client/client.js';
import { ParseError } from './human.js';

/**
 * How `pier` reports failures, as Docker's CLI does: one line on stderr, never a stack
 * trace (unless `--debug`), and Docker's exit codes: 1 for a failed command, 125 for a flag
 * error or a `run` that failed before its container started, the container's own code
 * after it ran.
 */

/** A failure already worded for the user, with the exit code to leave with. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Exit with a code and print nothing more (what was to say was said). */
export class ExitStatus extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit status ${exitCode}`);
    this.name = 'ExitStatus';
    this.exitCode = exitCode;
  }
}

/** What the user is told when the daemon does not answer. */
export function unreachableMessage(err: DaemonUnreachableError): string {
  const reason = err.message.replace(/^cannot reach the daemon at \S+ /, '');
  const hint =
    err.code === 'EACCES' || err.code === 'EPERM'
      ? 'Run pier as root, or as a member of the socket\'s group'
      : 'Start it with: sudo pierd &   (or set PIER_HOST/DOCKER_HOST)';
  return `cannot reach pierd at ${err.host} ${reason}. ${hint}`;
}

/** The text of an error as the user should read it. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `Error response from daemon: ${err.message}`;
  if (err instanceof DaemonUnreachableError) return `pier: ${unreachableMessage(err)}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The exit code and message for an error escaping a command; `runLike` commands use 125 for failures before the start. */
export function reportOf(err: unknown, command: string | undefined, runLike: boolean): { code: number; message: string | undefined } {
  if (err instanceof ExitStatus) return { code: err.exitCode, message: undefined };
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  if (runLike && (err instanceof ApiError || err instanceof DaemonUnreachableError || err instanceof ParseError)) {
    const text = err instanceof DaemonUnreachableError ? unreachableMessage(err) : describeError(err);
    return { code: 125, message: `pier: ${text}\n\nRun 'pier ${command ?? 'run'} --help' for more information` };
  }
  if (err instanceof ParseError) return { code: 125, message: `${err.message}\nSee 'pier ${command ?? ''} --help'.`.replace('pier  --help', 'pier --help') };
  // (by name: loading the template engine for every command's error path costs start-up time)
  if (err instanceof Error && err.name === 'TemplateError') return { code: 1, message: `template parsing error: ${err.message}` };
  return { code: 1, message: describeError(err) };
}

/**
 * Run `fn` for each name in turn, as Docker's commands on several objects do: a daemon's
 * error is printed as Docker's error line and the next name is tried; any other error ends
 * the loop and is thrown. `ignore`: daemon errors that are no failure (and print nothing).
 * Resolves with the names that failed.
 */
export async function eachReporting(cli: { err(text: string): void }, names: readonly string[], fn: (name: string) => Promise<void>, ignore?: (err: ApiError) => boolean): Promise<string[]> {
  const failed: string[] = [];
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (ignore?.(err)) continue;
      cli.err(`${describeError(err)}\n`);
      failed.push(name);
    }
  }
  return failed;
}
