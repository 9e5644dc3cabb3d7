import { Transform, type TransformCallback } from 'node:stream';
import { progressBar as sharedProgressBar } from '../util/progress-bar.js';

/**
 * Progress of a pull or push in Docker's JSON message shape (moby's streamformatter and
 * jsonmessage): `{"status":"Downloading","id":"a1b2c3d4e5f6","progressDetail":{"current":…,
 * "total":…},"progress":"[==>   ]  1.2MB/3.4MB"}`. The API route writes them one per line.
 */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
}

export type ProgressSink = (msg: ProgressMessage) => void;

/** Docker's progress bar with the daemon's sizes (go-units HumanSize: 4 significant digits). */
export function progressBar(current: number, total: number): string {
  return sharedProgressBar(current, total, 4);
}

/** The short ID Docker shows for a layer: 12 hex digits of a digest. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** A status line with an empty progressDetail, as Docker writes per-layer states. */
export function layerStatus(sink: ProgressSink, id: string, status: string): void {
  sink({ status, progressDetail: {}, id });
}

/**
 * A pass-through that reports the bytes seen so far as `status` progress, at most every
 * 100 ms (and once at the end), so a fast transfer does not flood the client.
 */
export function progressMeter(sink: ProgressSink, id: string, status: string, total: number): Transform {
  const counter = progressCounter(sink, id, status, total);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      counter.add(chunk.length);
      cb(null, chunk);
    },
    flush(cb) {
      counter.end();
      cb();
    },
  });
}

/** What progressMeter reports, for a stream that counts its bytes itself: `add` as they pass, `end` once. */
export function progressCounter(sink: ProgressSink, id: string, status: string, total: number): { add(bytes: number): void; end(): void } {
  let current = 0;
  let last = 0;
  const report = (): void => {
    sink({ status, progressDetail: { current, total }, progress: progressBar(current, total), id });
  };
  return {
    add(bytes) {
      current += bytes;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        report();
      }
    },
    end: report,
  };
}
