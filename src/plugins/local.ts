import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { conflict, invalid, notFound } from '../errors.js';
import type { EmitFn } from '../events/events.js';
import { familiarName, parseReference, withDefaultTag } from '../images/reference.js';
import type { Filters } from '../util/filters.js';
import { KeyedMutex } from '../util/mutex.js';
import type { Plugin } from '../wire/engine.js';
import { applySettings, capabilityOf, defaultSettings, parseConfig } from './config.js';
import { unpackContext } from './context.js';
import type { CreatePluginOptions, Plugins } from './plugins.js';
import { PluginStore } from './store.js';

const FULL_ID = /^[0-9a-f]{64}$/;

/**
 * A plugin's name as dockerd keeps it: the reference normalised, `latest` by default, in its
 * familiar form (`docker-sdk-py/dummy` -> `docker-sdk-py/dummy:latest`). invalid for a name that
 * is not a reference or carries a digest.
 */
export function pluginName(raw: string): string {
  let ref;
  try {
    ref = parseReference(raw);
  } catch (err) {
    throw invalid(`failed to parse reference ${raw}: ${(err as Error).message}`, err);
  }
  if (ref.digest !== undefined) throw invalid('canonical references are not permitted');
  return familiarName(withDefaultTag(ref));
}

/** Docker's boolean filter values for plugins (filters.Args.GetBoolOrDefault): `1`, `true`, `0`, `false`; none or both: invalid. */
function enabledFilter(filters: Filters): boolean | undefined {
  const values = filters.get('enabled');
  if (values === undefined) return undefined;
  const isTrue = values.includes('1') || values.includes('true');
  const isFalse = values.includes('0') || values.includes('false');
  if (isTrue === isFalse) throw invalid(`invalid filter 'enabled=${values.join(',')}'`);
  return isTrue;
}

/** A filter value matches: the same, or a regular expression found in it (Docker's Args.Match). */
function matches(patterns: string[], value: string): boolean {
  return patterns.some((p) => {
    if (p === value) return true;
    try {
      return new RegExp(p).test(value);
    } catch {
      return false;
    }
  });
}

/**
 * The plugins of one daemon root: records in `PluginStore`, the plugins in memory by ID.
 * Changes (the last step of a create, set, remove) run one at a time; a create's upload and
 * unpack run before, in a staging folder of their own.
 */
export class LocalPlugins implements Plugins {
  private readonly store: PluginStore;
  private readonly byId = new Map<string, Plugin>();
  private readonly mutex = new KeyedMutex();

  constructor(
    root: string,
    private readonly emit: EmitFn,
  ) {
    this.store = new PluginStore(join(root, 'plugins'));
  }

  async init(): Promise<void> {
    for (const p of await this.store.load()) this.byId.set(p.Id!, p);
  }

  get(nameOrId: string): Plugin {
    return structuredClone(this.find(nameOrId));
  }

  list(filters: Filters): Plugin[] {
    for (const key of filters.keys()) if (key !== 'enabled' && key !== 'capability') throw invalid(`invalid filter '${key}'`);
    const enabled = enabledFilter(filters);
    const capabilities = filters.get('capability');
    return [...this.byId.values()]
      .filter((p) => enabled === undefined || p.Enabled === enabled)
      // As dockerd: every interface type of the plugin must match one of the values.
      .filter((p) => capabilities === undefined || (p.Config.Interface.Types ?? []).every((t) => matches(capabilities, capabilityOf(t))))
      .sort((a, b) => a.Name.localeCompare(b.Name))
      .map((p) => structuredClone(p));
  }

  async create(opts: CreatePluginOptions): Promise<Plugin> {
    const name = pluginName(opts.name);
    this.checkFree(name);
    const staged = await this.store.stage();
    let plugin: Plugin;
    try {
      const config = parseConfig(await unpackContext(opts.tar, staged.rootfs));
      plugin = { Id: randomBytes(32).toString('hex'), Name: name, Enabled: false, Settings: defaultSettings(config), PluginReference: name, Config: config };
    } catch (err) {
      await this.store.discard(staged);
      throw err;
    }
    await this.mutex.run('plugins', async () => {
      try {
        // Another create of the same name may have finished while this one was unpacking.
        this.checkFree(name);
      } catch (err) {
        await this.store.discard(staged);
        throw err;
      }
      await this.store.commit(staged, plugin);
      this.byId.set(plugin.Id!, plugin);
    });
    this.emit('plugin', 'create', plugin.Id!, { name });
    return structuredClone(plugin);
  }

  async remove(nameOrId: string): Promise<Plugin> {
    return this.mutex.run('plugins', async () => {
      const p = this.find(nameOrId);
      await this.store.remove(p.Id!);
      this.byId.delete(p.Id!);
      this.emit('plugin', 'remove', p.Id!, { name: p.Name });
      return p;
    });
  }

  disable(nameOrId: string): Promise<void> {
    return Promise.resolve().then(() => {
      const p = this.find(nameOrId);
      throw conflict(`plugin is already disabled: plugin ${p.Name} found but disabled`);
    });
  }

  async set(nameOrId: string, settings: string[]): Promise<void> {
    await this.mutex.run('plugins', async () => {
      const p = this.find(nameOrId);
      const next: Plugin = { ...p, Settings: applySettings(p.Config, p.Settings, settings) };
      await this.store.save(next);
      this.byId.set(p.Id!, next);
    });
  }

  /** conflict when a plugin has this (normalised) name. */
  private checkFree(name: string): void {
    for (const p of this.byId.values()) if (p.Name === name) throw conflict(`plugin ${name} already exists`);
  }

  /** A plugin by full ID, name (normalised) or unique ID prefix, as dockerd's resolvePluginID. */
  private find(nameOrId: string): Plugin {
    const missing = (): Error => notFound(`plugin "${nameOrId}" not found`);
    if (FULL_ID.test(nameOrId)) {
      const p = this.byId.get(nameOrId);
      if (!p) throw missing();
      return p;
    }
    let name: string;
    try {
      name = pluginName(nameOrId);
    } catch {
      throw missing();
    }
    for (const p of this.byId.values()) if (p.Name === name) return p;
    const found = [...this.byId.values()].filter((p) => p.Id!.startsWith(nameOrId));
    if (found.length > 1) throw invalid(`multiple plugins found for "${nameOrId}"`);
    if (found.length === 0) throw missing();
    return found[0]!;
  }
}
