/** Concurrency limits for promises: a bounded map, and slots taken in call order. */

/** Run `fn` over items with at most `limit` at a time; results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** At most `limit` jobs at a time, started in the order `run` is called (a slot is taken or queued at once). */
export function slotsOf(limit: number): { run<T>(job: () => Promise<T>): Promise<T> } {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return {
    run<T>(job: () => Promise<T>): Promise<T> {
      let slot: Promise<void>;
      if (running < limit) {
        running++;
        slot = Promise.resolve();
      } else {
        slot = new Promise<void>((resolve) => waiting.push(resolve));
      }
      return slot.then(async () => {
        try {
          return await job();
        } finally {
          release();
        }
      });
    },
  };
}
