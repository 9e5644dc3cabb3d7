/**
 * Sizes as Docker prints them (go-units: `4.26MB`, `15.52GiB`) and the Go number formats they
 * rest on (`%g`, `%f`, rounded as Go rounds, on the exact binary value). Shared by the CLI and
 * the daemon's progress messages, so both print a size the same way. Pure.
 */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSizeWithPrecision: decimal units, `precision` significant digits (`4.26MB`, `999B`). */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${formatG(size, precision)}${DECIMAL_UNITS[i]}`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units BytesSize: binary units, 4 significant digits (`15.52GiB`), as `docker info` prints memory. */
export function bytesSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < BINARY_UNITS.length - 1) {
    size /= 1024;
    i++;
  }
  return `${formatG(size, 4)}${BINARY_UNITS[i]}`;
}

/**
 * Go's `%.<precision>g`: `precision` significant digits, rounded half to even on the exact
 * binary value as Go does, trailing zeros dropped, exponent form (`1e+03`) when the
 * exponent is below -4 or at least the precision.
 */
export function formatG(x: number, precision: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  if (x === 0) return '0';
  const p = Math.max(1, precision);
  const neg = x < 0;
  const abs = Math.abs(x);
  // The exact decimal expansion of the double (finite, at most ~1100 digits).
  const { digits, exp } = exactDigits(abs);
  // digits: all significant digits, digits[0] is non-zero; value = 0.d1d2... × 10^(exp+1)
  let kept = digits.slice(0, p);
  let e = exp;
  if (digits.length > p) {
    const rest = digits.slice(p);
    const first = rest.charCodeAt(0) - 48;
    const tail = /[1-9]/.test(rest.slice(1));
    const last = kept.charCodeAt(kept.length - 1) - 48;
    const roundUp = first > 5 || (first === 5 && (tail || last % 2 === 1));
    if (roundUp) {
      const inc = incrementDigits(kept);
      if (inc.length > kept.length) {
        e++;
        kept = inc.slice(0, p);
      } else kept = inc;
    }
  }
  kept = kept.replace(/0+$/, '');
  if (kept === '') kept = '0';
  let out: string;
  if (e < -4 || e >= p) {
    const mant = kept.length > 1 ? `${kept[0]}.${kept.slice(1)}` : kept;
    const ee = Math.abs(e);
    out = `${mant}e${e < 0 ? '-' : '+'}${ee < 10 ? `0${ee}` : ee}`;
  } else if (e >= 0) {
    const intPart = kept.slice(0, e + 1).padEnd(e + 1, '0');
    const frac = kept.slice(e + 1);
    out = frac ? `${intPart}.${frac}` : intPart;
  } else {
    out = `0.${'0'.repeat(-e - 1)}${kept}`;
  }
  return neg ? `-${out}` : out;
}

/** Go's `%.<precision>f`: fixed notation, rounded half to even on the exact binary value. */
export function formatFixed(x: number, precision: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  const neg = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  let intDigits: string;
  let fracDigits: string;
  if (abs === 0) {
    intDigits = '0';
    fracDigits = '';
  } else {
    const { digits, exp } = exactDigits(abs);
    // place the decimal point: value = digits × 10^(exp - digits.length + 1)
    if (exp >= 0) {
      intDigits = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      fracDigits = digits.slice(exp + 1);
    } else {
      intDigits = '0';
      fracDigits = '0'.repeat(-exp - 1) + digits;
    }
  }
  let kept = intDigits + fracDigits.slice(0, precision).padEnd(precision, '0');
  const rest = fracDigits.slice(precision);
  if (rest !== '') {
    const first = rest.charCodeAt(0) - 48;
    const tail = /[1-9]/.test(rest.slice(1));
    const last = kept.charCodeAt(kept.length - 1) - 48;
    if (first > 5 || (first === 5 && (tail || last % 2 === 1))) kept = incrementDigits(kept);
  }
  const intLen = kept.length - precision;
  const out = precision > 0 ? `${kept.slice(0, intLen)}.${kept.slice(intLen)}` : kept;
  return neg ? `-${out}` : out;
}

/** Significant digits of a positive finite double, exactly, and the decimal exponent of the first. */
function exactDigits(x: number): { digits: string; exp: number } {
  // x = mantissa × 2^e2, exactly.
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biased === 0) e2 = -1074;
  else {
    mant |= 1n << 52n;
    e2 = biased - 1075;
  }
  // value = mant × 2^e2 = num / den
  let num = mant;
  let den = 1n;
  if (e2 >= 0) num <<= BigInt(e2);
  else den <<= BigInt(-e2);
  const intPart = num / den;
  let rem = num % den;
  let digits = intPart === 0n ? '' : intPart.toString();
  let exp = digits.length - 1;
  let frac = '';
  while (rem !== 0n) {
    rem *= 10n;
    frac += (rem / den).toString();
    rem %= den;
  }
  if (digits === '') {
    const lead = frac.search(/[1-9]/);
    exp = -lead - 1;
    digits = frac.slice(lead);
  } else digits += frac;
  return { digits: digits.replace(/0+$/, '') || '0', exp };
}

function incrementDigits(d: string): string {
  const arr = d.split('').map(Number);
  let i = arr.length - 1;
  while (i >= 0) {
    if (arr[i]! < 9) {
      arr[i]!++;
      return arr.join('');
    }
    arr[i] = 0;
    i--;
  }
  return `1${arr.join('')}`;
}
