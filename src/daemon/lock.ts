import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errnoCode } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * One writer: a root directory belongs to one pierd at a time. The lock is a pid file in the
 * root; a pid that is gone, or that is no longer a pierd, is a lock left by a crash (kill -9)
 * and is taken over.
 */
export async function lockRoot(root: string): Promise<void> {
  const path = join(root, 'pierd.pid');
  let holder: number | undefined;
  try {
    holder = Number((await readFile(path, 'utf8')).trim());
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  if (holder && holder !== process.pid && (await isPierd(holder))) {
    throw conflict(`another pierd (pid ${holder}) already uses ${root}: stop it first, or give this one its own --root`);
  }
  await writeFileAtomic(path, `${process.pid}\n`);
}

async function isPierd(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /pierd|daemon\/main\.js/.test(cmdline);
  } catch {
    return false;
  }
}
