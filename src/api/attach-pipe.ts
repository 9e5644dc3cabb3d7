import type { Duplex } from 'node:stream';
import { invalid } from '../errors.js';
import type { AttachStreams } from '../runtime/runtime.js';
import { frame, StreamType } from './streams.js';

/**
 * A hijacked client connection wired to a process's streams (`attach`, `exec start`), as
 * Docker wires them:
 *
 * - output goes to the client as it comes: raw with a TTY, in multiplexed frames without;
 *   a client that does not read holds the process's output back (no buffering here);
 * - the client's bytes go to the process's stdin when it asked for stdin; its half-close
 *   ends the process's stdin (which the runtime closes only where Docker does: never for a TTY);
 * - with a TTY, the detach keys (ctrl-p ctrl-q unless told otherwise) typed on stdin end the
 *   connection and leave the process running. A prefix of them is held back until the next
 *   byte tells whether the whole sequence comes. Without a TTY stdin is passed through as it
 *   is (Docker detaches there too, which can cut a binary stdin short);
 * - the connection ends once both output streams ended (the process exited), or when the
 *   client goes.
 */
export interface PipeOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** The detach keys as bytes (parseDetachKeys); empty: no detaching. */
  detachKeys: Buffer;
  /** Called once the client detached with the keys; then the streams close (the process goes on). */
  onDetach?: () => void;
  /** The connection ends only once this settled too (an exec's exit code is recorded before its client asks for it). */
  endAfter?: Promise<unknown>;
}

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** `ctrl-p,ctrl-q`, `a,ctrl-@` → their bytes; `invalid` for anything else (Docker's rules). */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (!m) throw invalid(`Invalid detach keys (${spec}) provided`);
    const c = m[1]!;
    out.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c]!);
  }
  return Buffer.from(out);
}

/** Wire `sock` to `streams`; returns at once. */
export function pipeStreams(sock: Duplex, streams: AttachStreams, o: PipeOptions): void {
  let closed = false;
  let open = 2;
  const close = (): void => {
    if (closed) return;
    closed = true;
    streams.close();
  };
  const ended = (): void => {
    if (--open > 0) return;
    void Promise.resolve(o.endAfter)
      .catch(() => undefined)
      .then(() => {
        if (!closed) sock.end();
      });
  };
  const forward = (from: NodeJS.ReadableStream, type: StreamType, wanted: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      if (!wanted || closed) return;
      if (!sock.write(o.tty ? chunk : frame(type, chunk))) {
        from.pause();
        sock.once('drain', () => from.resume());
      }
    });
    from.on('end', ended);
    from.on('error', ended);
  };
  forward(streams.stdout, StreamType.Stdout, o.stdout);
  forward(streams.stderr, StreamType.Stderr, o.stderr);
  if (o.stdin) {
    const keys = o.tty ? o.detachKeys : Buffer.alloc(0);
    const detector = new DetachDetector(keys);
    sock.on('data', (chunk: Buffer) => {
      const { pass, detached } = detector.push(chunk);
      if (pass.length > 0) streams.stdin.write(pass);
      if (detached) {
        o.onDetach?.();
        close();
        sock.end();
      }
    });
    sock.on('end', () => {
      if (!closed) streams.stdin.end();
    });
    // The server may have paused the socket while it read the request's body.
    sock.resume();
  } else {
    sock.resume();
  }
  sock.on('close', close);
  sock.on('error', close);
}

/** Finds the detach keys in a stream of stdin bytes, holding back a prefix until it is decided. */
export class DetachDetector {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** The bytes to pass on now, and whether the whole sequence has come (what follows it is dropped). */
  push(chunk: Buffer): { pass: Buffer; detached: boolean } {
    if (this.keys.length === 0) return { pass: chunk, detached: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { pass: Buffer.from(out), detached: true };
        continue;
      }
      // Not the sequence after all: what was held goes through, then this byte starts over.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (byte !== this.keys[0]) out.push(byte);
      else if (++this.held === this.keys.length) return { pass: Buffer.from(out), detached: true };
    }
    return { pass: Buffer.from(out), detached: false };
  }
}
