import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { internal } from '../errors.js';
import { log } from '../log.js';
import { extractLayer } from '../snapshots/extract.js';
import { sniff, uncompressedAs } from '../util/decompress.js';
import { defaultGunzipEngine } from '../util/gzip.js';
import { isalDecoder, type GunzipDecoder } from '../util/isal.js';
import { getBlob } from './blob-get.js';
import { BlobWriter } from './blob-writer.js';
import { MARK, serialize, WINDOW_BYTES, type BlobFetch, type FromWorker, type StoreTarget, type ToWorker } from './unpack-protocol.js';

/**
 * An unpack worker's thread: one job per layer, as the main thread asks (unpack-protocol.ts).
 * A job takes the blob's bytes (sent by the main thread, or fetched here: blob-get.ts), writes
 * them into the content store's file when asked (blob-writer.ts), undoes the compression (gzip
 * through ISA-L as the bytes are given out, with no stream in between), hashes the tar and
 * extracts it (`extractLayer`). It acknowledges each chunk once the unpacking takes it, sends
 * `stored` before `done`, and answers once per job, only when nothing writes into the
 * layer's folder any more. Runs when this module is a worker's entry (unpack-pool.ts).
 */

/** The first bytes of a blob that tell its compression (xz's magic number is the longest). */
const HEAD_BYTES = 6;

interface WorkerJob {
  input: Readable;
  queue: Buffer[];
  /** Bytes in `queue`, when this worker GETs the blob (its response is paused past WINDOW_BYTES). */
  queued: number;
  /** Look whether the first bytes of the blob are in `queue` now. */
  noteHead(): void;
  /** A gzip blob is decoded as `input` gives it out (no stream between them); set before it is read. */
  decoder?: GunzipDecoder;
  pump(): void;
  end(): void;
  lowers: Promise<readonly string[]>;
  setLowers(l: readonly string[]): void;
  failLowers(err: Error): void;
  /** The blob's file when the job stores it: written as chunks arrive. */
  store?: BlobWriter;
  /** Once the blob's end came: its file finished and `stored` sent. */
  storing?: Promise<void>;
  /** Writing or finishing the blob's file failed. */
  storeFailed?: boolean;
  /** The main thread stopped the job. */
  aborted?: boolean;
  /** The unpacking failed with this answer while the blob is still stored to its end. */
  afterFailure?: FromWorker;
  /** Clean up and send the job's last answer. */
  finish?: (answer: FromWorker) => void;
  /** The blob's GET, when this worker makes it, and its response once it came. */
  request?: ClientRequest;
  response?: IncomingMessage;
  /** Why the GET failed. */
  fetchFailed?: Error;
}

/** The worker's side: one job per layer, as the main thread asks. */
function serve(port: NonNullable<typeof parentPort>): void {
  const jobs = new Map<number, WorkerJob>();
  const send = (msg: FromWorker): void => port.postMessage(msg);

  const start = (id: number, dest: string | null, what: string, store: StoreTarget | null, fetch: BlobFetch | null, writeback: boolean): void => {
    const queue: Buffer[] = [];
    let ended = false;
    let wanted = false;
    /** The end of the input was pushed. */
    let eof = false;
    // The blob as it arrives; a chunk is acknowledged (or, when this worker GETs the blob, its
    // response resumed) once the unpacking takes it.
    const input = new Readable({
      highWaterMark: 0,
      read() {
        wanted = true;
        pump();
      },
    });
    const push = (b: Buffer): void => {
      wanted = input.push(b);
    };
    const pump = (): void => {
      try {
        while (wanted && queue.length > 0) {
          const chunk = queue.shift()!;
          taken(chunk.length);
          if (job.decoder) job.decoder.write(chunk, push);
          else wanted = input.push(chunk);
        }
        if (wanted && ended && queue.length === 0 && !eof) {
          eof = true;
          job.decoder?.end(push);
          input.push(null);
        }
      } catch (err) {
        input.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const taken = (bytes: number): void => {
      if (!job.response) {
        send({ type: 'ack', id, bytes });
        return;
      }
      job.queued -= bytes;
      if (job.queued < WINDOW_BYTES && job.response.isPaused()) job.response.resume();
    };
    let setLowers!: (l: readonly string[]) => void;
    let failLowers!: (err: Error) => void;
    const lowers = new Promise<readonly string[]>((resolve, reject) => {
      setLowers = resolve;
      failLowers = reject;
    });
    lowers.catch(() => undefined); // the extraction reports it
    // The blob's first bytes, to tell its compression, as they come into the queue.
    let giveHead!: (b: Buffer) => void;
    let failHead!: (err: Error) => void;
    const head = new Promise<Buffer>((resolve, reject) => {
      giveHead = resolve;
      failHead = reject;
    });
    head.catch(() => undefined); // the unpacking reports it
    let headKnown = false;
    const noteHead = (all: boolean): void => {
      if (headKnown) return;
      const parts: Buffer[] = [];
      let n = 0;
      for (const c of queue) {
        parts.push(c);
        n += c.length;
        if (n >= HEAD_BYTES) break;
      }
      if (n < HEAD_BYTES && !all) return;
      headKnown = true;
      giveHead(Buffer.concat(parts, n));
    };
    // An error before the unpacking reads the input fails the head (and with it the job).
    input.on('error', () => undefined);
    input.once('close', () => failHead(input.errored ?? new Error(`${what}: the layer stream closed before its start`)));
    const job: WorkerJob = {
      input,
      queue,
      queued: 0,
      noteHead: () => noteHead(false),
      pump,
      end: () => {
        ended = true;
        noteHead(true);
        pump();
      },
      lowers,
      setLowers,
      failLowers,
    };
    jobs.set(id, job);
    let work: Promise<{ diffId: string; size: number }>;
    try {
      if (store) job.store = new BlobWriter(store);
      // 'stored' goes out before 'done': the blob is there by the time the layer is.
      work = unpackJob(input, dest, lowers, what, head, job, writeback).then(async (r) => {
        if (job.store) {
          if (!job.storing) throw internal(`${what}: the layer ended before its blob`);
          await job.storing;
        }
        return r;
      });
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // The blob's file is closed (unless its fsync is under way) and its GET stopped before the
    // answer goes out: the main thread removes the file on a failure.
    let answered = false;
    const finish = (answer: FromWorker): void => {
      if (answered) return;
      answered = true;
      jobs.delete(id);
      job.store?.close();
      job.request?.destroy();
      // Chunks still coming are taken and forgotten.
      input.destroy();
      send(answer);
    };
    work.then(
      (r) => finish({ type: 'done', id, diffId: r.diffId, size: r.size }),
      (err: unknown) => {
        const failed: FromWorker = { type: 'failed', id, error: serialize(job.fetchFailed ?? err) };
        // A broken layer whose blob is still coming: the blob is stored to its end all the
        // same, so that the main thread learns its digest (a wrong blob is named as such,
        // not by the tar error it caused); an abort or a failure of the store or the GET ends it.
        if (job.store && !job.aborted && !job.storeFailed && !job.fetchFailed) {
          job.afterFailure = failed;
          if (job.storing) {
            const last = (): void => finish(failed);
            job.storing.then(last, last);
          } else {
            for (const chunk of queue.splice(0)) taken(chunk.length);
          }
        } else finish(failed);
      },
    );
    job.finish = finish;
    if (fetch) getBlob(fetch, job, what, (chunk) => receive(id, job, chunk), () => inputEnd(id, job), (bytes) => send({ type: 'progress', id, bytes }));
  };

  /** A chunk of the blob: into its file first, then to the unpacking (or, after a failure, only into the file). */
  const receive = (id: number, job: WorkerJob, chunk: Buffer): void => {
    try {
      job.store?.write(chunk);
    } catch (err) {
      job.storeFailed = true;
      if (job.afterFailure) job.finish!(job.afterFailure);
      else job.input.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (job.afterFailure) {
      if (!job.response) send({ type: 'ack', id, bytes: chunk.length });
      return;
    }
    job.queue.push(chunk);
    job.noteHead();
    if (job.response) {
      job.queued += chunk.length;
      if (job.queued >= WINDOW_BYTES) job.response.pause();
    }
    job.pump();
  };

  /** The blob's end: its file is finished (and `stored` sent), the unpacking reads to its end. */
  const inputEnd = (id: number, job: WorkerJob): void => {
    if (job.store) {
      job.storing = job.store.finish().then((info) => send({ type: 'stored', id, digest: info.digest, size: info.size }));
      job.storing.then(
        () => {
          if (job.afterFailure) job.finish!(job.afterFailure);
        },
        (err: unknown) => {
          job.storeFailed = true;
          if (job.afterFailure) job.finish!(job.afterFailure);
          else job.input.destroy(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
    job.end();
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'start') {
      start(msg.id, msg.dest, msg.what, msg.store, msg.fetch, msg.writeback);
      return;
    }
    const job = jobs.get(msg.id);
    if (!job) {
      if (msg.type === 'data') send({ type: 'ack', id: msg.id, bytes: msg.chunk.length });
      return;
    }
    switch (msg.type) {
      case 'data':
        receive(msg.id, job, Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength));
        break;
      case 'end':
        inputEnd(msg.id, job);
        break;
      case 'lowers':
        job.setLowers(msg.lowers);
        break;
      case 'abort': {
        const err = new Error(msg.message);
        job.aborted = true;
        job.request?.destroy();
        if (job.afterFailure) {
          job.finish!(job.afterFailure);
          break;
        }
        job.failLowers(err);
        job.input.destroy(err);
        break;
      }
    }
  });
}

/** Undo the compression, then extract into `dest` (or only hash when null); the rest of the blob is drained. */
async function unpackJob(
  input: Readable,
  dest: string | null,
  lowers: Promise<readonly string[]>,
  what: string,
  head: Promise<Buffer>,
  job: WorkerJob,
  writeback: boolean,
): Promise<{ diffId: string; size: number }> {
  // The first bytes come from the job's queue, not from peek(), which would re-wrap the whole
  // stream (several promises per chunk). gzip is decoded as the job's input gives the bytes
  // out, when ISA-L is there: the tar stream is that input, with no stream in between.
  const first = await head;
  const decoder = sniff(first) === 'gzip' && defaultGunzipEngine() === 'isal' ? isalDecoder(what) : undefined;
  if (decoder) job.decoder = decoder;
  const tar = decoder ? input : uncompressedAs(input, first, what);
  let result: { diffId: string; size: number };
  if (dest === null) {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of tar as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    result = { diffId: `sha256:${hash.digest('hex')}`, size };
  } else {
    result = await extractLayer(tar, dest, lowers, { writeback });
  }
  // What the tar reader left (end-of-archive padding, a gzip trailer) must still flow to the end.
  await drain(tar);
  return result;
}

function drain(s: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.readableEnded || s.destroyed) return resolve();
    s.on('end', resolve);
    s.on('close', resolve);
    s.on('error', reject);
    s.resume();
  });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] === true && parentPort) {
  const level = (workerData as { logLevel?: unknown }).logLevel;
  if (typeof level === 'string') log.level = level; // the daemon's --log-level
  serve(parentPort);
}
