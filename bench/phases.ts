/**
 * Benchmark (not a test): where one `docker run --rm busybox true` spends its time, phase by
 * phase, on `--network none` and on the default bridge. pierd runs with `PIER_TRACE` (see
 * src/util/trace.ts); each phase is the time from the mark before it to its own, medians over
 * the runs. The first row holds the CLI's own start and first requests with the create's first
 * steps; the last, the CLI noticing the removal and exiting.
 *
 *   bash bench/run-phases.sh [--runs 20] [--warmup 3]
 *
 * Needs root.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importBusybox, startDaemon } from '../test/harness.js';
import { check, median } from './stats.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
  },
});
const RUNS = Number(opts.runs);
const WARMUP = Number(opts.warmup);

interface Mark {
  t: number;
  id: string;
  phase: string;
}

/** Wall clock in ms with sub-ms precision, on the same clock as the daemon's marks. */
const now = (): number => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs containers: run it as root');
  const traceDir = await mkdtemp('/tmp/pier-phases-');
  const tracePath = join(traceDir, 'trace.jsonl');
  const daemon = await startDaemon({ schemaProxy: false, logLevel: 'warn', env: { PIER_TRACE: tracePath } });
  const lines: string[] = [];
  try {
    await importBusybox(daemon);
    for (const network of ['none', 'bridge']) {
      const runs: Array<{ start: number; end: number }> = [];
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const start = now();
        check(await daemon.docker(['run', '--rm', '--network', network, 'busybox', 'true']), `docker run --rm --network ${network}`);
        if (i >= WARMUP) runs.push({ start, end: now() });
      }
      const marks = (await readFile(tracePath, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Mark);
      const phases = new Map<string, number[]>();
      const add = (phase: string, ms: number): void => {
        const list = phases.get(phase) ?? [];
        list.push(ms);
        phases.set(phase, list);
      };
      for (const r of runs) {
        const mine = marks.filter((m) => m.t >= r.start && m.t <= r.end);
        const ids = new Set(mine.map((m) => m.id));
        if (ids.size !== 1) throw new Error(`expected the marks of one container in a run, found ${ids.size}`);
        let last = r.start;
        for (const [i, m] of mine.entries()) {
          add(i === 0 ? `CLI: start, requests; ${m.phase}` : m.phase, m.t - last);
          last = m.t;
        }
        add('CLI: removal seen, exit', r.end - last);
        add('total', r.end - r.start);
      }
      lines.push(`--network ${network}: ${RUNS} runs after ${WARMUP} warm-ups, medians, ms (each phase: since the mark before it)`);
      let sum = 0;
      for (const [phase, ms] of phases) {
        if (phase !== 'total') sum += median(ms);
        lines.push(`  ${phase.padEnd(44)}${median(ms).toFixed(2).padStart(8)}`);
      }
      lines.push(`  ${'(sum of the medians)'.padEnd(44)}${sum.toFixed(2).padStart(8)}`);
    }
  } finally {
    await daemon.stop();
    await rm(traceDir, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
