import http from 'node:http';

/** The errors a Client throws: the daemon's error answers, and a daemon that cannot be reached. */

/** An error answer of the daemon: its HTTP status and the `message` of its JSON body. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The daemon's socket could not be reached at all. */
export class DaemonUnreachableError extends Error {
  readonly host: string;
  readonly code: string;
  constructor(host: string, code: string, cause?: unknown) {
    super(`cannot reach the daemon at ${host} (${describeCode(code)})`, { cause });
    this.name = 'DaemonUnreachableError';
    this.host = host;
    this.code = code;
  }
}

function describeCode(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTSOCK':
      return 'not a socket';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'timed out';
    default:
      return code;
  }
}

/** The socket errors that mean no daemon answers at the address. */
export const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** The whole body of an answer, as text. */
export async function readText(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Docker's error message from an error body: `{"message": ...}`, else the text itself. */
export function errorMessage(status: number, text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON after all: fall through to the text
    }
  }
  if (trimmed !== '') return trimmed;
  return `${status} ${http.STATUS_CODES[status] ?? 'error'}`;
}
