import type { Readable } from 'node:stream';
import { log } from '../log.js';
import { nowIso, type ContainerCore } from './core.js';
import type { Execs } from './exec.js';
import type { ContainerRecord, HealthProbe, HealthState } from './types.js';

/** Docker's defaults (moby `container/health.go`), in nanoseconds as the API gives them. */
const S = 1_000_000_000;
export const HEALTH_DEFAULTS = { interval: 30 * S, timeout: 30 * S, startPeriod: 0, startInterval: 5 * S, retries: 3 };
/** Probes kept in State.Health.Log, and bytes of output kept per probe (Docker's figures). */
const LOG_ENTRIES = 5;
const OUTPUT_BYTES = 4096;

/** A container's health check, resolved: what to run and when. */
export interface HealthPlan {
  args: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

/**
 * Health checks (HEALTHCHECK, `--health-*`): while a container runs, its probe runs through
 * exec every interval (every start interval during the start period), and State.Health keeps
 * the status, the failing streak and the last five probes. Beyond Docker, the first probe runs
 * as soon as the container starts, not one interval later (moby #48874), so a service is
 * `healthy` within moments of being ready.
 *
 * Rules (Docker's): a probe that exits 0 makes the container `healthy` and resets the streak;
 * any other end (an exit code, a timeout, a probe that cannot start) adds to the streak, and
 * `retries` failures in a row make it `unhealthy`, except that failures in the start period
 * do not count until a probe succeeded. Each change of status is a `health_status: <status>`
 * event. Checks start whenever the container starts (pierd's own start included) and stop
 * when it exits.
 */
export class HealthChecks {
  private readonly running = new Map<string, { timer?: NodeJS.Timeout; stop: boolean }>();

  constructor(
    private readonly core: ContainerCore,
    private readonly execs: Execs,
  ) {
    core.onStarted((rec) => this.start(rec));
  }

  /** Begin checking a container that just started (or that pierd found running). */
  start(rec: ContainerRecord): void {
    this.stop(rec.Id);
    const plan = healthPlan(rec);
    if (!plan) {
      rec.State.Health = undefined;
      return;
    }
    const startedAt = Date.parse(rec.State.StartedAt);
    // A container found running again keeps the health it had; a new run starts over (lifecycle).
    rec.State.Health ??= { Status: 'starting', FailingStreak: 0, Log: [] };
    const run = { stop: false } as { timer?: NodeJS.Timeout; stop: boolean };
    this.running.set(rec.Id, run);
    const next = (delayMs: number): void => {
      if (run.stop) return;
      run.timer = setTimeout(() => void probeOnce(), delayMs);
      run.timer.unref();
    };
    const probeOnce = async (): Promise<void> => {
      if (run.stop || rec.State.Status !== 'running' || !this.core.current(rec)) return this.stop(rec.Id);
      const probe = await this.probe(rec, plan);
      if (run.stop || !this.core.current(rec)) return;
      const inStartPeriod = Date.now() - startedAt < plan.startPeriodMs;
      this.record(rec, probe, plan, inStartPeriod);
      const stillStarting = rec.State.Health?.Status === 'starting' && inStartPeriod;
      next(stillStarting ? plan.startIntervalMs : plan.intervalMs);
    };
    next(0);
  }

  /** Stop checking (the container exited or is removed). */
  stop(id: string): void {
    const run = this.running.get(id);
    if (!run) return;
    run.stop = true;
    clearTimeout(run.timer);
    this.running.delete(id);
  }

  shutdown(): void {
    for (const id of [...this.running.keys()]) this.stop(id);
  }

  private record(rec: ContainerRecord, probe: HealthProbe, plan: HealthPlan, inStartPeriod: boolean): void {
    const h: HealthState = rec.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const before = h.Status;
    h.Log = [...h.Log, probe].slice(-LOG_ENTRIES);
    if (probe.ExitCode === 0) {
      h.Status = 'healthy';
      h.FailingStreak = 0;
    } else if (!(inStartPeriod && h.Status === 'starting')) {
      h.FailingStreak++;
      if (h.FailingStreak >= plan.retries) h.Status = 'unhealthy';
    }
    rec.State.Health = h;
    this.core.store.save(rec, { durable: false }).catch((err: unknown) => log.warn({ err, id: rec.Id }, 'saving the health of a container'));
    if (h.Status !== before) this.core.emit(`health_status: ${h.Status}`, rec);
  }

  /** Run the probe once; never rejects: a probe that cannot run is a failed probe. */
  private async probe(rec: ContainerRecord, plan: HealthPlan): Promise<HealthProbe> {
    const start = nowIso();
    const result = (exitCode: number, output: string): HealthProbe => ({ Start: start, End: nowIso(), ExitCode: exitCode, Output: output });
    let output = Buffer.alloc(0);
    const keep = (chunk: Buffer): void => {
      if (output.length < OUTPUT_BYTES) output = Buffer.concat([output, chunk.subarray(0, OUTPUT_BYTES - output.length)]);
    };
    try {
      const { Id } = await this.execs.createExec(rec.Id, { Cmd: plan.args, AttachStdout: true, AttachStderr: true });
      const started = await this.execs.startExec(Id, { detach: false });
      started.streams?.stdout.on('data', keep);
      started.streams?.stderr.on('data', keep);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), plan.timeoutMs)));
      const end = await Promise.race([started.exited, timedOut]);
      clearTimeout(timer);
      if (end === 'timeout') {
        const pid = this.execs.inspectExec(Id).Pid;
        try {
          if (pid > 0) process.kill(pid, 'SIGKILL');
        } catch {
          // ended meanwhile
        }
        started.streams?.close();
        return result(-1, `Health check exceeded timeout (${plan.timeoutMs / 1000}s)`);
      }
      // The exit code can come before the last output: that is read until conmon closes the streams.
      if (started.streams) await drained([started.streams.stdout, started.streams.stderr], DRAIN_MS);
      started.streams?.close();
      return result(end, output.toString('utf8'));
    } catch (err) {
      return result(-1, `health check failed to run: ${(err as Error).message}`);
    }
  }
}

/** The check a container runs, from its Config.Healthcheck with Docker's defaults; undefined for none. */
export function healthPlan(rec: Pick<ContainerRecord, 'Config'>): HealthPlan | undefined {
  const hc = rec.Config.Healthcheck;
  const test = hc?.Test ?? [];
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  let args: string[];
  if (test[0] === 'CMD') args = test.slice(1);
  else if (test[0] === 'CMD-SHELL') args = [...(rec.Config.Shell && rec.Config.Shell.length > 0 ? rec.Config.Shell : ['/bin/sh', '-c']), test.slice(1).join(' ')];
  else args = test;
  if (args.length === 0) return undefined;
  const ms = (ns: number | undefined, fallback: number): number => Math.max(1, Math.round((ns || fallback) / 1_000_000));
  return {
    args,
    intervalMs: ms(hc?.Interval, HEALTH_DEFAULTS.interval),
    timeoutMs: ms(hc?.Timeout, HEALTH_DEFAULTS.timeout),
    startPeriodMs: hc?.StartPeriod ? ms(hc.StartPeriod, 0) : 0,
    startIntervalMs: ms(hc?.StartInterval, HEALTH_DEFAULTS.startInterval),
    retries: hc?.Retries || HEALTH_DEFAULTS.retries,
  };
}

/** How long a probe's output is waited for after its exit code came. */
const DRAIN_MS = 1000;

/** Settles once every stream has ended or closed, or after `ms`. */
function drained(streams: Readable[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = (r: Readable): Promise<void> =>
    r.readableEnded || r.destroyed ? Promise.resolve() : new Promise((resolve) => {
      r.once('end', resolve);
      r.once('close', resolve);
    });
  return Promise.race([Promise.all(streams.map(ended)).then(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
