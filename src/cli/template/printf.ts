import { formatFixed, formatG, goQuote } from '../human.js';
import { fmtValue, formatFloatV, goType } from './values.js';

/** Go's fmt.Sprintf for the verbs `%v %s %q %d %b %o %x %X %c %U %e %f %g %t %T %%`, with widths, precisions and flags. Pure. */

export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    let j = i + 1;
    let minus = false;
    let plus = false;
    let zero = false;
    let space = false;
    let sharp = false;
    for (; j < format.length; j++) {
      const f = format[j];
      if (f === '-') minus = true;
      else if (f === '+') plus = true;
      else if (f === '0') zero = true;
      else if (f === ' ') space = true;
      else if (f === '#') sharp = true;
      else break;
    }
    let width: number | undefined;
    if (format[j] === '*') {
      width = Number(args[argi++]);
      j++;
    } else {
      const m = /^\d+/.exec(format.slice(j));
      if (m) {
        width = Number(m[0]);
        j += m[0].length;
      }
    }
    let prec: number | undefined;
    if (format[j] === '.') {
      j++;
      if (format[j] === '*') {
        prec = Number(args[argi++]);
        j++;
      } else {
        const m = /^\d*/.exec(format.slice(j))!;
        prec = m[0] === '' ? 0 : Number(m[0]);
        j += m[0].length;
      }
    }
    const verb = format[j];
    i = j;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argi++];
    const bad = (): string => `%!${verb}(${goType(arg)}=${fmtValue(arg)})`;
    let s: string;
    let numeric = false;
    switch (verb) {
      case 'v':
        s = typeof arg === 'number' ? formatFloatV(arg) : fmtValue(arg);
        numeric = typeof arg === 'number';
        if (sharp && typeof arg === 'string') s = goQuote(arg);
        break;
      case 's':
        s = fmtValue(arg);
        if (prec !== undefined) s = Array.from(s).slice(0, prec).join('');
        break;
      case 'q':
        if (typeof arg === 'number' && Number.isInteger(arg)) s = `'${String.fromCodePoint(arg)}'`;
        else if (typeof arg === 'string') s = goQuote(arg);
        else if (Array.isArray(arg)) s = `[${arg.map((a) => (typeof a === 'string' ? goQuote(a) : fmtValue(a))).join(' ')}]`;
        else s = bad();
        break;
      case 'd':
      case 'b':
      case 'o':
      case 'x':
      case 'X':
      case 'c':
      case 'U':
        if (typeof arg === 'number' && Number.isInteger(arg)) {
          numeric = true;
          const base = verb === 'd' ? 10 : verb === 'b' ? 2 : verb === 'o' ? 8 : 16;
          if (verb === 'c') s = String.fromCodePoint(arg);
          else if (verb === 'U') s = `U+${arg.toString(16).toUpperCase().padStart(4, '0')}`;
          else {
            s = Math.abs(arg).toString(base);
            if (verb === 'X') s = s.toUpperCase();
            if (prec !== undefined) s = s.padStart(prec, '0');
            if (sharp && base === 16) s = (verb === 'X' ? '0X' : '0x') + s;
            if (sharp && base === 8) s = `0${s}`;
            s = (arg < 0 ? '-' : plus ? '+' : space ? ' ' : '') + s;
          }
        } else if ((verb === 'x' || verb === 'X') && typeof arg === 'string') {
          s = Buffer.from(arg).toString('hex');
          if (verb === 'X') s = s.toUpperCase();
        } else s = bad();
        break;
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
        if (typeof arg === 'number') {
          numeric = true;
          if (verb === 'f' || verb === 'F') s = formatFixed(arg, prec ?? 6);
          else if (verb === 'e' || verb === 'E') {
            s = arg.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
            if (verb === 'E') s = s.toUpperCase();
          } else {
            s = prec === undefined ? formatFloatV(arg) : formatG(arg, prec === 0 ? 1 : prec);
            if (verb === 'G') s = s.toUpperCase();
          }
          if (plus && arg >= 0) s = `+${s}`;
          else if (space && arg >= 0) s = ` ${s}`;
        } else s = bad();
        break;
      case 't':
        s = typeof arg === 'boolean' ? String(arg) : bad();
        break;
      case 'T':
        s = goType(arg);
        break;
      default:
        s = `%!${verb}(${goType(arg)}=${fmtValue(arg)})`;
    }
    if (width !== undefined && Array.from(s).length < width) {
      const padLen = width - Array.from(s).length;
      if (minus) s += ' '.repeat(padLen);
      else if (zero && numeric) {
        const sign = /^[+\- ]/.test(s) ? s[0]! : '';
        s = sign + '0'.repeat(padLen) + s.slice(sign.length);
      } else s = ' '.repeat(padLen) + s;
    }
    out += s;
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args.slice(argi).map((a) => `${goType(a)}=${fmtValue(a)}`).join(', ')})`;
  }
  return out;
}
