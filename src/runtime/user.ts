import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, invalid } from '../errors.js';

/**
 * Resolve a container's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) and `GroupAdd`
 * against the image's /etc/passwd and /etc/group, as Docker does (moby/sys/user
 * `GetExecUser` and `GetAdditionalGroups`): names are looked up, numbers are taken as they are
 * even without an entry, a user found by name brings its primary group, home and, when no
 * group is given, its supplementary groups.
 */

export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the user's groups from /etc/group (implicit form only), then GroupAdd. */
  additionalGids: number[];
  /** From passwd; '/' when there is no entry. */
  home: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2147483647;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(':');
    out.push({ name: f[0] ?? '', uid: atoi(f[2]) ?? -1, gid: atoi(f[3]) ?? -1, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(':');
    const list = f[3] ?? '';
    out.push({ name: f[0] ?? '', gid: atoi(f[2]) ?? -1, members: list === '' ? [] : list.split(',') });
  }
  return out;
}

/**
 * Resolve `userSpec` and `groupAdd` against the contents of passwd and group (undefined: the file
 * does not exist). Throws `invalid` with Docker's messages (`unable to find user x: no matching
 * entries in passwd file`, `unable to find group g: no matching entries in group file`).
 */
export function resolveExecUser(
  userSpec: string,
  groupAdd: string[],
  passwd: string | undefined,
  group: string | undefined,
): ExecUser {
  const colon = userSpec.indexOf(':');
  const userArg = colon < 0 ? userSpec : userSpec.slice(0, colon);
  const groupArg = colon < 0 ? '' : userSpec.slice(colon + 1);
  const uidArg = atoi(userArg);
  const gidArg = atoi(groupArg);

  const user: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const users = passwd === undefined ? [] : parsePasswd(passwd);
  const match = users.find((u) => {
    if (userArg === '') return u.uid === 0;
    if (uidArg !== undefined) return u.uid === uidArg;
    return u.name === userArg;
  });

  let matchedName = '';
  if (match) {
    matchedName = match.name;
    user.uid = match.uid;
    user.gid = match.gid;
    user.home = match.home || '/';
  } else if (userArg !== '') {
    if (uidArg === undefined) throw invalid(`unable to find user ${userArg}: no matching entries in passwd file`);
    if (uidArg > MAX_ID) throw invalid('uids and gids must be in range 0-2147483647');
    user.uid = uidArg;
  }

  const groups = group === undefined ? [] : parseGroup(group);
  if (groupArg !== '') {
    const g = groups.find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
    if (g) user.gid = g.gid;
    else if (gidArg === undefined) throw invalid(`unable to find group ${groupArg}: no matching entries in group file`);
    else if (gidArg > MAX_ID) throw invalid('uids and gids must be in range 0-2147483647');
    else user.gid = gidArg;
  } else if (matchedName !== '') {
    for (const g of groups) if (g.members.includes(matchedName)) user.additionalGids.push(g.gid);
  }

  const seen = new Set<number>();
  const added: number[] = [];
  for (const ag of groupAdd) {
    const g = groups.find((e) => (e.name === ag || String(e.gid) === ag) && !seen.has(e.gid));
    let gid: number;
    if (g) gid = g.gid;
    else {
      const n = atoi(ag);
      if (n === undefined) throw invalid(`Unable to find group ${ag}: no matching entries in group file`);
      if (n > MAX_ID) throw invalid('uids and gids must be in range 0-2147483647');
      gid = n;
    }
    if (!seen.has(gid)) {
      seen.add(gid);
      added.push(gid);
    }
  }
  user.additionalGids.push(...added);
  return user;
}

/**
 * Read /etc/passwd and /etc/group inside `rootfs` (symlinks resolved within it) and resolve.
 * The files are small and local: read synchronously, without a thread-pool round trip (this
 * is on the path of every container start).
 */
export function resolveUser(rootfs: string, userSpec: string, groupAdd: string[]): Promise<ExecUser> {
  try {
    return Promise.resolve(resolveExecUser(userSpec, groupAdd, readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group')));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function readInRoot(root: string, path: string): string | undefined {
  try {
    return readFileSync(resolveInRootSync(root, path), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw err;
  }
}

/**
 * The host path of `path` inside `root`, following symlinks as if `root` were `/`: an
 * absolute link target or `..` never leaves `root` (as moby's FollowSymlinkInScope). Missing
 * components are kept as they are.
 */
export function resolveInRoot(root: string, path: string): Promise<string> {
  try {
    return Promise.resolve(resolveInRootSync(root, path));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** resolveInRoot without the thread pool (a few lstat calls). */
export function resolveInRootSync(root: string, path: string): string {
  const rest = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (rest.length > 0) {
    const c = rest.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, c);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
    }
    if (!isLink) {
      done.push(c);
      continue;
    }
    if (++links > 255) throw Object.assign(new Error(`too many links resolving ${path}`), { code: 'ELOOP' });
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    rest.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return join(root, ...done);
}

function atoi(s: string | undefined): number | undefined {
  if (s === undefined || !/^\+?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}
