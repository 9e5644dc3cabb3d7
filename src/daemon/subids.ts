import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { errnoCode, internal, invalid } from '../errors.js';
import { log } from '../log.js';
import { RANGE_SIZE, type SubIdRange } from '../containers/id-ranges.js';

/**
 * The host's subordinate IDs (/etc/subuid, /etc/subgid) for user namespaces, and the user
 * that Docker's `userns-remap: default` stands for: made when missing, as dockerd makes
 * `dockremap` (a system user without a login, and ranges in both files after every range
 * there is). pier's is `pier` (`userns-default-user` names another), with ranges for the
 * remap and for `--userns=auto` containers.
 */

const run = promisify(execFile);

/** How many IDs a user made by pier gets: the remap's range and 1023 ranges for `--userns=auto`. */
export const DEFAULT_USER_IDS = RANGE_SIZE * 1024;

/** The lowest subordinate ID pier hands out (as shadow's SUB_UID_MIN). */
const SUB_ID_MIN = 100000;

export interface SubIds {
  uids: SubIdRange[];
  gids: SubIdRange[];
}

/** The ranges of `/etc/subuid`-style text that belong to the user `name` (or to its numeric `id`). */
export function parseSubIds(text: string, name: string, id?: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who === undefined || start === undefined || count === undefined || line.trim().startsWith('#')) continue;
    if (who !== name && (id === undefined || who !== String(id))) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && s >= 0 && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/** The first ID after every range of the files' text (at least SUB_ID_MIN). */
export function nextFreeId(...texts: string[]): number {
  let next = SUB_ID_MIN;
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const [, start, count] = line.trim().split(':');
      const end = Number(start) + Number(count);
      if (Number.isFinite(end) && end > next) next = end;
    }
  }
  return next;
}

/** `getent <db> <key>`'s fields; undefined when there is no such entry. */
async function getent(db: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  try {
    const { stdout } = await run('getent', [db, key]);
    return stdout.trim().split(':');
  } catch (err) {
    if ((err as { code?: unknown }).code === 2) return undefined;
    throw internal(`getent ${db} ${key}: ${(err as Error).message}`, err);
  }
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return '';
    throw err;
  }
}

/**
 * The subordinate IDs of `user[:group]` (Docker's `userns-remap` value other than
 * `default`): the user's uid ranges and the group's (default: the user's name) gid ranges.
 * `invalid` when the user or a range is missing, as dockerd refuses to start then.
 */
export async function subIdsOf(spec: string): Promise<SubIds & { user: string }> {
  const [user = '', group = user] = spec.split(':');
  const pw = await getent('passwd', user);
  if (!pw) throw invalid(`userns-remap ${spec}: no such user ${user}`);
  const gr = await getent('group', group);
  if (!gr) throw invalid(`userns-remap ${spec}: no such group ${group}`);
  const [subuid, subgid] = await Promise.all([readOrEmpty('/etc/subuid'), readOrEmpty('/etc/subgid')]);
  const uids = parseSubIds(subuid, pw[0]!, Number(pw[2]));
  const gids = parseSubIds(subgid, gr[0]!, Number(gr[2]));
  if (uids.length === 0) throw invalid(`userns-remap ${spec}: no subordinate uid range for ${user} in /etc/subuid`);
  if (gids.length === 0) throw invalid(`userns-remap ${spec}: no subordinate gid range for ${group} in /etc/subgid`);
  return { user: pw[0]!, uids, gids };
}

/**
 * The user `default` stands for, made when missing: a system user without a home or a
 * login (in the group of its name, which may exist already: pier's socket group is `pier`
 * too), with DEFAULT_USER_IDS subordinate uids and gids after every range of the files when
 * it has none. Returns its ranges.
 */
export async function ensureDefaultUser(name: string): Promise<SubIds & { user: string }> {
  if (!(await getent('passwd', name))) {
    const group = (await getent('group', name)) ? ['-g', name] : ['-U'];
    log.info({ user: name }, 'userns: making the user whose subordinate IDs containers get');
    await run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', ...group, name]).catch((err: unknown) => {
      throw internal(`useradd ${name}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, err);
    });
  }
  const [subuid, subgid] = await Promise.all([readOrEmpty('/etc/subuid'), readOrEmpty('/etc/subgid')]);
  const pw = (await getent('passwd', name))!;
  const args: string[] = [];
  const start = nextFreeId(subuid, subgid);
  const range = `${start}-${start + DEFAULT_USER_IDS - 1}`;
  if (parseSubIds(subuid, name, Number(pw[2])).length === 0) args.push('--add-subuids', range);
  if (parseSubIds(subgid, name).length === 0) args.push('--add-subgids', range);
  if (args.length > 0) {
    log.info({ user: name, range }, 'userns: adding subordinate IDs');
    await run('usermod', [...args, name]).catch((err: unknown) => {
      throw internal(`usermod ${args.join(' ')} ${name}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, err);
    });
  }
  return subIdsOf(name);
}
