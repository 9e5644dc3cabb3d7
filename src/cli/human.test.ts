import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bytesSize,
  ellipsis,
  formatFixed,
  formatG,
  goQuote,
  humanDuration,
  humanSize,
  parseGoDuration,
  parseNanoCpus,
  parseTimestamp,
  ParseError,
  ramInBytes,
  rfc3339NanoFixed,
  timeAgo,
  truncateId,
} from './human.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('humanDuration (go-units)', () => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [1 * S, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S, '59 seconds'],
    [60 * S, 'About a minute'],
    [119 * S, 'About a minute'],
    [2 * M, '2 minutes'],
    [59 * M, '59 minutes'],
    [60 * M, 'About an hour'],
    [89 * M, 'About an hour'],
    [90 * M, '2 hours'],
    [47 * H, '47 hours'],
    [48 * H, '2 days'],
    [13 * D, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
  ];
  for (const [ms, text] of cases) it(`${ms} ms is "${text}"`, () => assert.equal(humanDuration(ms), text));

  it('timeAgo counts from a unix time', () => {
    assert.equal(timeAgo(1_000_000 - 7200, 1_000_000 * 1000), '2 hours ago');
  });
});

describe('humanSize (go-units HumanSizeWithPrecision, 3 digits, decimal)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [999, '999B'],
    [1000, '1kB'],
    [12345, '12.3kB'],
    [4261234, '4.26MB'],
    [999_999, '1e+03kB'], // Go's %.3g, as Docker prints it
    [12_250, '12.2kB'], // a tie rounds half to even, like Go
    [12_350, '12.3kB'], // 12.35 is below the tie in binary
    [1.5e9, '1.5GB'],
    [2e15, '2PB'],
  ];
  for (const [bytes, text] of cases) it(`${bytes} is ${text}`, () => assert.equal(humanSize(bytes), text));

  it('4 digits for HumanSize, binary units for BytesSize', () => {
    assert.equal(humanSize(4261234, 4), '4.261MB');
    assert.equal(bytesSize(16663879680), '15.52GiB');
    assert.equal(bytesSize(1024), '1KiB');
  });

  it('formatG and formatFixed follow Go', () => {
    assert.equal(formatG(123456, 3), '1.23e+05');
    assert.equal(formatG(0.0001234, 2), '0.00012');
    assert.equal(formatG(0.00001234, 2), '1.2e-05');
    assert.equal(formatFixed(2.25, 1), '2.2');
    assert.equal(formatFixed(2.35, 1), '2.4');
    assert.equal(formatFixed(-0.5, 0), '-0');
    assert.equal(formatFixed(1234.5, 3), '1234.500');
  });
});

describe('text', () => {
  it('truncateId drops the algorithm and keeps 12 characters', () => {
    assert.equal(truncateId('sha256:1111111111111111111111111111111111111111111111111111111111111111'), '111111111111');
    assert.equal(truncateId('abc'), 'abc');
    assert.equal(truncateId('<missing>'), '<missing>');
  });

  it('ellipsis cuts to a display width with …', () => {
    assert.equal(ellipsis("sh -c 'exit 3; echo long command here'", 20), "sh -c 'exit 3; echo…");
    assert.equal(ellipsis('short', 20), 'short');
    assert.equal(ellipsis('日本語のコマンド', 5), '日本…');
    assert.equal(ellipsis('abc', 1), 'a');
    assert.equal(ellipsis('abc', 0), '');
  });

  it('goQuote quotes like strconv.Quote', () => {
    assert.equal(goQuote(`sh -c 'echo "hi"'`), `"sh -c 'echo \\"hi\\"'"`);
    assert.equal(goQuote('a\tb\nc\x01\x7f\\'), '"a\\tb\\nc\\x01\\x7f\\\\"');
    assert.equal(goQuote('héllo…'), '"héllo…"');
  });
});

describe('parsing', () => {
  it('ramInBytes takes binary units, any case, optional b/ib', () => {
    assert.equal(ramInBytes('512m'), 536870912);
    assert.equal(ramInBytes('1g'), 1073741824);
    assert.equal(ramInBytes('1GiB'), 1073741824);
    assert.equal(ramInBytes('1.5g'), 1610612736);
    assert.equal(ramInBytes('100'), 100);
    assert.equal(ramInBytes('2kb'), 2048);
    assert.equal(ramInBytes('64 MB'), 67108864);
    assert.throws(() => ramInBytes('12x'), { message: "invalid suffix: 'x'" });
    assert.throws(() => ramInBytes('m'), ParseError);
    assert.throws(() => ramInBytes('-1m'), ParseError);
  });

  it('parseNanoCpus is exact', () => {
    assert.equal(parseNanoCpus('1.5'), 1_500_000_000);
    assert.equal(parseNanoCpus('0.1'), 100_000_000);
    assert.equal(parseNanoCpus('2'), 2_000_000_000);
    assert.equal(parseNanoCpus('.25'), 250_000_000);
    assert.throws(() => parseNanoCpus('abc'), /failed to parse abc as a rational number/);
    assert.throws(() => parseNanoCpus('0.0000000001'), /too precise/);
  });

  it('parseGoDuration reads Go durations in milliseconds', () => {
    assert.equal(parseGoDuration('10m'), 600_000);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('-2s'), -2000);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined);
    assert.equal(parseGoDuration('1d'), undefined);
  });

  it('parseTimestamp: durations, unix times, RFC 3339 and dates', () => {
    const now = Date.UTC(2024, 0, 2, 3, 4, 5, 600);
    assert.equal(parseTimestamp('10m', now), String(Math.floor(now / 1000) - 600));
    assert.equal(parseTimestamp('0s', now), String(Math.floor(now / 1000)));
    assert.equal(parseTimestamp('1700000000', now), '1700000000');
    assert.equal(parseTimestamp('1700000000.5', now), '1700000000.5');
    assert.equal(parseTimestamp('0', now), '0');
    assert.equal(parseTimestamp('2024-01-02T03:04:05Z', now), '1704164645.000000000');
    assert.equal(parseTimestamp('2024-01-02T03:04:05.25Z', now), '1704164645.250000000');
    assert.equal(parseTimestamp('2024-01-02T04:04:05+01:00', now), '1704164645.000000000');
    assert.throws(() => parseTimestamp('yesterday', now), /failed to parse value as time or duration: "yesterday"/);
  });

  it('parseTimestamp reads zone-less times in the local zone', () => {
    const local = new Date(2024, 0, 2).getTime() / 1000;
    assert.equal(parseTimestamp('2024-01-02'), `${local}.000000000`);
  });

  it('rfc3339NanoFixed keeps nine fraction digits', () => {
    const text = rfc3339NanoFixed(1704164645, 123);
    assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000123(Z|[+-]\d\d:\d\d)$/);
  });
});
