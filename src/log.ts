import { pino, type Logger } from 'pino';

/** Structured logs to stderr. The daemon sets the level from --log-level. */
export const log: Logger = pino(
  { level: process.env.PIER_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
  pino.destination({ fd: 2, sync: false }),
);

export type { Logger };
