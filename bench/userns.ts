/**
 * Benchmark (not a test) of a container with a user namespace of its own:
 * `docker run --rm busybox true` with `--userns=auto` beside the default (the host's IDs),
 * the same daemon, the same run, the two interleaved so that both see the same machine
 * (target: auto at most 15 ms more, medians).
 *
 *   bash bench/run-userns.sh [--runs 40] [--warmup 5]
 *
 * The docker CLI takes no `--userns=auto`: the daemon runs with `default-userns-mode: auto`,
 * so a plain `run` gets a range of its own, and `--userns=host` is the default's path. Its
 * subordinate IDs come from a user made for the run (`userns-default-user`), deleted after it
 * with its /etc/subuid and /etc/subgid lines. Each figure is the wall time of one docker CLI
 * command spawned from here. Needs root.
 */
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { importBusybox, startDaemon } from '../test/harness.js';
import { check, median, percentile, wallMs } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);
const TARGET_MS = 15;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  const user = `pb-${process.pid.toString(36)}`;
  const d = await startDaemon({ schemaProxy: false, config: { 'default-userns-mode': 'auto', 'userns-default-user': user } });
  const ms = { auto: [] as number[], host: [] as number[] };
  try {
    await chmod(d.dir, 0o711);
    await importBusybox(d);
    const runs: Array<[keyof typeof ms, string[]]> = [
      ['host', ['run', '--rm', '--userns=host', 'busybox', 'true']],
      ['auto', ['run', '--rm', 'busybox', 'true']],
    ];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      // Alternate which goes first, so neither always follows the other's clean-up.
      for (const [mode, args] of i % 2 ? [...runs].reverse() : runs) {
        const t = await wallMs(async () => void check(await d.docker(args), `docker ${args.join(' ')}`));
        if (i >= WARMUP) ms[mode].push(t);
      }
    }
  } finally {
    await d.stop();
    await promisify(execFile)('userdel', [user]).catch((err: unknown) => process.stderr.write(`bench: userdel ${user}: ${String(err)}\n`));
  }
  const row = (what: string, v: number[]): string =>
    `${what.padEnd(40)}${String(v.length).padStart(6)}${median(v).toFixed(1).padStart(9)}${percentile(v, 90).toFixed(1).padStart(9)}${Math.min(...v).toFixed(1).padStart(9)}`;
  const extra = median(ms.auto) - median(ms.host);
  process.stdout.write(
    [
      `wall ms of one docker CLI command; ${WARMUP} warm-ups each, interleaved`,
      `${'what'.padEnd(40)}${'runs'.padStart(6)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}`,
      row('run --rm busybox true (host IDs)', ms.host),
      row('run --rm busybox true (--userns=auto)', ms.auto),
      `--userns=auto: ${extra.toFixed(1)} ms more (${(median(ms.auto) / median(ms.host)).toFixed(2)}x); target <= ${TARGET_MS} ms more: ${extra <= TARGET_MS ? 'met' : 'NOT met'}`,
      '',
    ].join('\n'),
  );
}

await main();
