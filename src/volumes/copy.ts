import { chmod, chown, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, symlink, utimes } from 'node:fs/promises';
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { lgetxattr, llistxattr, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../snapshots/libc.js';

/**
 * Docker's rule for a volume's first use: when the volume is empty and the image has content
 * at the mount's destination, that content is copied in, with owners, modes, times, extended
 * attributes, symlinks, hard links and device nodes as they are; the volume's own folder then
 * takes the owner and mode of the image's folder. A volume that holds anything is left as it
 * is. `source` is the image's folder as the container's root filesystem shows it (resolved
 * inside that root by the caller); nothing outside `source` is read, no link is followed.
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
  const links = new Map<string, string>();
  await copyChildren(source, dest, links);
  await chown(dest, st.uid, st.gid);
  await chmod(dest, st.mode & 0o7777);
  return true;
}

async function copyChildren(src: string, dst: string, links: Map<string, string>): Promise<void> {
  for (const name of await readdir(src)) await copyEntry(join(src, name), join(dst, name), links);
  const st = await lstat(src);
  await utimes(dst, st.atime, st.mtime);
}

async function copyEntry(src: string, dst: string, links: Map<string, string>): Promise<void> {
  const st = await lstat(src);
  if (!st.isDirectory() && st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) {
      await link(first, dst);
      return;
    }
    links.set(key, dst);
  }
  if (st.isDirectory()) {
    await mkdir(dst, { mode: 0o700 });
    copyXattrs(src, dst);
    await lchown(dst, st.uid, st.gid);
    await chmod(dst, st.mode & 0o7777);
    await copyChildren(src, dst, links);
    return;
  }
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dst);
    await lchown(dst, st.uid, st.gid);
    await lutimes(dst, st.atime, st.mtime);
    return;
  }
  if (st.isFile()) {
    await copyFile(src, dst, constants.COPYFILE_FICLONE);
  } else if (st.isFIFO()) {
    mknod(dst, S_IFIFO | (st.mode & 0o7777));
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    mknod(dst, (st.isCharacterDevice() ? S_IFCHR : S_IFBLK) | (st.mode & 0o7777), BigInt(st.rdev));
  } else {
    return; // sockets belong to the process that made them
  }
  copyXattrs(src, dst);
  await lchown(dst, st.uid, st.gid);
  // chown clears set-id bits: the mode goes after it.
  await chmod(dst, st.mode & 0o7777);
  await utimes(dst, st.atime, st.mtime);
}

/** The extended attributes of `src` on `dst` (overlayfs' own `trusted.overlay.*` never: they are the layer's, not the file's). */
function copyXattrs(src: string, dst: string): void {
  for (const name of llistxattr(src)) {
    if (name.startsWith('trusted.overlay.')) continue;
    const value = lgetxattr(src, name);
    if (value !== undefined) lsetxattr(dst, name, value);
  }
}
