import { invalid } from '../errors.js';

/**
 * Linux signals by name, the one table of pier. Every part that takes a signal from a user
 * (`docker kill -s`, `--stop-signal`, STOPSIGNAL, `?signal=`) reads it through `parseSignal`,
 * which accepts what Docker accepts: `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+3`.
 */

const NUMBERS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10,
  SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18, STOP: 19,
  TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28,
  IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

const RTMIN = 34;
const RTMAX = 64;

export interface Signal {
  /** The number the kernel knows it by (1 to 64). */
  number: number;
  /** `SIGTERM`, `SIGRTMIN+3`; for a number without a name, the number as text. */
  name: string;
}

/** Parse a signal as Docker's users write it; `invalid` ("Invalid signal: x") for anything else. */
export function parseSignal(text: string | number): Signal {
  const fail = () => invalid(`Invalid signal: ${text}`);
  if (typeof text === 'number' || /^\s*\d+\s*$/.test(text)) {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > RTMAX) throw fail();
    return { number: n, name: nameOf(n) };
  }
  const upper = text.trim().toUpperCase();
  const bare = upper.startsWith('SIG') ? upper.slice(3) : upper;
  const known = NUMBERS[bare];
  if (known !== undefined) return { number: known, name: `SIG${bare}` };
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(bare);
  if (rt) {
    const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '-' ? -1 : 1);
    const n = (rt[1] === 'MIN' ? RTMIN : RTMAX) + offset;
    if (n < RTMIN || n > RTMAX) throw fail();
    return { number: n, name: `SIG${bare}` };
  }
  throw fail();
}

/** Whether `text` names a signal (for validating STOPSIGNAL and `--stop-signal` early). */
export function isSignal(text: string): boolean {
  try {
    parseSignal(text);
    return true;
  } catch {
    return false;
  }
}

function nameOf(n: number): string {
  for (const [name, num] of Object.entries(NUMBERS)) if (num === n) return `SIG${name}`;
  if (n >= RTMIN) return n === RTMIN ? 'SIGRTMIN' : n === RTMAX ? 'SIGRTMAX' : `SIGRTMIN+${n - RTMIN}`;
  return String(n);
}
