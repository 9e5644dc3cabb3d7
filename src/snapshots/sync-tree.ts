import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fsyncDir } from '../util/fs.js';
import { syncfs } from '../util/libc.js';

/** A tree with more entries than this is flushed with one syncfs rather than a fsync each. */
const SYNC_EACH_MAX = 512;

/**
 * Make a new layer's tree durable: every file's data and every folder's entries are fsynced
 * (a symlink, device or fifo is an entry of its folder), side by side on the thread pool.
 * A tree of more than SYNC_EACH_MAX entries is flushed with one syncfs instead, cheaper than
 * thousands of fsyncs; but a syncfs also writes out every other dirty page of the filesystem
 * (the other layers of the same pull as they stream in, another program's writes), which a
 * small layer, such as a base image's first, would then wait for.
 */
export async function syncTree(root: string): Promise<void> {
  const dirs = [root];
  const files: string[] = [];
  for (let i = 0, seen = 0; i < dirs.length; i++) {
    for (const e of readdirSync(dirs[i]!, { withFileTypes: true })) {
      if (++seen > SYNC_EACH_MAX) {
        const fh = await open(root, 'r');
        try {
          await syncfs(fh.fd);
        } finally {
          await fh.close();
        }
        return;
      }
      if (e.isDirectory()) dirs.push(`${dirs[i]}/${e.name}`);
      else if (e.isFile()) files.push(`${dirs[i]}/${e.name}`);
    }
  }
  await Promise.all([...files, ...dirs].map(fsyncDir));
}
