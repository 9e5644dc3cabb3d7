/**
 * Errors in pier are a few kinds. Any part throws an EngineError with the kind that
 * describes what went wrong; only src/api/ turns a kind into an HTTP status
 * (see api/errors.ts), and the CLI prints the message.
 */
export type ErrorKind =
  | 'invalid' // 400: malformed request, bad parameter, broken input (tar, Dockerfile, reference)
  | 'unauthorized' // 401: registry refused our credentials
  | 'forbidden' // 403
  | 'notFound' // 404: no such image, container, network, volume, blob
  | 'conflict' // 409: name in use, image in use, container running
  | 'notModified' // 304: start of a started container, stop of a stopped one
  | 'unavailable' // 503: a part that is not there (swarm, plugins), daemon shutting down
  | 'notImplemented' // 501
  | 'internal'; // 500

export class EngineError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'EngineError';
  }
}

export const invalid = (msg: string, cause?: unknown): EngineError => new EngineError('invalid', msg, { cause });
export const notFound = (msg: string, cause?: unknown): EngineError => new EngineError('notFound', msg, { cause });
export const conflict = (msg: string, cause?: unknown): EngineError => new EngineError('conflict', msg, { cause });
export const notModified = (msg = ''): EngineError => new EngineError('notModified', msg);
export const forbidden = (msg: string): EngineError => new EngineError('forbidden', msg);
export const unavailable = (msg: string, cause?: unknown): EngineError => new EngineError('unavailable', msg, { cause });
export const notImplemented = (msg: string): EngineError => new EngineError('notImplemented', msg);
export const internal = (msg: string, cause?: unknown): EngineError => new EngineError('internal', msg, { cause });

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof EngineError && err.kind === kind;
}

/** Prefix the message of an error with context, keeping its kind: `pull alpine: blob sha256:...: digest mismatch`. */
export function withContext(context: string, err: unknown): EngineError {
  if (err instanceof EngineError) return new EngineError(err.kind, `${context}: ${err.message}`, { cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  return new EngineError('internal', `${context}: ${msg}`, { cause: err });
}

/** Node system errors carry a code (ENOENT, EEXIST, ...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}
