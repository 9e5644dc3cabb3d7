/**
 * Reader of Docker's multiplexed stream (attach, logs and exec without a TTY): frames of an
 * 8-byte header `[stream, 0, 0, 0, size BE32]` and `size` bytes of payload. Stream 0 is stdin
 * (shown as stdout), 1 stdout, 2 stderr, 3 a daemon-side error that ends the stream.
 */

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const SYSTEMERR = 3;

export interface Frame {
  /** 1 for stdout (0, stdin, is reported as 1), 2 for stderr. */
  stream: typeof STDOUT | typeof STDERR;
  data: Buffer;
}

/** A system-error frame (stream 3) from the daemon, or a header that is not a frame header. */
export class StreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamError';
  }
}

const HEADER = 8;

/**
 * Yield the payload of each frame as it arrives, in pieces as large as the chunks read (a
 * large frame is never held whole). A stream-3 frame is read whole and thrown as a
 * StreamError. A stream that ends inside a frame ends quietly, as Docker's StdCopy does.
 */
export async function* demux(source: AsyncIterable<Buffer | string>): AsyncGenerator<Frame> {
  let header = Buffer.alloc(0);
  let stream = 0;
  let remaining = 0; // payload bytes left in the current frame
  let sysErr: Buffer[] = [];
  for await (const raw of source) {
    let chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    while (chunk.length > 0) {
      if (remaining === 0) {
        const need = HEADER - header.length;
        header = Buffer.concat([header, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (header.length < HEADER) break;
        stream = header[0]!;
        if (stream > SYSTEMERR || header[1] !== 0 || header[2] !== 0 || header[3] !== 0) {
          throw new StreamError(`unrecognized input header: ${stream}`);
        }
        remaining = header.readUInt32BE(4);
        header = Buffer.alloc(0);
        if (remaining === 0 && stream === SYSTEMERR) throw new StreamError('error from daemon in stream');
        continue;
      }
      const piece = chunk.subarray(0, remaining);
      chunk = chunk.subarray(piece.length);
      remaining -= piece.length;
      if (stream === SYSTEMERR) {
        sysErr.push(piece);
        if (remaining === 0) {
          const text = Buffer.concat(sysErr).toString('utf8').trim();
          sysErr = [];
          throw new StreamError(`error from daemon in stream: ${text}`);
        }
        continue;
      }
      yield { stream: stream === STDERR ? STDERR : STDOUT, data: piece };
    }
  }
}

/** Write to a stream, resolving once it can take more (backpressure). */
export function writeTo(out: NodeJS.WritableStream, data: Buffer | string): Promise<void> | undefined {
  if (out.write(data)) return undefined;
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      out.off('drain', onDrain);
      reject(err);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/**
 * Copy a multiplexed stream to stdout and stderr writers until it ends. A writer given as
 * null drops that stream's frames (a stream the user did not attach).
 */
export async function demuxTo(source: AsyncIterable<Buffer | string>, stdout: NodeJS.WritableStream | null, stderr: NodeJS.WritableStream | null): Promise<void> {
  for await (const frame of demux(source)) {
    const out = frame.stream === STDERR ? stderr : stdout;
    if (out) await writeTo(out, frame.data);
  }
}
