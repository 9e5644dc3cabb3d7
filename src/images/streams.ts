import { PassThrough, type Readable } from 'node:stream';

/**
 * Stream helpers of the images part: a two-way tee with backpressure, and draining. The
 * decompressor is util/decompress.ts (re-exported here for the build part's imports).
 */
export { decompressed, peek, sniff } from '../util/decompress.js';

/**
 * Split one stream into two that each see every byte. The source is read only as fast as the
 * slower branch consumes (never buffered whole). An error of the source destroys both
 * branches; destroying a branch early (its consumer failed) destroys the source and the other.
 */
export function tee(source: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough();
  const b = new PassThrough();
  let waiting = 0;
  const resumeWhenDrained = (): void => {
    waiting--;
    if (waiting === 0) source.resume();
  };
  source.on('data', (chunk: Buffer) => {
    const okA = a.write(chunk);
    const okB = b.write(chunk);
    if (!okA || !okB) {
      source.pause();
      if (!okA) {
        waiting++;
        a.once('drain', resumeWhenDrained);
      }
      if (!okB) {
        waiting++;
        b.once('drain', resumeWhenDrained);
      }
    }
  });
  source.resume();
  source.on('end', () => {
    a.end();
    b.end();
  });
  source.on('error', (err) => {
    a.destroy(err);
    b.destroy(err);
  });
  const onBranchClose = (branch: PassThrough, other: PassThrough) => (): void => {
    if (!branch.writableFinished) {
      const err = new Error('stream consumer stopped early');
      source.destroy(err);
      other.destroy(err);
    }
  };
  a.on('close', onBranchClose(a, b));
  b.on('close', onBranchClose(b, a));
  // A branch's error reaches whoever reads it; a branch nobody reads any more (its consumer
  // already failed and reported) has no one left to tell.
  const ignore = (): void => undefined;
  a.on('error', ignore);
  b.on('error', ignore);
  return [a, b];
}

/** Read and discard whatever a consumer left unread (a tar's trailing padding), so a tee never stalls. */
export function drain(stream: Readable): void {
  if (!stream.readableEnded) stream.resume();
}
