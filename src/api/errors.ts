import { EngineError, type ErrorKind } from '../errors.js';

/** The one place where an error kind becomes an HTTP status (as moby's httpstatus does). */
const statusByKind: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  notModified: 304,
  unavailable: 503,
  notImplemented: 501,
  internal: 500,
};

export function statusOf(err: unknown): number {
  if (err instanceof EngineError) return statusByKind[err.kind];
  if (err instanceof SyntaxError) return 400; // JSON.parse of a request body
  return 500;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
