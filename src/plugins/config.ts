import { z } from 'zod';
import { invalid } from '../errors.js';
import { foldKeys } from '../util/fold-keys.js';
import type { Plugin } from '../wire/engine.js';

/**
 * A plugin's `config.json` as dockerd reads it (Go's encoding/json into `plugin.Config`):
 * field names match whatever their case (`entrypoint` is `Entrypoint`), unknown fields are
 * ignored, a missing one takes its zero value (`""`, `false`, null for a list, null for an
 * env value, a mount source or a device path). A field of the wrong type is refused with
 * `invalid` naming it, as Go's decoder refuses it. Beyond what dockerd checks (nothing: its
 * validateConfig is empty), each interface type must read `PREFIX.CAPABILITY/VERSION` and a
 * protocol scheme must be one the API names, so that every stored config answers in the
 * shape of the Engine API's Plugin.
 */

export type PluginConfig = Plugin['Config'];
export type PluginSettings = Plugin['Settings'];

const text = z.string().nullish().transform((v) => v ?? '');
const flag = z.boolean().nullish().transform((v) => v ?? false);
const list = z.array(z.string()).nullish().transform((v) => v ?? null);
const pointer = z.string().nullish().transform((v) => v ?? null);
const uint32 = z.number().int().min(0).max(0xffffffff).nullish();

/** `PREFIX.CAPABILITY/VERSION`: the prefix is everything before the last `.` ahead of the first `/`. */
const INTERFACE_TYPE = /^([^/]*)\.([^./]+)\/(.+)$/;

const EnvSchema = z.object({ Name: text, Description: text, Settable: list, Value: pointer });
const MountSchema = z.object({ Name: text, Description: text, Settable: list, Source: pointer, Destination: text, Type: text, Options: list });
const DeviceSchema = z.object({ Name: text, Description: text, Settable: list, Path: pointer });
const nullList = <T extends z.ZodType>(item: T) => z.array(item).nullish().transform((v) => v ?? null);

const ConfigSchema = z.object({
  Description: text,
  Documentation: text,
  Interface: z
    .object({
      Types: nullList(z.string().regex(INTERFACE_TYPE, 'not of the form PREFIX.CAPABILITY/VERSION')),
      Socket: text,
      ProtocolScheme: z.enum(['', 'moby.plugins.http/v1']).nullish(),
    })
    .nullish(),
  Entrypoint: list,
  WorkDir: text,
  User: z.object({ UID: uint32, GID: uint32 }).nullish(),
  Network: z.object({ Type: text }).nullish(),
  Linux: z.object({ Capabilities: list, AllowAllDevices: flag, Devices: nullList(DeviceSchema) }).nullish(),
  PropagatedMount: text,
  IpcHost: flag,
  PidHost: flag,
  Mounts: nullList(MountSchema),
  Env: nullList(EnvSchema),
  Args: z.object({ Name: text, Description: text, Settable: list, Value: list }).nullish(),
});

/** The parsed `config.json`, every field present; invalid (naming the field) when it is not a plugin's config. */
export function parseConfig(raw: string): PluginConfig {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw invalid(`config.json is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('config.json is not a JSON object');
  const parsed = ConfigSchema.safeParse(foldKeys(value, ConfigSchema));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`config.json: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const user: NonNullable<PluginConfig['User']> = {};
  if (c.User?.UID) user.UID = c.User.UID;
  if (c.User?.GID) user.GID = c.User.GID;
  const iface: PluginConfig['Interface'] = { Types: c.Interface?.Types ?? null, Socket: c.Interface?.Socket ?? '' };
  if (c.Interface?.ProtocolScheme) iface.ProtocolScheme = c.Interface.ProtocolScheme;
  return {
    Description: c.Description,
    Documentation: c.Documentation,
    Interface: iface,
    Entrypoint: c.Entrypoint,
    WorkDir: c.WorkDir,
    User: user,
    Network: { Type: c.Network?.Type ?? '' },
    Linux: { Capabilities: c.Linux?.Capabilities ?? null, AllowAllDevices: c.Linux?.AllowAllDevices ?? false, Devices: c.Linux?.Devices ?? null },
    PropagatedMount: c.PropagatedMount,
    IpcHost: c.IpcHost,
    PidHost: c.PidHost,
    Mounts: c.Mounts,
    Env: c.Env,
    Args: c.Args ?? { Name: '', Description: '', Settable: null, Value: null },
  };
}

/** The capability of an interface type (`volumedriver` of `docker.volumedriver/1.0`). */
export function capabilityOf(type: string): string {
  return INTERFACE_TYPE.exec(type)?.[2] ?? '';
}

/** A new plugin's settings, from its config's defaults (dockerd's InitEmptySettings): env values that are set, args, mounts, devices. */
export function defaultSettings(config: PluginConfig): PluginSettings {
  return {
    Mounts: (config.Mounts ?? []).map((m) => ({ ...m })),
    Env: (config.Env ?? []).flatMap((e) => (e.Value === null ? [] : [`${e.Name}=${e.Value}`])),
    Args: [...(config.Args.Value ?? [])],
    Devices: (config.Linux.Devices ?? []).map((d) => ({ ...d })),
  };
}

/** One `NAME[.FIELD][=VALUE]` of `docker plugin set`. */
interface Setting {
  name: string;
  field: string;
  value: string;
}

function parseSetting(arg: string): Setting {
  const eq = arg.indexOf('=');
  if (eq === 0) throw invalid('invalid format, must be <name>[.<field>][=<value>]');
  let name = eq < 0 ? arg : arg.slice(0, eq);
  const value = eq < 0 ? '' : arg.slice(eq + 1);
  let field = '';
  const dot = name.lastIndexOf('.');
  if (dot > 0) {
    field = name.slice(dot + 1);
    name = name.slice(0, dot);
  }
  return { name, field, value };
}

/**
 * Whether `s` may change a field its config marks `settable`, among the fields `allowed` for
 * its kind; a setting naming no field takes the only settable one (several: invalid).
 */
function isSettable(s: Setting, allowed: string, settable: string[] | null): boolean {
  const fields = settable ?? [];
  let field = s.field;
  if (field === '') {
    if (fields.length > 1) throw invalid('multiple fields are settable, one must be specified');
    field = fields[0] ?? '';
  }
  return field === allowed && fields.includes(field);
}

/**
 * The settings after `docker plugin set` (dockerd's Plugin.Set): each argument names an env
 * variable (field `value`), a mount (`source`), a device (`path`) or the args (`value`, split
 * at spaces) of the config, in that order of lookup. invalid with Docker's messages when one
 * names nothing or something not settable. Returns new settings; never changes `current`.
 */
export function applySettings(config: PluginConfig, current: PluginSettings, args: string[]): PluginSettings {
  const next: PluginSettings = {
    Mounts: (current.Mounts ?? []).map((m) => ({ ...m })),
    Env: [...(current.Env ?? [])],
    Args: [...(current.Args ?? [])],
    Devices: (current.Devices ?? []).map((d) => ({ ...d })),
  };
  const notSettable = (s: Setting): Error => invalid(`"${s.field ? `${s.name}.${s.field}` : s.name}" is not settable`);
  for (const s of args.map(parseSetting)) {
    const env = config.Env?.find((e) => e.Name === s.name);
    if (env) {
      if (!isSettable(s, 'value', env.Settable)) throw notSettable(s);
      const env2 = next.Env!;
      const i = env2.findIndex((e) => e.split('=')[0] === s.name);
      if (i >= 0) env2[i] = `${s.name}=${s.value}`;
      else env2.push(`${s.name}=${s.value}`);
      continue;
    }
    const mount = config.Mounts?.find((m) => m.Name === s.name);
    if (mount) {
      if (!isSettable(s, 'source', mount.Settable)) throw notSettable(s);
      const m = next.Mounts!.find((x) => x.Name === s.name);
      if (mount.Source === null || !m) throw invalid('plugin config has no mount source');
      m.Source = s.value;
      continue;
    }
    const device = config.Linux.Devices?.find((d) => d.Name === s.name);
    if (device) {
      if (!isSettable(s, 'path', device.Settable)) throw notSettable(s);
      const d = next.Devices!.find((x) => x.Name === s.name);
      if (device.Path === null || !d) throw invalid('plugin config has no device path');
      d.Path = s.value;
      continue;
    }
    if (config.Args.Name === s.name) {
      if (!isSettable(s, 'value', config.Args.Settable)) throw notSettable(s);
      next.Args = s.value.split(' ');
      continue;
    }
    throw invalid(`setting "${s.name}" not found in the plugin configuration`);
  }
  return next;
}
