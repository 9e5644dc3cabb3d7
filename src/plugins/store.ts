import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errnoCode, internal } from '../errors.js';
import { log } from '../log.js';
import { syncTree } from '../snapshots/sync-tree.js';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';
import type { Plugin } from '../wire/engine.js';

/**
 * The plugins' records: one folder per plugin, `<root>/plugins/<id>/` holding `plugin.json`
 * (the plugin in Docker's wire shape) and `rootfs/`. A plugin comes into being by one rename:
 * it is made whole in a staging folder `.new-<random>` (rootfs unpacked, record written, the
 * tree flushed), then renamed to its ID; it goes by one rename too, to `.rm-<random>`, before
 * its files are removed. A record is changed by an atomic replace (temp file, fsync, rename).
 * A kill -9 at any point leaves each plugin whole or absent; `load` removes the staging and
 * trash folders a crash left, and the temp files of an interrupted replace.
 */

const STAGING = '.new-';
const TRASH = '.rm-';
const RECORD = 'plugin.json';
export const ROOTFS = 'rootfs';
const ID = /^[0-9a-f]{64}$/;

const Strings = z.array(z.string()).nullable();
const Named = { Name: z.string(), Description: z.string(), Settable: Strings };
const MountSchema = z.looseObject({ ...Named, Source: z.string().nullable(), Destination: z.string(), Type: z.string(), Options: Strings });
const DeviceSchema = z.looseObject({ ...Named, Path: z.string().nullable() });

/** A record read back from disk: the Plugin object's shape, checked where the API's answers depend on it. */
const PluginRecordSchema = z.looseObject({
  Id: z.string().regex(ID),
  Name: z.string(),
  Enabled: z.boolean(),
  Settings: z.object({ Mounts: z.array(MountSchema).nullable(), Env: Strings, Args: Strings, Devices: z.array(DeviceSchema).nullable() }),
  PluginReference: z.string().optional(),
  Config: z.looseObject({
    Description: z.string(),
    Documentation: z.string(),
    Interface: z.looseObject({ Types: Strings, Socket: z.string() }),
    Entrypoint: Strings,
    WorkDir: z.string(),
    Network: z.object({ Type: z.string() }),
    Linux: z.object({ Capabilities: Strings, AllowAllDevices: z.boolean(), Devices: z.array(DeviceSchema).nullable() }),
    PropagatedMount: z.string(),
    IpcHost: z.boolean(),
    PidHost: z.boolean(),
    Mounts: z.array(MountSchema).nullable(),
    Env: z.array(z.looseObject({ ...Named, Value: z.string().nullable() })).nullable(),
    Args: z.object({ ...Named, Value: Strings }),
  }),
});

/** A plugin being made: its staging folder, whose `rootfs/` the caller fills. */
export interface StagedPlugin {
  readonly dir: string;
  readonly rootfs: string;
}

export class PluginStore {
  constructor(readonly dir: string) {}

  /** The folder of a stored plugin's rootfs. */
  rootfsPath(id: string): string {
    return join(this.dir, id, ROOTFS);
  }

  /** Every whole record; leftovers of interrupted creates, removals and replaces are removed. */
  async load(): Promise<Plugin[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: Plugin[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      const path = join(this.dir, entry.name);
      if (entry.name.startsWith(STAGING) || entry.name.startsWith(TRASH)) {
        await rm(path, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, path }, 'a plugin folder a crash left could not be removed'));
        continue;
      }
      if (!entry.isDirectory() || !ID.test(entry.name)) continue;
      try {
        for (const f of await readdir(path)) if (f.startsWith(`${RECORD}.tmp-`)) await rm(join(path, f), { force: true });
        const parsed = PluginRecordSchema.safeParse(JSON.parse(await readFile(join(path, RECORD), 'utf8')));
        if (!parsed.success) throw new Error(`record does not match: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
        if (parsed.data.Id !== entry.name) throw new Error(`record names ${parsed.data.Id}`);
        out.push(parsed.data);
      } catch (err) {
        log.error({ err, path }, 'unreadable plugin record: left in place, not loaded');
      }
    }
    return out;
  }

  /** A new staging folder (mode 0700) with an empty `rootfs/` (0755). */
  async stage(): Promise<StagedPlugin> {
    const dir = join(this.dir, `${STAGING}${randomBytes(8).toString('hex')}`);
    await mkdir(dir, { mode: 0o700 });
    const rootfs = join(dir, ROOTFS);
    await mkdir(rootfs, { mode: 0o755 });
    return { dir, rootfs };
  }

  /**
   * Make a staged plugin whole under its ID: the record written into the staging folder, the
   * tree flushed, then renamed. The caller knows the ID and the name are free. On failure the
   * staging folder is gone.
   */
  async commit(staged: StagedPlugin, plugin: Plugin): Promise<void> {
    try {
      await writeFileAtomic(join(staged.dir, RECORD), JSON.stringify(plugin), 0o600);
      await syncTree(staged.dir);
      await rename(staged.dir, join(this.dir, plugin.Id!));
    } catch (err) {
      await this.discard(staged);
      throw internal(`create plugin ${plugin.Name}: ${(err as Error).message}`, err);
    }
    await fsyncDir(this.dir);
  }

  /** Remove a staging folder and what was unpacked in it. */
  async discard(staged: StagedPlugin): Promise<void> {
    await rm(staged.dir, { recursive: true, force: true });
  }

  /** Replace a stored plugin's record (its settings changed). */
  async save(plugin: Plugin): Promise<void> {
    await writeFileAtomic(join(this.dir, plugin.Id!, RECORD), JSON.stringify(plugin), 0o600);
  }

  /** Remove a plugin: renamed away at once (its record is gone with that), then its files. A folder already gone is no error. */
  async remove(id: string): Promise<void> {
    const trash = join(this.dir, `${TRASH}${randomBytes(8).toString('hex')}`);
    try {
      await rename(join(this.dir, id), trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw internal(`remove plugin ${id}: ${(err as Error).message}`, err);
    }
    await fsyncDir(this.dir);
    await rm(trash, { recursive: true, force: true });
  }
}
