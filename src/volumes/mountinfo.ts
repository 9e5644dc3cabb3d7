import { readFile } from 'node:fs/promises';

/** The mount points of this process's mount namespace (/proc/self/mountinfo), unescaped. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && p !== '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))));
}

/** The mount points at `dir` or below it. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const clean = dir.replace(/\/+$/, '');
  return (await mountPoints()).filter((p) => p === clean || p.startsWith(`${clean}/`));
}

/** Whether `path` is a mount point. */
export async function isMounted(path: string): Promise<boolean> {
  const clean = path.replace(/\/+$/, '');
  return (await mountPoints()).includes(clean);
}
