import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { invalid } from '../errors.js';
import type { BlobFetch } from './unpack-protocol.js';

/**
 * The GET of a blob by an unpack worker itself (the main thread then carries none of its
 * bytes): its own keep-alive agents, since a worker shares no sockets with the main thread.
 */

/** What a GET keeps of its job: the request and response in flight, and why it failed. */
export interface BlobGetJob {
  request?: ClientRequest;
  response?: IncomingMessage;
  fetchFailed?: Error;
  /** The job's input, failed with the GET's error. */
  input: { destroy(err: Error): void };
}

const httpAgent = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 });
const httpsAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000 });
/** A blob GET that gets no data for this long fails (ETIMEDOUT), as the main thread's do. */
const IDLE_TIMEOUT_MS = 120_000;
/** Progress of a blob this worker GETs is told at most this often. */
const PROGRESS_MS = 100;

/**
 * GET a blob for a job: redirects are followed (at most five, without the Authorization header
 * once they leave the registry's origin), the body goes to `onChunk` and must not exceed its
 * size. A failure (the connection, a status other than 200, a bad size) is kept as the job's
 * `fetchFailed` and stops its unpacking.
 */
export function getBlob(f: BlobFetch, job: BlobGetJob, what: string, onChunk: (chunk: Buffer) => void, onEnd: () => void, onProgress: (bytes: number) => void): void {
  const fail = (err: Error): void => {
    if (job.fetchFailed) return;
    job.fetchFailed = err;
    job.request?.destroy();
    job.input.destroy(err);
  };
  const go = (url: string, headers: Record<string, string>, hop: number): void => {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const req = (secure ? https : http).get(u, { headers, agent: secure ? httpsAgent : httpAgent });
    job.request = req;
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data from ${u.host} within ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => fail(err));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location !== undefined && hop < 5) {
        res.resume();
        const next = new URL(location, url);
        const { authorization: _, ...without } = headers;
        go(next.toString(), next.origin === f.origin ? headers : without, hop + 1);
        return;
      }
      if (status !== 200) {
        res.resume();
        fail(Object.assign(new Error(`${what}: ${u.host} answered ${status}`), { status }));
        return;
      }
      job.response = res;
      let size = 0;
      let told = 0;
      let last = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > f.size) {
          fail(invalid(`${what}: size mismatch: more than the expected ${f.size} bytes`));
          return;
        }
        onChunk(chunk);
        const now = Date.now();
        if (now - last >= PROGRESS_MS) {
          last = now;
          onProgress(size - told);
          told = size;
        }
      });
      res.on('end', () => {
        if (size > told) onProgress(size - told);
        if (size !== f.size) fail(invalid(`${what}: size mismatch: expected ${f.size} bytes, got ${size}`));
        else if (!job.fetchFailed) onEnd();
      });
      res.on('error', (err) => fail(err));
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error(`${what}: the connection to ${u.host} was cut`), { code: 'ECONNRESET' }));
      });
    });
  };
  go(f.url, f.headers, 0);
}
