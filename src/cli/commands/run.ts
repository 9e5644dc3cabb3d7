import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ApiError, type Hijacked } from '../../client/client.js';
import { demuxTo, writeTo } from '../../client/demux.js';
import type { ContainerCreateBody } from '../../client/types.js';
import type { Cli, InStream } from '../context.js';
import { CliError } from '../errors.js';
import { ParseError } from '../human.js';
import { displayJsonMessages } from '../progress.js';
import { familiarString, fullName, parseReference, withDefaultTag, type Reference } from '../reference.js';
import { attachedStreams, runOptionsToCreateBody, type RunFlags } from '../run-options.js';

/**
 * `pier run` and `pier create`, and the attached session `run`, `start -a` and `attach`
 * share, in Docker's order: create (pull on "No such image" and create again), attach
 * (hijacked, before start, so no output is lost), wait (before start, so no exit is
 * missed), start, then stream until the container's output ends and report its exit code.
 */

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

function createBody(cli: Cli, image: string, args: string[], flags: RunFlags): ContainerCreateBody {
  const { stdout, env } = cli.io;
  return runOptionsToCreateBody(image, args, flags, {
    lookupEnv: (k) => env[k],
    readFile: (p) => readFileSync(p, 'utf8'),
    cwd: cli.io.cwd,
    consoleSize: stdout.isTTY && stdout.rows && stdout.columns ? [stdout.rows, stdout.columns] : undefined,
  });
}

/** Pull an image, printing Docker's progress to `out`. */
export async function pullImage(cli: Cli, ref: Reference, platform: string | undefined, out: NodeJS.WritableStream & { isTTY?: boolean }): Promise<void> {
  const stream = await cli.client.imagePull(fullName(ref), { tag: ref.digest ?? ref.tag, platform });
  await displayJsonMessages(stream, out, { isTerminal: !!out.isTTY });
}

/** Pull for run/create: a failed pull is a failure before the container ran (Docker's exit code 125). */
async function pullForRun(cli: Cli, ref: Reference, platform: string | undefined): Promise<void> {
  try {
    await pullImage(cli, ref, platform, cli.io.stderr);
  } catch (err) {
    if (err instanceof CliError || err instanceof ApiError) throw err;
    throw new CliError(`pier: ${(err as Error).message}\n\nRun 'pier run --help' for more information`, 125);
  }
}

/** Create the container, pulling its image first when the daemon has none; prints the daemon's warnings. */
async function createContainer(cli: Cli, body: ContainerCreateBody, flags: RunFlags): Promise<string> {
  const image = body.Image ?? '';
  const opts = { name: flags.name, platform: flags.platform };
  let ref: Reference | undefined;
  try {
    ref = withDefaultTag(parseReference(image));
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    // not a reference (an image ID, say): the daemon decides
  }
  if (flags.pull === 'always' && ref) await pullForRun(cli, ref, flags.platform);
  let created;
  try {
    created = await cli.client.containerCreate(body, opts);
  } catch (err) {
    // Docker pulls on any 404; pier only when the image is what is missing (not a network, say).
    const missing = err instanceof ApiError && err.status === 404 && /no such image/i.test(err.message);
    if (!missing || !ref || flags.pull === 'never') throw err;
    cli.err(`Unable to find image '${familiarString(ref)}' locally\n`);
    await pullForRun(cli, ref, flags.platform);
    created = await cli.client.containerCreate(body, opts);
  }
  for (const w of created.Warnings ?? []) cli.err(`WARNING: ${w}\n`);
  return created.Id;
}

/** Docker's exit codes for a start that failed: 127 command not found, 126 not executable, else 125. */
function startFailure(err: unknown): CliError {
  const message = err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message;
  let code = 125;
  if (/executable file not found|no such file or directory/i.test(message)) code = 127;
  else if (/permission denied|not executable/i.test(message)) code = 126;
  return new CliError(`pier: ${message}`, code);
}

export async function create(cli: Cli, image: string, args: string[], flags: RunFlags): Promise<number> {
  const body = createBody(cli, image, args, flags);
  const id = await createContainer(cli, body, flags);
  cli.out(`${id}\n`);
  return 0;
}

export async function run(cli: Cli, image: string, args: string[], flags: RunFlags): Promise<number> {
  const body = createBody(cli, image, args, flags);
  const id = await createContainer(cli, body, flags);
  if (flags.detach) {
    // Docker also sends a wait it never reads here; pier skips it (one request less).
    try {
      await cli.client.containerStart(id);
    } catch (err) {
      throw startFailure(err);
    }
    cli.out(`${id}\n`);
    return 0;
  }
  const streams = attachedStreams(flags);
  return session(cli, id, {
    ...streams,
    tty: !!flags.tty,
    sigProxy: flags.sigProxy !== false,
    autoRemove: !!flags.rm,
    detachKeys: flags.detachKeys,
    start: true,
  });
}

export interface SessionOptions extends StreamOptions {
  sigProxy: boolean;
  autoRemove: boolean;
  /** Start the container after attaching (run, start -a); false for `attach`. */
  start: boolean;
}

/** Parse Docker's detach keys (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) into bytes. */
export function parseDetachKeys(spec: string): number[] {
  return spec.split(',').map((key) => {
    const k = key.trim().toLowerCase();
    if (k.length === 1) return k.charCodeAt(0);
    const m = /^ctrl-(.)$/.exec(k);
    if (!m) throw new ParseError(`Unknown character: '${key}'`);
    const c = m[1]!;
    if (c >= 'a' && c <= 'z') return c.charCodeAt(0) - 96;
    const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
    if (special[c] === undefined) throw new ParseError(`Unknown character: '${key}'`);
    return special[c];
  });
}

/**
 * Pass stdin through to the container, holding back a possible detach sequence; resolves
 * `detached` when the whole sequence was typed. Half-closes the connection at stdin EOF.
 */
function pumpStdin(stdin: InStream, socket: Socket, keys: number[] | undefined, onDetach: () => void): () => void {
  let matched = 0;
  const onData = (chunk: Buffer | string): void => {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (keys && keys.length > 0) {
      const out: number[] = [];
      for (const byte of data) {
        if (byte === keys[matched]) {
          matched++;
          if (matched === keys.length) {
            onDetach();
            return;
          }
          continue;
        }
        for (let i = 0; i < matched; i++) out.push(keys[i]!);
        matched = 0;
        if (byte === keys[0]) matched = 1;
        else out.push(byte);
      }
      data = Buffer.from(out);
      if (data.length === 0) return;
    }
    if (!socket.write(data)) {
      stdin.pause();
      socket.once('drain', () => stdin.resume());
    }
  };
  const onEnd = (): void => {
    if (!socket.destroyed) socket.end(); // half-close: the container sees EOF, its output keeps coming
  };
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
  };
}

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  detachKeys?: string;
}

/**
 * Put the terminal in raw mode for a TTY session with stdin; returns the undo. Nothing
 * happens when stdin is not a terminal.
 */
export function enterRawMode(cli: Cli, opts: StreamOptions): () => void {
  const stdin = cli.io.stdin;
  if (!opts.tty || !opts.stdin || stdin.isTTY !== true || typeof stdin.setRawMode !== 'function') return () => undefined;
  stdin.setRawMode(true);
  return () => stdin.setRawMode!(false);
}

/** Keep a TTY's size in step with the terminal (now and on SIGWINCH); returns the undo. */
export function followTerminalSize(cli: Cli, resize: (rows: number, columns: number) => Promise<void>): () => void {
  const { stdout } = cli.io;
  if (!stdout.isTTY) return () => undefined;
  const apply = (): void => {
    const { rows, columns } = stdout;
    if (!rows || !columns) return;
    resize(rows, columns).catch((err: unknown) => {
      if (cli.globals.debug) cli.err(`pier: resize: ${(err as Error).message}\n`);
    });
  };
  apply();
  return cli.io.onSignal('SIGWINCH', apply);
}

/**
 * Stream a hijacked connection until the remote side ends its output: stdin in (held back
 * while it may be a detach sequence, half-closed at EOF), output out (raw for a TTY, else
 * demultiplexed to stdout and stderr). Resolves `detached` when the user typed the detach
 * keys, `done` when the output ended.
 */
export async function streamHijacked(cli: Cli, hijacked: Hijacked, opts: StreamOptions): Promise<'done' | 'detached'> {
  const { io } = cli;
  const socket = hijacked.socket;
  const keys = opts.tty && opts.stdin ? parseDetachKeys(opts.detachKeys ?? 'ctrl-p,ctrl-q') : undefined;
  let writeError: Error | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    // Writing stdin after the process exited fails with EPIPE/ECONNRESET; reading reports the rest.
    if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') writeError = err;
  });
  let stopStdin = (): void => undefined;
  let detached = false;
  const detach = new Promise<void>((resolve) => {
    if (opts.stdin) {
      stopStdin = pumpStdin(io.stdin, socket, keys, () => {
        detached = true;
        resolve();
      });
    } else socket.end(); // nothing to send: say so at once, as Docker does
  });
  const output = opts.tty
    ? (async () => {
        for await (const chunk of socket as AsyncIterable<Buffer>) await writeTo(io.stdout, chunk);
      })()
    : demuxTo(socket, opts.stdout ? io.stdout : null, opts.stderr ? io.stderr : null);
  try {
    await Promise.race([output, detach]);
  } finally {
    stopStdin();
  }
  if (detached) {
    socket.destroy();
    output.catch(() => undefined); // the connection was dropped on purpose
    return 'detached'; // Docker says nothing either: the container runs on, the shell prompt is back
  }
  if (writeError) throw writeError;
  return 'done';
}

/** Attach (hijacked), wait, start, stream; resolves with the container's exit code. */
export async function session(cli: Cli, id: string, opts: SessionOptions): Promise<number> {
  const { client, io } = cli;
  let hijacked: Hijacked | undefined;
  if (opts.stdin || opts.stdout || opts.stderr) {
    hijacked = await client.containerAttach(id, { stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, detachKeys: opts.detachKeys });
  }
  const waiter = new AbortController();
  const cleanups: (() => void)[] = [() => waiter.abort()];
  try {
    const wait = await client.containerWait(id, opts.autoRemove ? 'removed' : 'next-exit', waiter.signal);
    cleanups.push(enterRawMode(cli, opts));
    if (opts.start) {
      try {
        await client.containerStart(id);
      } catch (err) {
        throw startFailure(err);
      }
    }
    if (opts.tty) cleanups.push(followTerminalSize(cli, (h, w) => client.containerResize(id, h, w)));
    if (opts.sigProxy) {
      for (const sig of FORWARDED_SIGNALS) {
        cleanups.push(
          io.onSignal(sig, () => {
            client.containerKill(id, sig).catch((err: unknown) => cli.err(`pier: forwarding ${sig}: ${(err as Error).message}\n`));
          }),
        );
      }
    }
    if (hijacked && (await streamHijacked(cli, hijacked, opts)) === 'detached') return 0;
    const status = await wait.result;
    if (status.Error?.Message) throw new CliError(`pier: ${status.Error.Message}`, 125);
    return status.StatusCode;
  } finally {
    hijacked?.socket.destroy();
    for (const fn of cleanups.reverse()) fn();
  }
}

/** `pier start -a/-i` and `pier attach`: attach to an existing container. */
export async function attachExisting(cli: Cli, container: string, opts: { stdin: boolean; start: boolean; sigProxy: boolean; detachKeys?: string }): Promise<number> {
  const info = await cli.client.containerInspect(container);
  if (!opts.start && !info.State.Running) throw new CliError('You cannot attach to a stopped container, start it first', 1);
  return session(cli, info.Id, {
    stdin: opts.stdin && !!info.Config.OpenStdin,
    stdout: true,
    stderr: true,
    tty: !!info.Config.Tty,
    sigProxy: opts.sigProxy && !info.Config.Tty,
    autoRemove: !!info.HostConfig.AutoRemove,
    detachKeys: opts.detachKeys,
    start: opts.start,
  });
}
