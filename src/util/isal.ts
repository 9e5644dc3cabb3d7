import koffi from 'koffi';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { type EngineError, invalid } from '../errors.js';
import { log } from '../log.js';

/**
 * gunzip in this process with Intel ISA-L's inflate (`libisal.so.2`, Debian's libisal2, which
 * the `isal` package that brings igzip depends on), called through koffi. It decodes as fast
 * as the igzip program and about twice as fast as node's zlib, without a process, two pipes
 * and their copies of every byte.
 *
 * ISA-L's decoder keeps its state in a `struct inflate_state` the caller allocates; the fields
 * pier touches are at the offsets below, those of igzip_lib.h in ISA-L 2.x on 64-bit Linux
 * (the first five open the struct; `block_state` and `crc_flag` follow two Huffman tables of
 * fixed size). The library is loaded and checked once per thread: a member compressed here is
 * decoded and compared, so a library whose layout differs is not used (`isalInflateAvailable`
 * says false and gunzip falls back to the igzip program or zlib). PIER_ISAL=0 turns it off.
 */

/**
 * sizeof(struct inflate_state) in ISA-L 2.30 is 87,368 bytes; the state is given room to spare,
 * so that a library whose struct grew cannot write past it before the layout check refuses it.
 */
const STATE_BYTES = 256 * 1024;
const NEXT_OUT = 0;
const AVAIL_OUT = 8;
const NEXT_IN = 16;
const AVAIL_IN = 32;
const BLOCK_STATE = 21_160;
const CRC_FLAG = 21_172;
/** block_state once a member was decoded, its trailer checked and all its output given. */
const ISAL_BLOCK_FINISH = 5;
/** crc_flag: a gzip header and trailer around the deflate data (CRC-32 and size checked). */
const ISAL_GZIP = 1;

const ERRORS: Record<number, string> = {
  [-1]: 'invalid deflate block',
  [-2]: 'invalid deflate symbol',
  [-3]: 'invalid lookback distance',
  [-4]: 'invalid gzip header',
  [-5]: 'unsupported compression method',
  [-6]: 'incorrect checksum',
};

/** Decoded output is handed on in slices of buffers this big. */
const OUT_BYTES = 1024 * 1024;
/** A buffer with less room than this left is handed on and a new one taken. */
const OUT_MIN_ROOM = 64 * 1024;

interface Isal {
  init(state: Buffer): void;
  reset(state: Buffer): void;
  inflate(state: Buffer): number;
}

let loaded: Isal | null | undefined;

function load(): Isal | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.PIER_ISAL === '0') return null;
  try {
    const lib = koffi.load('libisal.so.2');
    const isal: Isal = {
      init: lib.func('void isal_inflate_init(void *state)') as Isal['init'],
      reset: lib.func('void isal_inflate_reset(void *state)') as Isal['reset'],
      inflate: lib.func('int isal_inflate(void *state)') as Isal['inflate'],
    };
    // The layout check: a known member must decode to its bytes.
    const sample = Buffer.from('pier checks the layout of inflate_state\n'.repeat(4096));
    const decoded: Buffer[] = [];
    const inflater = new Inflater(isal, 'isal self-check');
    inflater.write(gzipSync(sample), (b) => decoded.push(Buffer.from(b)));
    inflater.end((b) => decoded.push(Buffer.from(b)));
    if (!Buffer.concat(decoded).equals(sample)) throw new Error('a known gzip member decoded to other bytes');
    loaded = isal;
  } catch (err) {
    log.debug({ err }, 'gzip: ISA-L inflate not usable in-process');
  }
  return loaded;
}

/** Whether gunzip can run in-process through ISA-L here (loads and checks it on first call). */
export function isalInflateAvailable(): boolean {
  return load() !== null;
}

/**
 * The decoder of one gzip stream (one member or several, then optional zero padding), fed
 * with `write` and finished with `end`; decoded bytes go to `emit` as slices of buffers that
 * are never written again (the consumer may keep them). Throws `invalid` on corrupt input.
 */
class Inflater {
  private readonly state = Buffer.allocUnsafeSlow(STATE_BYTES);
  private readonly view = new DataView(this.state.buffer, this.state.byteOffset, STATE_BYTES);
  private out = Buffer.allocUnsafeSlow(OUT_BYTES);
  private outAddress = koffi.address(this.out);
  /** out[handed, used) is decoded and not yet handed on. */
  private handed = 0;
  private used = 0;
  /** In a member; between members (its end was reached); or in the zero padding after the last one. */
  private phase: 'member' | 'between' | 'padding' = 'member';

  constructor(
    private readonly isal: Isal,
    private readonly what: string,
  ) {
    isal.init(this.state);
    this.view.setUint32(CRC_FLAG, ISAL_GZIP, true);
  }

  write(chunk: Buffer, emit: (b: Buffer) => void): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.phase === 'padding') {
        for (let i = pos; i < chunk.length; i++) if (chunk[i] !== 0) throw this.corrupt('data after the end of the gzip stream');
        return;
      }
      if (this.phase === 'between') {
        if (chunk[pos] === 0) {
          this.phase = 'padding';
          continue;
        }
        // Another member.
        this.isal.reset(this.state);
        this.view.setUint32(CRC_FLAG, ISAL_GZIP, true);
        this.phase = 'member';
      }
      pos = this.decode(chunk, pos, emit);
    }
    this.handOn(emit);
  }

  end(emit: (b: Buffer) => void): void {
    if (this.phase === 'member') throw this.corrupt('unexpected end of data');
    this.handOn(emit);
  }

  /** Decode from chunk[pos] until the input is used up or the member ends; returns the new position. */
  private decode(chunk: Buffer, pos: number, emit: (b: Buffer) => void): number {
    const v = this.view;
    v.setBigUint64(NEXT_IN, koffi.address(chunk) + BigInt(pos), true);
    v.setUint32(AVAIL_IN, chunk.length - pos, true);
    for (;;) {
      if (OUT_BYTES - this.used < OUT_MIN_ROOM) {
        this.handOn(emit);
        this.out = Buffer.allocUnsafeSlow(OUT_BYTES);
        this.outAddress = koffi.address(this.out);
        this.handed = 0;
        this.used = 0;
      }
      const room = OUT_BYTES - this.used;
      v.setBigUint64(NEXT_OUT, this.outAddress + BigInt(this.used), true);
      v.setUint32(AVAIL_OUT, room, true);
      const before = v.getUint32(AVAIL_IN, true);
      const ret = this.isal.inflate(this.state);
      if (ret < 0) throw this.corrupt(ERRORS[ret] ?? `error ${ret}`);
      const produced = room - v.getUint32(AVAIL_OUT, true);
      this.used += produced;
      const left = v.getUint32(AVAIL_IN, true);
      if (produced === 0 && left === before && left > 0) throw this.corrupt('the decoder made no progress');
      if (v.getUint32(BLOCK_STATE, true) === ISAL_BLOCK_FINISH) {
        this.phase = 'between';
        return chunk.length - left;
      }
      // Input used up and the output not full: ISA-L wants more input.
      if (left === 0 && produced < room) return chunk.length;
    }
  }

  private handOn(emit: (b: Buffer) => void): void {
    if (this.used > this.handed) emit(this.out.subarray(this.handed, this.used));
    this.handed = this.used;
  }

  private corrupt(why: string): EngineError {
    return invalid(`${this.what}: corrupt gzip stream: ${why}`);
  }
}

/** A gzip decoder fed by hand: `write` each chunk, then `end`; decoded bytes go to `emit`; corrupt input throws `invalid`. */
export interface GunzipDecoder {
  write(chunk: Buffer, emit: (b: Buffer) => void): void;
  end(emit: (b: Buffer) => void): void;
}

/** A decoder for a stream that is not a Node stream (see GunzipDecoder); undefined without ISA-L. */
export function isalDecoder(what: string): GunzipDecoder | undefined {
  const isal = load();
  return isal === null ? undefined : new Inflater(isal, what);
}

/**
 * gunzip `input` in-process (see gzip.ts for the contract). Call only when
 * `isalInflateAvailable()`.
 */
export function isalGunzip(input: Readable, what: string): Readable {
  const isal = load();
  if (isal === null) throw new Error('ISA-L inflate is not available');
  const inflater = new Inflater(isal, what);
  const out = new Transform({
    readableHighWaterMark: OUT_BYTES,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        inflater.write(chunk, (b) => out.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        inflater.end((b) => out.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    destroy(err, cb) {
      input.unpipe(out);
      if (!input.destroyed && !input.readableEnded) input.destroy();
      cb(err);
    },
  });
  input.on('error', (err) => out.destroy(err));
  input.pipe(out);
  return out;
}
