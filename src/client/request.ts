import type http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Query } from './query.js';

/** What a request of the Client takes and what it answers, and how a request's path names an image. */

export interface RequestOptions {
  query?: Query;
  /** A JSON value (sent as application/json), or raw bytes, or a stream (sent chunked). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Response<T> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
  /** The body as received. */
  raw: string;
}

export interface Hijacked {
  /** The raw connection: output of the container to read, stdin to write, `end()` to half-close. */
  socket: Socket;
  /** `application/vnd.docker.multiplexed-stream` (frames) or `application/vnd.docker.raw-stream` (TTY). */
  contentType: string;
}

export interface ClientOptions {
  host?: string;
  version?: string;
}

/** An image reference in a path: Docker sends `/images/docker.io/library/alpine:3/json` with its slashes and colons as they are. */
export function imagePath(name: string): string {
  return encodeURIComponent(name).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/g, '@');
}

export function isStream(body: unknown): body is NodeJS.ReadableStream {
  return body instanceof Readable || (typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function');
}
