import { invalid } from '../errors.js';
import { isSignal } from '../util/signals.js';
import type { ImageRunConfig } from './containers.js';
import type { ContainerRecord, CreateBody, HostConfig } from './types.js';

/**
 * A create request made whole: its Config completed from the image's as Docker does, and its
 * HostConfig checked. Pure functions: no I/O, no state.
 */

function asList(v: string[] | string | undefined | null): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? ['/bin/sh', '-c', v] : v;
}

/**
 * A create request's Config, completed from the image as Docker does. `hostName`: the host's
 * name, which a container on the host's network gets when it names none (Docker's rule).
 */
export function mergeConfig(body: CreateBody, image: ImageRunConfig, id: string, hostName?: string): ContainerRecord['Config'] {
  const env = new Map<string, string>();
  for (const e of [...(image.Env ?? []), ...(body.Env ?? [])]) {
    const i = e.indexOf('=');
    env.set(i < 0 ? e : e.slice(0, i), e);
  }
  const entrypointGiven = body.Entrypoint !== undefined;
  const entrypoint = entrypointGiven ? asList(body.Entrypoint) : (image.Entrypoint ?? undefined);
  // An entrypoint given on create drops the image's Cmd unless Cmd is given too.
  const cmd = body.Cmd !== undefined && !(Array.isArray(body.Cmd) && body.Cmd.length === 0 && !entrypointGiven)
    ? asList(body.Cmd)
    : entrypointGiven
      ? undefined
      : (image.Cmd ?? undefined);
  const entry = entrypoint && entrypoint.length === 1 && entrypoint[0] === '' ? undefined : entrypoint;
  const { HostConfig: _hostConfig, NetworkingConfig: _networkingConfig, Platform: _platform, Runtime: _runtime, ...config } = body;
  return {
    ...config,
    Hostname: body.Hostname || (body.HostConfig?.NetworkMode === 'host' && hostName) || id.slice(0, 12),
    Domainname: body.Domainname ?? '',
    User: body.User || image.User || '',
    Env: [...env.values()],
    Cmd: cmd && cmd.length > 0 ? cmd : undefined,
    Entrypoint: entry && entry.length > 0 ? entry : undefined,
    Image: body.Image ?? '',
    WorkingDir: body.WorkingDir || image.WorkingDir || '',
    Labels: { ...(image.Labels ?? {}), ...(body.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(body.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(body.Volumes ?? {}) },
    StopSignal: body.StopSignal || image.StopSignal || undefined,
    Healthcheck: body.Healthcheck ?? (image.Healthcheck as ContainerRecord['Config']['Healthcheck']),
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
  };
}

export function validateHostConfig(hc: HostConfig): void {
  const policy = hc.RestartPolicy?.Name ?? '';
  if (hc.AutoRemove && policy !== '' && policy !== 'no') {
    throw invalid('conflicting options: cannot specify both --restart and --rm');
  }
  if (policy !== 'on-failure' && (hc.RestartPolicy?.MaximumRetryCount ?? 0) > 0) {
    throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (hc.Isolation && hc.Isolation.toLowerCase() !== 'default') {
    throw invalid(`invalid isolation: "${hc.Isolation}" - linux only supports 'default'`);
  }
  // Limits and security options are checked against the host's facts: limits.ts, security.ts.
}


/** Checks of a merged Config that Docker makes at create (400 with Docker's messages). */
export function validateConfig(config: ContainerRecord['Config']): void {
  if (config.StopSignal !== undefined && !isSignal(config.StopSignal)) throw invalid(`Invalid signal: ${config.StopSignal}`);
  const hc = config.Healthcheck;
  if (!hc) return;
  // Zero means "inherit" (from the image, else Docker's default); anything else must be >= 1 ms.
  const MS = 1_000_000;
  for (const [field, value] of [['Interval', hc.Interval], ['Timeout', hc.Timeout], ['StartPeriod', hc.StartPeriod], ['StartInterval', hc.StartInterval]] as const) {
    if (value !== undefined && value !== 0 && value < MS) throw invalid(`${field} in Healthcheck cannot be less than 1ms`);
  }
  if (hc.Retries !== undefined && hc.Retries < 0) throw invalid('Retries in Healthcheck cannot be negative');
}
