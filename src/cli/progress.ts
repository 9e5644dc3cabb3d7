import { writeTo } from '../client/demux.js';
import { jsonMessages } from '../client/json-stream.js';
import type { JsonMessage } from '../client/types.js';
import { progressBar } from '../util/progress-bar.js';

/**
 * Docker's DisplayJSONMessagesStream: print a JSON progress stream (pull, load, import) as
 * it arrives. On a terminal each layer keeps one line, redrawn in place; elsewhere progress
 * updates are dropped and every other message is one line (`abc123: Pull complete`). An
 * `errorDetail` message throws (JsonStreamError); `aux` messages go to `onAux`.
 */
export async function displayJsonMessages(
  source: AsyncIterable<Buffer | string>,
  out: NodeJS.WritableStream,
  opts: { isTerminal: boolean; onAux?: (aux: unknown) => void },
): Promise<void> {
  const ids = new Map<string, number>();
  for await (const msg of jsonMessages(source)) {
    if (msg.aux !== undefined) {
      opts.onAux?.(msg.aux);
      continue;
    }
    const hasProgress = msg.progressDetail !== undefined || msg.progress !== undefined;
    let diff = 0;
    if (msg.id && hasProgress) {
      let line = ids.get(msg.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(msg.id, line);
        if (opts.isTerminal) await writeTo(out, '\n');
      }
      diff = ids.size - line;
      if (opts.isTerminal && diff > 0) await writeTo(out, `\x1b[${diff}A`);
    } else {
      // Anything that is not a progress line ends the block of lines being redrawn.
      ids.clear();
    }
    const text = renderMessage(msg, opts.isTerminal);
    if (text !== undefined) await writeTo(out, text);
    if (msg.id && opts.isTerminal && diff > 0) await writeTo(out, `\x1b[${diff}B`);
  }
}

/** One message as Docker's JSONMessage.Display prints it; undefined when nothing is printed. */
export function renderMessage(msg: JsonMessage, isTerminal: boolean): string | undefined {
  const detail = msg.progressDetail;
  const progress = msg.progress ?? (detail && ((detail.current ?? 0) > 0 || (detail.total ?? 0) > 0) ? progressBar(detail.current ?? 0, detail.total ?? 0) : '');
  let endl = '';
  let text = '';
  if (isTerminal && msg.stream === undefined && (msg.progressDetail !== undefined || msg.progress !== undefined)) {
    text += '\x1b[2K\r';
    endl = '\r';
  } else if (progress !== '') {
    return undefined; // no progress bars off a terminal
  }
  if (msg.id) text += `${msg.id}: `;
  if (msg.from) text += `(from ${msg.from}) `;
  if (isTerminal && progress !== '') text += `${msg.status ?? ''} ${progress}${endl}`;
  else if (msg.stream !== undefined) text += `${msg.stream}${endl}`;
  else text += `${msg.status ?? ''}${endl}\n`;
  return text;
}
