#!/usr/bin/env node
// engine-api-schema.mjs: convert moby's Swagger 2.0 definition of the Docker Engine API v1.51
// into the JSON Schema the integration tests validate pierd's answers with
// (test/schema/engine-api-v1.51.json), and into the TypeScript wire types shared by the API and
// the client (src/wire/engine.ts). Both outputs are generated: change this script, not them.
//
//   node scripts/engine-api-schema.mjs SWAGGER.yaml            write both outputs
//   node scripts/engine-api-schema.mjs --check SWAGGER.yaml    exit 1 unless both are current
//
// SWAGGER.yaml is moby/moby's api/swagger.yaml at the commit named in SOURCE (Docker 28.5.2, the
// newest release serving API 1.51; its `info.version` is "1.51"). Its sha256 must match.
//
// What the conversion does (Swagger 2.0 → JSON Schema draft-07, which ajv 6 takes):
// - `$ref: '#/definitions/X'` is kept; definitions are kept under `definitions`.
// - per operation (path template + method), the response schema of each status code is kept
//   under `paths[template][method].responses[status]` (`schema: null` for a status without a
//   body), with the operation's `produces`;
// - `description`, `example`, `examples`, `format` (Go formats ajv does not know: int64, uint16,
//   CIDR...), `x-go-name` and `title` are dropped;
// - nullability is made explicit (Swagger 2.0 has no `null` type; moby marks some fields with
//   `x-nullable`). A value may be null when: the field says `x-nullable: true`; or it says nothing
//   and is an array, a map/object or a `$ref` (Go slices, maps and pointers, which Go's encoder
//   writes as `null` when unset, as Docker's answers do: `"Binds": null`). It may not be null when
//   it says `x-nullable: false`, when it is a string, number or boolean, or when GO_TYPES below
//   says so. Array items and map values are null only when they say `x-nullable: true` (PortMap's
//   values: an exposed port that is not published is `"80/tcp": null`); a whole response body
//   never is.
// - GO_TYPES adds what the swagger leaves unsaid but Docker's Go types (moby v28.5.2, api/types)
//   say: keys always present (fields without `omitempty`), collections Docker always answers as
//   [] or {} (never null), and pointer fields the swagger forgot to mark nullable. Each entry
//   names its Go type. GO_MARSHALLED replaces the few definitions whose Go type marshals itself
//   in another shape (a plugin's interface types are strings).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { wireTypes } from './engine-api-types.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemaTarget = join(repo, 'test/schema/engine-api-v1.51.json');
const typesTarget = join(repo, 'src/wire/engine.ts');

export const SOURCE = {
  repository: 'moby/moby',
  path: 'api/swagger.yaml',
  commit: '89c5e8fd66634b6128fc4c0e6f1236e2540e46e0',
  tag: 'v28.5.2',
  url: 'https://github.com/moby/moby/blob/89c5e8fd66634b6128fc4c0e6f1236e2540e46e0/api/swagger.yaml',
  sha256: '2afceffc4138e3f4a030140c14f27d4118cec99024695f53d4884c79f3a10138',
  license: 'Apache-2.0, Copyright The Moby Authors (https://github.com/moby/moby/blob/master/LICENSE)',
};

/**
 * Per definition: `required` keys Docker always sends; `notNull` fields Docker always sends as a
 * value ([] or {} when empty), never null; `nullable` fields Docker may send as null (Go
 * pointers) though the swagger does not say so.
 */
const GO_TYPES = {
  // container.Summary (api/types/container/container.go); the daemon makes Names, Ports, Labels
  // and Mounts before filling them (daemon/container/view.go), so they are [] or {} when empty;
  // HostConfig is a struct, not a pointer.
  ContainerSummary: {
    required: ['Id', 'Names', 'Image', 'ImageID', 'Command', 'Created', 'Ports', 'Labels', 'State', 'Status', 'HostConfig', 'NetworkSettings', 'Mounts'],
    notNull: ['Names', 'Ports', 'Labels', 'HostConfig', 'Mounts'],
  },
  // container.InspectResponse = *ContainerJSONBase + Mounts, Config, NetworkSettings.
  ContainerInspectResponse: {
    required: ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name',
      'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver',
      'Mounts', 'Config', 'NetworkSettings'],
    notNull: ['Args', 'State', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings'],
  },
  // container.State.
  ContainerState: {
    required: ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt'],
  },
  // container.NetworkSettings (NetworkSettingsBase + DefaultNetworkSettings + Networks).
  NetworkSettings: {
    required: ['SandboxID', 'SandboxKey', 'Ports', 'Networks'],
    notNull: ['Networks'],
  },
  // network.EndpointSettings: every field is always sent.
  EndpointSettings: {
    required: ['IPAMConfig', 'Links', 'Aliases', 'MacAddress', 'DriverOpts', 'NetworkID', 'EndpointID', 'Gateway', 'IPAddress',
      'IPPrefixLen', 'IPv6Gateway', 'GlobalIPv6Address', 'GlobalIPv6PrefixLen', 'DNSNames'],
  },
  // network.Inspect (= network.Summary): the daemon answers {} for no containers, options, labels.
  Network: {
    required: ['Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv4', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress',
      'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels'],
    notNull: ['IPAM', 'ConfigFrom', 'Containers', 'Options', 'Labels'],
  },
  // container.Resources: MemorySwappiness *int64 and OomKillDisable *bool are null when unset
  // (the daemon turns the CLI's -1 into nil: daemon/daemon.go fixMemorySwappiness).
  Resources: { nullable: ['MemorySwappiness', 'OomKillDisable'] },
  // image.InspectResponse: RepoTags and RepoDigests are [] for an image without any.
  ImageInspect: {
    required: ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size',
      'GraphDriver', 'RootFS', 'Metadata'],
    notNull: ['RepoTags', 'RepoDigests', 'GraphDriver', 'RootFS', 'Metadata'],
  },
  // plugin.Env, plugin.Mount, plugin.Device (api/types/plugin): Value, Source and Path are
  // *string, null where a plugin's config.json leaves them out.
  PluginEnv: { nullable: ['Value'] },
  PluginMount: { nullable: ['Source'] },
  PluginDevice: { nullable: ['Path'] },
};

/**
 * Definitions whose Go type writes itself in another shape than the swagger describes.
 * plugin.CapabilityID (api/types/plugin) has MarshalText/UnmarshalText: a plugin's interface
 * types travel as strings (`"docker.volumedriver/1.0"`, as the swagger's own example shows),
 * and Go clients (the docker CLI) refuse the object the definition describes.
 */
const GO_MARSHALLED = {
  PluginInterfaceType: { type: 'string' },
};

/**
 * The same for the inline response schemas of operations (`METHOD template status`).
 * backend.ExecInspect (api/types/backend): ExitCode *int is null until the process has exited.
 */
const GO_TYPES_INLINE = {
  'GET /exec/{id}/json 200': { nullable: ['ExitCode'] },
};

/** Keys of a Swagger schema that say nothing a validator or a type needs. */
const DROPPED = new Set(['description', 'example', 'examples', 'format', 'x-go-name', 'title', 'x-omitempty']);

/** Convert one Swagger schema. `nullable`: whether this position may hold null (see above). */
function convert(schema, nullable) {
  if (typeof schema !== 'object' || schema === null) return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED.has(key) || key === 'x-nullable') continue;
    if (key === 'properties') {
      out.properties = {};
      for (const [name, property] of Object.entries(value)) {
        out.properties[name] = convert(property, nullableProperty(property, schema, name));
      }
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = typeof value === 'object' ? convert(value, value['x-nullable'] === true) : value;
    } else if (key === 'allOf' || key === 'anyOf' || key === 'oneOf') {
      out[key] = value.map((part) => convert(part, false));
    } else {
      out[key] = value;
    }
  }
  return nullable ? orNull(out) : out;
}

function nullableProperty(property, parent, name) {
  if (property['x-nullable'] === true) return true;
  if (property['x-nullable'] === false) return false;
  if (parent['x-pier-not-null']?.includes(name)) return false;
  if (parent['x-pier-nullable']?.includes(name)) return true;
  return property.type === 'array' || property.type === 'object' || property.$ref !== undefined || property.allOf !== undefined;
}

function orNull(schema) {
  if (schema.$ref !== undefined || schema.allOf !== undefined || schema.type === undefined) return { anyOf: [schema, { type: 'null' }] };
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const out = { ...schema, type: [...new Set([...types, 'null'])] };
  if (Array.isArray(schema.enum) && !schema.enum.includes(null)) out.enum = [...schema.enum, null];
  return out;
}

/** The definitions with GO_TYPES applied (as `required` and the markers convert() reads). */
function withGoTypes(definitions) {
  const out = { ...definitions };
  for (const [name, { required = [], notNull = [], nullable = [] }] of Object.entries(GO_TYPES)) {
    const def = out[name];
    if (!def?.properties) throw new Error(`GO_TYPES names ${name}, which is not an object definition of the swagger`);
    for (const key of [...required, ...notNull, ...nullable]) {
      if (!(key in def.properties)) throw new Error(`GO_TYPES names ${name}.${key}, which the swagger does not define`);
    }
    const marked = { ...def, 'x-pier-not-null': notNull, 'x-pier-nullable': nullable };
    if (required.length > 0) marked.required = [...new Set([...(def.required ?? []), ...required])];
    out[name] = marked;
  }
  return out;
}

function dropMarkers(value) {
  if (Array.isArray(value)) return value.map(dropMarkers);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'x-pier-not-null' && k !== 'x-pier-nullable').map(([k, v]) => [k, dropMarkers(v)]));
}

export function convertSwagger(swagger) {
  if (swagger.swagger !== '2.0' || swagger.info?.version !== '1.51') throw new Error(`not the Swagger 2.0 definition of API 1.51 (info.version ${swagger.info?.version})`);
  const definitions = {};
  for (const [name, def] of Object.entries(withGoTypes(swagger.definitions))) definitions[name] = dropMarkers(convert(def, false));
  for (const [name, schema] of Object.entries(GO_MARSHALLED)) {
    if (!(name in definitions)) throw new Error(`GO_MARSHALLED names ${name}, which the swagger does not define`);
    definitions[name] = schema;
  }
  const paths = {};
  for (const [template, operations] of Object.entries(swagger.paths)) {
    paths[template] = {};
    for (const [method, op] of Object.entries(operations)) {
      if (method === 'parameters') throw new Error(`${template}: path-level parameters are not handled`);
      const responses = {};
      for (const [status, response] of Object.entries(op.responses)) {
        const overlay = GO_TYPES_INLINE[`${method.toUpperCase()} ${template} ${status}`];
        let schema = response.schema;
        if (overlay) {
          for (const key of overlay.nullable) {
            if (!(key in (schema?.properties ?? {}))) throw new Error(`GO_TYPES_INLINE names ${template} ${key}, which the swagger does not define`);
          }
          schema = { ...schema, 'x-pier-nullable': overlay.nullable };
        }
        responses[status] = { schema: schema ? dropMarkers(convert(schema, false)) : null };
      }
      paths[template][method.toUpperCase()] = { operationId: op.operationId, produces: op.produces ?? swagger.produces, responses };
    }
  }
  return {
    $comment: `Generated by scripts/engine-api-schema.mjs from ${SOURCE.url} (${SOURCE.tag}); ${SOURCE.license}. Do not edit.`,
    source: SOURCE,
    definitions,
    paths,
  };
}

function main() {
  const args = process.argv.slice(2);
  const check = args[0] === '--check';
  const sourcePath = check ? args[1] : args[0];
  if (!sourcePath) {
    process.stderr.write('usage: node scripts/engine-api-schema.mjs [--check] SWAGGER.yaml\n');
    process.exit(2);
  }
  const text = readFileSync(sourcePath);
  const digest = createHash('sha256').update(text).digest('hex');
  if (digest !== SOURCE.sha256) throw new Error(`${sourcePath}: sha256 ${digest}, not the recorded ${SOURCE.sha256}`);
  const schema = convertSwagger(yaml.load(text.toString('utf8')));
  const outputs = [
    [schemaTarget, `${JSON.stringify(schema, null, 1)}\n`],
    [typesTarget, wireTypes(schema)],
  ];
  let stale = false;
  for (const [target, content] of outputs) {
    if (!check) writeFileSync(target, content);
    else if (readFileSync(target, 'utf8') !== content) {
      process.stderr.write(`${target} is not the conversion of ${sourcePath}\n`);
      stale = true;
    }
  }
  if (stale) process.exit(1);
}

main();
