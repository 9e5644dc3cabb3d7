import { readFileSync } from 'node:fs';
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';
import { expandEnv, parseEnvFile } from '../env-file.js';
import { ParseError } from '../human.js';
import { enterRawMode, followTerminalSize, streamHijacked } from './run.js';

/**
 * `pier exec`, in Docker's order: inspect the container (it must exist and run), create
 * the exec, start it hijacked (or detached with `-d`), stream, then read its exit code.
 */

export interface ExecFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  privileged?: boolean;
  detachKeys?: string;
}

export async function exec(cli: Cli, container: string, command: string[], flags: ExecFlags): Promise<number> {
  const { client, io } = cli;
  const lookup = (k: string): string | undefined => io.env[k];
  let env: string[];
  try {
    env = [...(flags.envFile ?? []).flatMap((f) => parseEnvFile(readFileSync(f, 'utf8'), f, lookup)), ...(flags.env ?? []).map((e) => expandEnv(e, lookup))];
  } catch (err) {
    throw new ParseError((err as Error).message);
  }
  const info = await client.containerInspect(container);
  if (!info.State.Running) throw new CliError(`Error response from daemon: container ${info.Id} is not running`, 1);
  const tty = !!flags.tty;
  const stdin = !!flags.interactive && !flags.detach;
  const consoleSize: [number, number] | undefined = tty && io.stdout.isTTY && io.stdout.rows && io.stdout.columns ? [io.stdout.rows, io.stdout.columns] : undefined;
  const id = await client.execCreate(info.Id, {
    AttachStdin: stdin,
    AttachStdout: !flags.detach,
    AttachStderr: !flags.detach,
    Tty: tty,
    ...(flags.detach ? { Detach: true } : {}),
    Cmd: command,
    ...(consoleSize ? { ConsoleSize: consoleSize } : {}),
    ...(env.length > 0 ? { Env: env } : {}),
    ...(flags.workdir ? { WorkingDir: flags.workdir } : {}),
    ...(flags.user ? { User: flags.user } : {}),
    ...(flags.privileged ? { Privileged: true } : {}),
    ...(flags.detachKeys ? { DetachKeys: flags.detachKeys } : {}),
  });
  if (flags.detach) {
    await client.execStartDetached(id, { tty });
    return 0;
  }
  const opts = { stdin, stdout: true, stderr: true, tty, detachKeys: flags.detachKeys };
  const hijacked = await client.execStart(id, { tty, consoleSize });
  const undo = [enterRawMode(cli, opts)];
  try {
    if (tty) undo.push(followTerminalSize(cli, (h, w) => client.execResize(id, h, w)));
    if ((await streamHijacked(cli, hijacked, opts)) === 'detached') return 0;
  } finally {
    hijacked.socket.destroy();
    for (const fn of undo.reverse()) fn();
  }
  const result = await client.execInspect(id);
  return result.ExitCode ?? 0;
}
