import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { invalid } from '../errors.js';
import { RootDir } from '../util/archive/root-dir.js';
import { unpack } from '../util/archive/unpack.js';
import { uncompressed } from '../util/decompress.js';

/** The largest config.json taken (dockerd reads it whole into memory too). */
const MAX_CONFIG = 1024 * 1024;

/**
 * Unpack a plugin's context (the body of `POST /plugins/create`, plain or compressed) as
 * dockerd splits it: `config.json` at the top is the config, every entry under `rootfs/` goes
 * into `rootfs` with that prefix taken off (hard link targets too), anything else is skipped.
 * The rootfs is its own root: its symlinks lead nowhere outside it (util/archive/unpack.ts).
 * Returns config.json's text. invalid: not a tar, an absolute entry name or one with a `..`
 * component, no config.json (or one that is not a file, or over 1 MiB), no rootfs. What was
 * unpacked before a failure stays in `rootfs`: the caller discards the folder.
 */
export async function unpackContext(tar: Readable, rootfs: string): Promise<string> {
  // config.json lands at the rootfs's top under a name no entry of the tar can know, and moves
  // out once the tar is read, so that the whole unpack is one pass confined to the rootfs.
  const configName = `.pier-plugin-config-${randomBytes(8).toString('hex')}`;
  let sawConfig = false;
  let sawRootfs = false;
  const rename = (name: string): string => {
    if (name.startsWith('/')) throw invalid(`plugin context: absolute entry name ${JSON.stringify(name)}`);
    const comps = name.split('/').filter((c) => c !== '' && c !== '.');
    if (comps.includes('..')) throw invalid(`plugin context: entry name ${JSON.stringify(name)} climbs out of its folder`);
    if (comps.length === 1 && comps[0] === 'config.json') {
      sawConfig = true;
      return configName;
    }
    if (comps[0] === 'rootfs') {
      sawRootfs = true;
      // `rootfs` itself is the root of the unpack ('.': skipped).
      return comps.length === 1 ? '.' : comps.slice(1).join('/');
    }
    return '.';
  };
  const root = RootDir.open(rootfs);
  try {
    await unpack(await uncompressed(tar, 'plugin context'), root, [], { rename });
  } finally {
    root.close();
  }
  if (!sawConfig) throw invalid('plugin context: config not found: the tar has no config.json at its top');
  const configPath = join(rootfs, configName);
  let raw: string;
  try {
    const fh = await open(configPath, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw invalid('plugin context: config.json is not a regular file');
      if (st.size > MAX_CONFIG) throw invalid(`plugin context: config.json is over ${MAX_CONFIG} bytes`);
      raw = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    // A link (O_NOFOLLOW: ELOOP), a folder or a fifo (O_NONBLOCK): not the file config.json must be.
    if (err instanceof Error && 'code' in err) throw invalid('plugin context: config.json is not a regular file', err);
    throw err;
  } finally {
    await rm(configPath, { recursive: true, force: true });
  }
  if (!sawRootfs) throw invalid('plugin context: no rootfs found: the tar has no rootfs/ beside config.json');
  return raw;
}
