import { RANGE_SIZE, withoutRange } from '../containers/id-ranges.js';
import type { ContainerRecord } from '../containers/types.js';
import { Userns } from '../containers/userns.js';
import { log } from '../log.js';
import type { IdMap } from '../util/idmap.js';
import type { DaemonConfig } from './config.js';
import { ensureDefaultUser, subIdsOf, type SubIds } from './subids.js';

/**
 * The daemon's user namespace settings, resolved at start: with `userns-remap`, its user
 * (made when `default` and missing) and the remap range (the first RANGE_SIZE IDs of its
 * first uid and gid ranges); the subordinate IDs `--userns=auto` cuts ranges from: the
 * remap user's beyond the remap range, else those of `userns-default-user`, made on the
 * first `auto` container (a daemon that never runs one touches no system file).
 */
export async function containerUserns(config: DaemonConfig, records: () => Iterable<ContainerRecord>): Promise<Userns> {
  let remap: IdMap | undefined;
  let remapIds: SubIds | undefined;
  if (config.usernsRemap) {
    const ids = config.usernsRemap === 'default' ? await ensureDefaultUser(config.usernsDefaultUser) : await subIdsOf(config.usernsRemap);
    const uid = ids.uids[0]!;
    const gid = ids.gids[0]!;
    const size = Math.min(RANGE_SIZE, uid.count, gid.count);
    remap = { uid: uid.start, gid: gid.start, size };
    remapIds = { uids: withoutRange(ids.uids, uid.start, size), gids: withoutRange(ids.gids, gid.start, size) };
    log.info({ user: ids.user, remap }, 'userns-remap: containers run in a user namespace');
  }
  return new Userns(
    {
      remap,
      defaultAuto: config.defaultUsernsMode === 'auto',
      autoRanges: () => (remapIds ? Promise.resolve(remapIds) : ensureDefaultUser(config.usernsDefaultUser)),
    },
    records,
  );
}
