import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { demux, demuxTo, StreamError } from './demux.js';
import { frame } from './fake-daemon.js';

/** Feed the bytes in chunks of `size` (1 splits every header and payload). */
function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

async function collect(source: Readable): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  for await (const f of demux(source)) {
    if (f.stream === 2) stderr += f.data.toString();
    else stdout += f.data.toString();
  }
  return { stdout, stderr };
}

describe('demux', () => {
  const stream = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(0, 'echoed stdin\n'), frame(1, ''), frame(1, 'out 2\n')]);

  for (const size of [1, 3, 7, 8, 9, 64, 4096]) {
    it(`routes frames to stdout and stderr, in chunks of ${size}`, async () => {
      assert.deepEqual(await collect(chunked(stream, size)), { stdout: 'out 1\necho' + 'ed stdin\nout 2\n', stderr: 'err 1\n' });
    });
  }

  it('yields a large frame in pieces as they arrive', async () => {
    const big = Buffer.alloc(1 << 20, 'x');
    let pieces = 0;
    let total = 0;
    for await (const f of demux(chunked(frame(1, big), 65536))) {
      pieces++;
      total += f.data.length;
    }
    assert.equal(total, big.length);
    assert.ok(pieces > 1, `one frame came out in ${pieces} pieces`);
  });

  it('throws the text of a system-error frame, after the frames before it', async () => {
    const out = new PassThrough();
    const source = Readable.from([Buffer.concat([frame(1, 'before\n'), frame(3, 'container died\n'), frame(1, 'never\n')])]);
    await assert.rejects(demuxTo(source, out, null), (err: unknown) => err instanceof StreamError && err.message === 'error from daemon in stream: container died');
    assert.equal(String(out.read() as Buffer | null), 'before\n');
  });

  it('rejects bytes that are not a frame header', async () => {
    await assert.rejects(collect(Readable.from([Buffer.from('HTTP/1.1 200 OK\r\n')])), /unrecognized input header: 72/);
  });

  it('drops frames of unattached streams and ends quietly mid-frame', async () => {
    const out = new PassThrough();
    const truncated = Buffer.concat([frame(2, 'dropped\n'), frame(1, 'kept\n'), frame(1, 'cut short').subarray(0, 12)]);
    await demuxTo(Readable.from([truncated]), out, null);
    assert.equal(String(out.read() as Buffer | null), 'kept\ncut ');
  });
});
