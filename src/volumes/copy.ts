import { spawn } from 'node:child_process';
import { chmod, chown, lstat, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { errnoCode, internal } from '../errors.js';

/**
 * Docker's rule for a volume's first use: when the volume is empty and the image has content
 * at the mount's destination, that content is copied in, with owners, modes, times, extended
 * attributes, symlinks, hard links and device nodes as they are (GNU `cp -a`, which follows
 * no link); the volume's own folder then takes the owner and mode of the image's folder. A volume that holds anything is left as it is. `source` is the image's
 * folder as the container's root filesystem shows it, resolved inside that root by the
 * caller; nothing outside it is read.
 *
 * Returns whether anything was copied.
 */
export async function copyImageContent(source: string, dest: string): Promise<boolean> {
  let st: Stats;
  try {
    st = await lstat(source);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
  if (!st.isDirectory()) return false;
  if ((await readdir(dest)).length > 0) return false;
  if ((await readdir(source)).length > 0) await cp(['-a', '--no-target-directory', '--', `${source}/.`, dest]);
  await chown(dest, st.uid, st.gid);
  await chmod(dest, st.mode & 0o7777);
  return true;
}

function cp(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', (err) => reject(internal(`cp: ${err.message}`, err)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(internal(`cp ${args.join(' ')}: ${stderr.trim() || `exit ${code}`}`));
    });
  });
}
