import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { test } from 'node:test';
import { startWriteback, Writeback, WRITEBACK_BYTES } from './writeback.js';

void test('a file written through Writeback reads back whole; a bad descriptor is ignored', async (t) => {
  const dir = await mkdtemp('/tmp/pwb-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(2 * WRITEBACK_BYTES + 12_345);
  const fd = openSync(`${dir}/f`, 'wx');
  const writeback = new Writeback(fd);
  for (let off = 0; off < data.length; off += 1_000_000) {
    const n = writeSync(fd, data, off, Math.min(1_000_000, data.length - off));
    writeback.wrote(n);
  }
  writeback.end();
  closeSync(fd);
  assert.ok(data.equals(readFileSync(`${dir}/f`)));
  startWriteback(-1, 0, 10); // EBADF, ignored
});
