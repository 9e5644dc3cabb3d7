import type { Stats } from 'node:fs';

/**
 * Go's os.FileMode and time.Time as the Docker API carries them (a path stat's `mode` and
 * `mtime`), for the daemon that writes them and the CLI that reads them.
 */

/** Go's os.FileMode bits for a file's mode (`ModeDir`, `ModeSymlink`, ... above the permission bits). */
export function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += 2 ** 31;
  else if (st.isSymbolicLink()) mode += 2 ** 27;
  else if (st.isBlockDevice()) mode += 2 ** 26;
  else if (st.isCharacterDevice()) mode += 2 ** 26 + 2 ** 21;
  else if (st.isFIFO()) mode += 2 ** 25;
  else if (st.isSocket()) mode += 2 ** 24;
  if (st.mode & 0o4000) mode += 2 ** 23;
  if (st.mode & 0o2000) mode += 2 ** 22;
  if (st.mode & 0o1000) mode += 2 ** 20;
  return mode;
}

/** Whether Go's FileMode `mode` is a folder's. */
export function isGoDir(mode: number): boolean {
  return mode >= 2 ** 31;
}

/** Whether Go's FileMode `mode` is a regular file's: no type bit (dir, symlink, device, pipe, socket, char device, irregular). */
export function isGoRegular(mode: number): boolean {
  return [31, 27, 26, 25, 24, 21, 19].every((bit) => Math.floor(mode / 2 ** bit) % 2 === 0);
}

/** Whether Go's FileMode `mode` is a symlink's. */
export function isGoSymlink(mode: number): boolean {
  return Math.floor(mode / 2 ** 27) % 2 === 1;
}

/** Go's time.Time in JSON (RFC 3339, fraction without trailing zeros), in UTC. */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}
