/**
 * A stream that signals `drain` and `close`: node's Writable, and tar-stream's extractor
 * (streamx), which is not a node Writable.
 */
export interface DrainableStream {
  on(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Whether a stream was destroyed or is being destroyed (streamx marks both). */
export function isDestroyed(s: DrainableStream): boolean {
  const x = s as unknown as { destroyed?: boolean; destroying?: boolean };
  return x.destroyed === true || x.destroying === true;
}

/** Resolves when `s` can take more data after a `write` returned false, or once it is closed. */
export function writable(s: DrainableStream): Promise<void> {
  if (isDestroyed(s)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
