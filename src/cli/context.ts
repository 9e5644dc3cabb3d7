import { Client, resolveHost } from '../client/client.js';

/**
 * What every command is handed: the process's streams (replaceable in tests), the global
 * flags, and a client created on first use.
 */

export interface InStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

export interface OutStream extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface Io {
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Subscribe to a process signal; returns the unsubscribe function. */
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void;
}

export function processIo(): Io {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    onSignal: (signal, handler) => {
      process.on(signal, handler);
      return () => {
        process.off(signal, handler);
      };
    },
  };
}

export interface GlobalOptions {
  host?: string;
  debug?: boolean;
}

export class Cli {
  private clientInstance: Client | undefined;

  constructor(
    readonly io: Io,
    readonly globals: GlobalOptions,
  ) {}

  /** The daemon address: `-H`, `PIER_HOST`, `DOCKER_HOST`, or pier's default socket. */
  get host(): string {
    return resolveHost(this.globals.host, this.io.env);
  }

  get client(): Client {
    this.clientInstance ??= new Client({ host: this.host });
    return this.clientInstance;
  }

  /** Release the client's idle connections. */
  close(): void {
    this.clientInstance?.close();
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  err(text: string): void {
    this.io.stderr.write(text);
  }
}
