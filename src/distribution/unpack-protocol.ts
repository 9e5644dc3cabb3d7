import { EngineError, type ErrorKind } from '../errors.js';
import type { BlobRequest } from './registry.js';

/**
 * The messages between the main thread (unpack-worker.ts, unpack-pool.ts) and an unpack
 * worker (unpack-thread.ts), and how an error crosses between them keeping its kind, `code`
 * and `status`. Both sides import this module; it holds no state.
 */

/** Bytes of a blob forwarded to its worker and not yet taken by the unpacking. */
export const WINDOW_BYTES = 4 * 1024 * 1024;
/** Marks an unpack worker in workerData. */
export const MARK = 'pierUnpackWorker';

/** Where the worker writes the blob: a new file, fsynced at the end when durable. */
export interface StoreTarget {
  path: string;
  durable: boolean;
}

/** A blob the worker GETs itself: the prepared request and the blob's size. */
export interface BlobFetch extends BlobRequest {
  size: number;
}

export interface SerializedError {
  message: string;
  kind?: ErrorKind;
  code?: string;
  /** The HTTP status a registry answered a blob GET with. */
  status?: number;
}

/** Main thread to worker. */
export type ToWorker =
  | { type: 'start'; id: number; dest: string | null; what: string; store: StoreTarget | null; fetch: BlobFetch | null; writeback: boolean }
  | { type: 'lowers'; id: number; lowers: string[] }
  | { type: 'data'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number; message: string };

/** Worker to main thread. */
export type FromWorker =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'stored'; id: number; digest: string; size: number }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'done'; id: number; diffId: string; size: number }
  | { type: 'failed'; id: number; error: SerializedError };

/** An error as a message carries it: an EngineError's kind, a network error's `code`, a registry's `status`. */
export function serialize(err: unknown): SerializedError {
  if (err instanceof EngineError) return { message: err.message, kind: err.kind };
  if (err instanceof Error) {
    const { code, status } = err as Error & { code?: string; status?: number };
    return { message: err.message, ...(code !== undefined ? { code } : {}), ...(status !== undefined ? { status } : {}) };
  }
  return { message: String(err) };
}

/** The error `serialize` described, with the same kind, `code` and `status`. */
export function deserialize(e: SerializedError): Error {
  if (e.kind !== undefined) return new EngineError(e.kind, e.message);
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {}, e.status !== undefined ? { status: e.status } : {});
}
