import { demux } from '../client/demux.js';
import type { ContainerSummary } from '../client/types.js';
import { nameOf, type Deps } from './engine.js';

/**
 * `logs`: every container's output, line by line, behind its name (`web-1  | `), coloured
 * per container on a terminal as Compose does. With `follow`, lines arrive as they are
 * written until each container stops (or `signal` aborts).
 */

const COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export interface LogsOptions {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  noPrefix?: boolean;
  noColor?: boolean;
  signal?: AbortSignal;
}

export async function logs(d: Deps, containers: ContainerSummary[], project: string, o: LogsOptions): Promise<void> {
  const short = (c: ContainerSummary): string => nameOf(c).replace(new RegExp(`^${project}-`), '');
  const width = Math.max(0, ...containers.map((c) => short(c).length));
  await Promise.all(
    containers.map(async (c, i) => {
      const colour = d.reporter.tty && !o.noColor ? COLOURS[i % COLOURS.length]! : undefined;
      const label = short(c).padEnd(width);
      const prefix = o.noPrefix ? '' : colour !== undefined ? `\x1b[${colour}m${label}  |\x1b[0m ` : `${label}  | `;
      const info = await d.client.containerInspect(c.Id);
      const res = await d.client.containerLogs(c.Id, { follow: o.follow, tail: o.tail, timestamps: o.timestamps, since: o.since });
      if (o.signal) {
        const abort = (): void => {
          res.destroy();
        };
        o.signal.addEventListener('abort', abort, { once: true });
      }
      const pending = { out: '', err: '' };
      const emit = (key: 'out' | 'err', text: string, final = false): void => {
        pending[key] += text;
        const lines = pending[key].split('\n');
        pending[key] = final ? '' : lines.pop()!;
        for (const line of final ? lines.filter((l, j) => l !== '' || j < lines.length - 1) : lines) {
          if (key === 'out') d.reporter.out(`${prefix}${line}\n`);
          else d.reporter.err(`${prefix}${line}\n`);
        }
      };
      try {
        if (info.Config.Tty) for await (const chunk of res as AsyncIterable<Buffer>) emit('out', chunk.toString('utf8'));
        else for await (const frame of demux(res as AsyncIterable<Buffer>)) emit(frame.stream === 2 ? 'err' : 'out', frame.data.toString('utf8'));
      } catch (err) {
        if (!o.signal?.aborted) throw err;
      }
      emit('out', '', true);
      emit('err', '', true);
    }),
  );
}
