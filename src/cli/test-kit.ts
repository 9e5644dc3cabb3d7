import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach } from 'node:test';
import { FakeDaemon, frame, sendJson, upgrade101 } from '../client/fake-daemon.js';
import type { Io } from './context.js';
import { main } from './main.js';

/**
 * What the CLI's end-to-end tests share: `pier` run in-process against a stand-in daemon
 * (src/client/fake-daemon.ts), with what it printed and its exit code. Importing this module
 * registers the hooks that start the daemon before a test file's tests and close it after;
 * requests recorded are cleared before each test. For tests only.
 */

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FakeIo extends Io {
  signal(sig: NodeJS.Signals): void;
}

export function fakeIo(env: NodeJS.ProcessEnv, stdin?: PassThrough): { io: FakeIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const input = stdin ?? new PassThrough();
  if (!stdin) input.end();
  const handlers = new Map<string, Set<() => void>>();
  const io: FakeIo = {
    stdin: input,
    stdout,
    stderr,
    env,
    cwd: '/tmp',
    onSignal: (sig, handler) => {
      let set = handlers.get(sig);
      if (!set) handlers.set(sig, (set = new Set()));
      set.add(handler);
      return () => set.delete(handler);
    },
    signal: (sig) => {
      for (const h of handlers.get(sig) ?? []) h();
    },
  };
  return { io, out: () => out, err: () => err };
}

export const daemon = new FakeDaemon();
/** Run `pier ARGS` against the stand-in daemon (set once it listens). */
export let pier: (args: string[], opts?: { stdin?: PassThrough; io?: (io: FakeIo) => void }) => Promise<Run>;

before(async () => {
  await daemon.start();
  pier = async (args, opts = {}) => {
    const { io, out, err } = fakeIo({ PIER_HOST: daemon.host }, opts.stdin);
    opts.io?.(io);
    const code = await main(args, io);
    return { code, stdout: out(), stderr: err() };
  };
});
after(() => daemon.close());
beforeEach(() => {
  daemon.requests.length = 0;
});

export const ID = 'c0ffee'.padEnd(64, '0');
export const now = (): number => Math.floor(Date.now() / 1000);
export const calls = (): string[] => daemon.requests.map((r) => `${r.method} ${r.path}`);

/** A daemon that runs a container: attach streams frames, wait answers after `exitAfter` ms. */
export function serveContainer(opts: { exitCode?: number; tty?: boolean; createStatus?: () => number } = {}): { finish: () => void } {
  let finishWait: (() => void) | undefined;
  let finishAttach: (() => void) | undefined;
  const finish = (): void => {
    finishAttach?.();
    setTimeout(() => finishWait?.(), 5);
  };
  daemon.on('POST', '/containers/create', (req, res) => {
    const status = opts.createStatus?.() ?? 201;
    if (status === 404) sendJson(res, 404, { message: 'No such image: busybox:latest' });
    else sendJson(res, 201, { Id: ID, Warnings: req.query.get('name') === 'warn' ? ['Your kernel does not support swap'] : [] });
  });
  daemon.onUpgrade(`/containers/${ID}/attach`, (req, socket) => {
    upgrade101(socket, opts.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    socket.write(opts.tty ? 'tty output\r\n' : frame(1, 'hello out\n'));
    if (!opts.tty) socket.write(frame(2, 'hello err\n'));
    finishAttach = () => {
      if (req.query.get('stdin') !== '1') return void socket.end();
      // As a container's `cat`: its last output follows the end of its stdin, however late.
      const answer = (): void => {
        if (!req.stdinEnded) return void setTimeout(answer, 5);
        socket.write(opts.tty ? '' : frame(1, `stdin was: ${Buffer.concat(req.stdin ?? []).toString()}`));
        socket.end();
      };
      answer();
    };
  });
  daemon.on('POST', `/containers/${ID}/wait`, (_req, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    finishWait = () => res.end(JSON.stringify({ StatusCode: opts.exitCode ?? 0 }));
  });
  daemon.on('POST', `/containers/${ID}/start`, (_req, res) => {
    res.writeHead(204);
    res.end();
    setTimeout(finish, 20);
  });
  return { finish };
}
