import { humanSize } from './size.js';

/**
 * Docker's progress bar (moby's JSONProgress): `[=====>      ]  12.3MB/45.6MB`, 50 columns
 * wide; the size alone when the total is unknown. Sizes have `precision` significant digits.
 * The one bar of pier: the daemon's progress messages and the CLI's rendering of messages
 * that carry none both use it. Pure.
 */
export function progressBar(current: number, total: number, precision?: number, width = 50): string {
  if (total <= 0) return humanSize(current, precision);
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
  return `[${bar}]  ${humanSize(current, precision)}/${humanSize(total, precision)}`;
}
