import { StringDecoder } from 'node:string_decoder';
import type { JsonMessage } from './types.js';

/**
 * Readers of Docker's JSON message streams (pull, push, load, import, build, events):
 * one JSON object per line, lines ending in `\n` or `\r\n`. They read as the bytes
 * arrive and hold at most one line in memory.
 */

/** An `errorDetail` (or legacy `error`) message met in a JSON message stream. */
export class JsonStreamError extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = 'JsonStreamError';
    this.code = code;
  }
}

/** Yield each non-empty line of the stream, without its line ending. */
export async function* jsonLines(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of source) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') yield line;
    }
  }
  const last = (pending + decoder.end()).trim();
  if (last !== '') yield last;
}

/** Parse one line of a JSON message stream; a malformed line is an error that names it. */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new JsonStreamError(`invalid JSON in message stream: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`);
  }
}

/**
 * Yield the messages of a JSON message stream in order. A message carrying `errorDetail`
 * (or only the legacy `error`) ends the stream with a JsonStreamError holding its text,
 * after every message before it has been yielded.
 */
export async function* jsonMessages<T extends JsonMessage = JsonMessage>(source: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  for await (const line of jsonLines(source)) {
    const msg = parseJsonLine(line) as T;
    if (msg !== null && typeof msg === 'object') {
      if (msg.errorDetail) throw new JsonStreamError(msg.errorDetail.message || msg.error || 'unknown error', msg.errorDetail.code);
      if (typeof msg.error === 'string' && msg.error !== '') throw new JsonStreamError(msg.error);
    }
    yield msg;
  }
}
