import type { Readable } from 'node:stream';
import type { Filters } from '../util/filters.js';
import type { Plugin } from '../wire/engine.js';

/**
 * The plugins part: Docker's managed plugins as far as pier can honestly keep them. A plugin
 * is made from a folder (`docker plugin create NAME DIR`: `config.json` and `rootfs/`), kept
 * on disk under its ID, listed, inspected, configured and removed. It is never run: enabling
 * a managed plugin means running its rootfs as a process and serving Docker's plugin protocol
 * behind its socket, which pier does not do, so every plugin stays disabled and nothing in
 * pier (volumes, networks, logging) ever calls one. Pulling, pushing and upgrading (plugins
 * from a registry) are not served either.
 *
 * Roles, as moby's plugin backend splits them: reading (`PluginReader`) and managing
 * (`PluginManager`: the /plugins endpoints).
 *
 * Promises of every implementation:
 * - A plugin's record and rootfs survive a kill -9 at any point: a crash leaves the plugin
 *   whole or absent, and a change of its settings the old settings or the new.
 * - Names are Docker's: `NAME[:TAG]` normalised as a reference with the `latest` tag by
 *   default and shown in its familiar form (`docker-sdk-py/dummy` is `docker-sdk-py/dummy:latest`);
 *   a plugin is found by that name, by its full ID or by a unique prefix of its ID.
 * - Errors carry Docker's messages: `plugin "x" not found` (notFound), `plugin x already
 *   exists` (conflict), `multiple plugins found for "x"` (invalid).
 */

/** What `POST /plugins/create` is given. */
export interface CreatePluginOptions {
  /** `NAME[:TAG]`; a digest is refused. */
  name: string;
  /** The tar (gzip or zstd compressed, or plain): `config.json` at its top and `rootfs/` beside it. */
  tar: Readable;
}

/** Reading plugins. */
export interface PluginReader {
  /** A plugin in Docker's wire shape (`GET /plugins/{name}/json`). notFound when none matches. */
  get(nameOrId: string): Plugin;
  /** `GET /plugins`: filters `enabled` and `capability` (others: invalid), sorted by name. */
  list(filters: Filters): Plugin[];
}

/** The /plugins endpoints. Each change emits Docker's `plugin` event (`create`, `remove`). */
export interface PluginManager {
  /**
   * Make a plugin from a tar. invalid: a bad name, a tar that is not one, an entry climbing
   * out (`..`) or absolute, no `config.json`, one that is not JSON or not a plugin's config, no
   * `rootfs/`. conflict: the name is taken (checked before the tar is read and again after).
   * Nothing is left of a create that failed.
   */
  create(opts: CreatePluginOptions): Promise<Plugin>;
  /** Remove a plugin with its rootfs; `force` changes nothing (no plugin is ever enabled). notFound when none matches. */
  remove(nameOrId: string, opts?: { force?: boolean }): Promise<Plugin>;
  /** Disable a plugin: always conflict, Docker's `plugin is already disabled: plugin NAME found but disabled`. */
  disable(nameOrId: string): Promise<void>;
  /**
   * `docker plugin set NAME KEY=VALUE...`: settable env values, args, mount sources and device
   * paths, by Docker's rules (`NAME[.FIELD][=VALUE]`, the field one the config marks settable).
   * invalid with Docker's messages otherwise; nothing is changed unless every setting applies.
   */
  set(nameOrId: string, settings: string[]): Promise<void>;
}

/** The whole part. */
export interface Plugins extends PluginReader, PluginManager {
  /** Load the records, finishing what a crash left (half-made and half-removed plugins go). */
  init(): Promise<void>;
}
