import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';

/** Child processes and small helpers the integration harness and its clean-up share. */

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed (closed at once when absent). */
  input?: string | Buffer | Readable;
  /** Kill the command and reject after this long (default 60 s). */
  timeoutMs?: number;
  /** Added to the command's environment. */
  env?: Record<string, string>;
}

/**
 * Run a command with the environment `env` (plus `opts.env`) to completion and collect its
 * output. Resolves with its exit code (128 + the
 * signal's number when killed by one); rejects when it cannot start or runs past its timeout.
 */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const shown = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let inputError: Error | undefined;
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE: the command exited without reading all its input; its exit code tells why
      if (err.code !== 'EPIPE') inputError = err;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${shown}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? 128 + (signal ? constants.signals[signal] : 0),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${shown}: still running after ${timeoutMs} ms\nstdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`));
      } else if (inputError) {
        reject(new Error(`${shown}: writing its input: ${inputError.message}`));
      } else {
        resolve(result);
      }
    });
    const input = opts.input;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else {
      input.once('error', (err) => {
        inputError = err;
        child.stdin.destroy();
      });
      input.pipe(child.stdin);
    }
  });
}

/** The names in a folder; none when it does not exist. */
export async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}
