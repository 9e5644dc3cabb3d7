import type { Writable } from 'node:stream';
import type { ErrorDetail, ProgressDetail } from '../wire/engine.js';

/**
 * Stream encodings of the Docker API.
 * - Multiplexed frames (attach, logs and exec without a TTY, API >= 1.42 content type
 *   `application/vnd.docker.multiplexed-stream`): 8-byte header [stream, 0, 0, 0, size BE32].
 * - JSON progress/messages (pull, push, load, build): one JSON object per line.
 */

export enum StreamType {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  SystemErr = 3,
}

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

export function frame(stream: StreamType, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Content type of an attach/logs/exec stream: multiplexed only without a TTY and on API >= 1.42. */
export function streamContentType(tty: boolean, apiVersion: string): string {
  return !tty && compareVersions(apiVersion, '1.42') >= 0 ? MULTIPLEXED_STREAM : RAW_STREAM;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * A JSON message stream as Docker's streamformatter writes it (pull, push, load, build); its
 * parts are the swagger's ProgressDetail and ErrorDetail (src/wire/engine.ts).
 */
export interface JsonMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: ProgressDetail;
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: ErrorDetail & { message: string };
}

export class JsonMessageWriter {
  constructor(private readonly out: Writable) {}

  write(msg: JsonMessage): void {
    this.out.write(`${JSON.stringify(msg)}\r\n`);
  }
  stream(text: string): void {
    this.write({ stream: text });
  }
  status(status: string, id?: string): void {
    this.write(id === undefined ? { status } : { status, id });
  }
  error(message: string): void {
    this.write({ errorDetail: { message }, error: message });
  }
}
