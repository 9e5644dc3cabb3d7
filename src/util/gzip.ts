import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { EngineError, internal, invalid } from '../errors.js';
import { log } from '../log.js';
import { isalGunzip, isalInflateAvailable } from './isal.js';

/**
 * Streaming gzip and gunzip for layers, through Intel ISA-L where it is installed (Debian's
 * `isal` and its library): gunzip decodes in this process through the library (isal.ts: as
 * fast as the `igzip` program, about twice node's zlib, and no process or pipes), or else
 * through an `igzip` child process; gzip runs an `igzip` child process (about ten times node's
 * zlib at level 1); containerd does the same with unpigz. Without them, node's zlib. Setting
 * PIER_IGZIP=0 in the environment forces zlib for both, PIER_ISAL=0 the program for gunzip.
 *
 * Contract of both functions, whichever engine runs:
 * - the result is a plain Readable of the (de)compressed bytes, which ends only once the whole
 *   input was processed and, for igzip, the process exited 0;
 * - the input is read only as fast as the result is consumed (never buffered whole);
 * - an error of the input destroys the result with that same error; a corrupt gzip stream
 *   destroys it with `invalid` (naming `what` and, for igzip, its trimmed stderr);
 * - destroying the result (a consumer that stopped early) destroys the input and kills the
 *   process; the result emits `close` only once the process has exited and been reaped.
 * gunzip reads concatenated gzip members as one stream and ignores zero padding after the
 * last member, as node's and Go's readers do. gzip's output carries no name and no time, so
 * the same input gives the same bytes (with the same engine).
 */

export type GzipEngine = 'igzip' | 'zlib';
/** gunzip's engines: `isal` decodes in this process through ISA-L's library. */
export type GunzipEngine = 'isal' | GzipEngine;

export interface GzipOptions<E extends GunzipEngine = GzipEngine> {
  /** Which engine to use; default the fastest one installed. Tests force the others with it. */
  engine?: E;
  /** What is being (de)compressed, for error messages: `layer sha256:…`. */
  what?: string;
}

/** The level of compression: the fastest one, as layers are compressed once and remembered. */
const LEVEL = 1;

let detected: { engine: GzipEngine; path?: string } | undefined;

/** The engine used when none is asked for: igzip when on PATH (looked up once), else zlib. */
export function defaultGzipEngine(): GzipEngine {
  return detect().engine;
}

/** The engine gunzip uses when none is asked for: ISA-L in-process when it loads and checks out, else as gzip. */
export function defaultGunzipEngine(): GunzipEngine {
  if (process.env.PIER_IGZIP !== '0' && isalInflateAvailable()) return 'isal';
  return detect().engine;
}

function detect(): { engine: GzipEngine; path?: string } {
  if (detected) return detected;
  if (process.env.PIER_IGZIP === '0') {
    detected = { engine: 'zlib' };
    log.debug('gzip: node zlib (PIER_IGZIP=0)');
    return detected;
  }
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, 'igzip');
    try {
      accessSync(path, constants.X_OK);
    } catch {
      continue;
    }
    // One that does not run (another architecture, a missing library) would fail every layer.
    const probe = spawnSync(path, ['-V'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
    if (probe.status !== 0) {
      log.warn({ path, status: probe.status, err: probe.error, stderr: probe.stderr?.toString().trim() }, 'gzip: igzip does not run; node zlib instead');
      break;
    }
    detected = { engine: 'igzip', path };
    log.debug({ path }, 'gzip: igzip');
    return detected;
  }
  detected = { engine: 'zlib' };
  log.debug('gzip: node zlib (no igzip on PATH)');
  return detected;
}

function engineOf(opts: GzipOptions): { engine: GzipEngine; path?: string } {
  if (opts.engine === 'zlib') return { engine: 'zlib' };
  const d = detect();
  if (opts.engine === 'igzip' && d.engine !== 'igzip') throw internal('gzip: igzip is not installed');
  return d;
}

/** Compress a stream with gzip (level 1). See the contract above. */
export function gzip(input: Readable, opts: GzipOptions = {}): Readable {
  const what = opts.what ?? 'stream';
  const e = engineOf(opts);
  if (e.engine === 'igzip') return throughProcess(e.path!, [`-${LEVEL}`, '-n', '-c'], input, (msg) => internal(`${what}: gzip failed: ${msg}`));
  return throughZlib(createGzip({ level: LEVEL, chunkSize: 256 * 1024 }), input, (err) => internal(`${what}: gzip failed: ${err.message}`, err));
}

/** Undo gzip (one member or several). See the contract above. */
export function gunzip(input: Readable, opts: GzipOptions<GunzipEngine> = {}): Readable {
  const what = opts.what ?? 'stream';
  const engine = opts.engine ?? defaultGunzipEngine();
  if (engine === 'isal') {
    if (!isalInflateAvailable()) throw internal('gunzip: ISA-L inflate is not available');
    return isalGunzip(input, what);
  }
  const e = engineOf({ engine });
  if (e.engine === 'igzip') return throughProcess(e.path!, ['-d', '-c'], input, (msg) => invalid(`${what}: corrupt gzip stream: ${msg}`));
  return throughZlib(createGunzip({ chunkSize: 256 * 1024 }), input, (err) => invalid(`${what}: corrupt gzip stream: ${err.message}`, err));
}

function throughZlib(z: Transform, input: Readable, fail: (err: Error) => EngineError): Readable {
  let failed = false;
  const out = new PassThrough({
    highWaterMark: 1024 * 1024,
    destroy(err, cb) {
      input.unpipe(z);
      if (!input.destroyed && !input.readableEnded) input.destroy();
      z.destroy();
      cb(err);
    },
  });
  input.on('error', (err) => {
    failed = true;
    out.destroy(err);
  });
  z.on('error', (err) => {
    // After an error of the input, z reports nothing new.
    if (!failed) out.destroy(fail(err));
  });
  input.pipe(z).pipe(out);
  return out;
}

/**
 * Run `path args` with the input on its stdin and its stdout as the result. `fail` makes the
 * error of a process that exits otherwise than 0, from its stderr.
 */
function throughProcess(path: string, args: string[], input: Readable, fail: (stderr: string) => EngineError): Readable {
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stdin = child.stdin;
  const stdout = child.stdout;
  const stderrChunks: Buffer[] = [];
  let stderrSize = 0;
  let stdoutEnded = false;
  let stderrEnded = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  /** The process is gone: exited (and reaped) or never started. */
  let gone = false;
  const whenGone: Array<() => void> = [];

  const out = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      stdout.resume();
    },
    destroy(err, cb) {
      input.unpipe(stdin);
      if (!input.destroyed && !input.readableEnded) input.destroy();
      stdin.destroy();
      stdout.destroy();
      if (gone) {
        cb(err);
        return;
      }
      child.kill('SIGKILL');
      whenGone.push(() => cb(err));
    },
  });

  const markGone = (): void => {
    if (gone) return;
    gone = true;
    for (const fn of whenGone.splice(0)) fn();
  };

  /** Settle once the process exited and its outputs were read to the end. */
  const settle = (): void => {
    if (out.destroyed) return;
    if (spawnError) {
      out.destroy(internal(`could not run ${path}: ${spawnError.message}`, spawnError));
      return;
    }
    if (!exit || !stderrEnded) return;
    if (exit.code === 0) {
      if (stdoutEnded) out.push(null);
      return;
    }
    const stderr = Buffer.concat(stderrChunks).toString('utf8').trim();
    const why = exit.signal !== null ? `igzip was killed by ${exit.signal}` : stderr !== '' ? stderr : `igzip exited with status ${exit.code}`;
    out.destroy(fail(why));
  };

  child.on('error', (err) => {
    // Spawning failed (the process never ran) or a kill failed (it is exiting anyway).
    if (child.pid === undefined) {
      spawnError = err;
      markGone();
      settle();
    } else log.debug({ err }, 'gzip: igzip process error');
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    markGone();
    settle();
  });

  stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) stdout.pause();
  });
  stdout.on('end', () => {
    stdoutEnded = true;
    settle();
  });
  stdout.on('error', (err) => log.debug({ err }, 'gzip: igzip stdout error'));

  child.stderr.on('data', (chunk: Buffer) => {
    if (stderrSize < 4096) {
      stderrChunks.push(chunk);
      stderrSize += chunk.length;
    }
  });
  child.stderr.on('end', () => {
    stderrEnded = true;
    settle();
  });
  child.stderr.on('error', () => {
    stderrEnded = true;
    settle();
  });

  // EPIPE when the process stops reading (it failed, or was killed): its exit status tells.
  stdin.on('error', (err) => log.debug({ err }, 'gzip: igzip stdin error'));
  input.on('error', (err) => out.destroy(err));
  input.pipe(stdin);
  return out;
}
