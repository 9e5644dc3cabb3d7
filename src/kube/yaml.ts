import yaml from 'js-yaml';
import type { KubeObject } from './objects.js';

/**
 * Kubernetes objects as one multi-document YAML stream, each document after `---`, comment
 * lines first. kubectl reads YAML as YAML 1.1 does, where `yes`, `on`, `1_000` or `0b1` are not
 * strings; every string value that either YAML 1.1 or js-yaml's own schema would read as
 * something else is quoted, so a variable's value stays the string it was.
 */

/** Plain scalars YAML 1.1 resolves to a boolean or a number that js-yaml's YAML 1.2 schema would leave plain. */
const YAML11_ONLY = new yaml.Type('tag:pier,2025:yaml11-scalar', {
  kind: 'scalar',
  resolve: (s) => /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|true|True|TRUE|false|False|FALSE)$/.test(s) || /^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|\.[0-9_]+)$/.test(s),
  construct: (s) => s,
});
const SCHEMA = yaml.DEFAULT_SCHEMA.extend({ implicit: [YAML11_ONLY] });

/** The YAML of one object, alone. */
export function objectYaml(obj: KubeObject): string {
  return yaml.dump(obj, { noRefs: true, lineWidth: -1, schema: SCHEMA });
}

/** `objects` as a YAML stream, `header` (lines without `#`) as comments on top. */
export function renderObjects(objects: readonly KubeObject[], header: readonly string[] = []): string {
  const comments = header.map((l) => `# ${l}\n`).join('');
  return comments + objects.map((o) => `---\n${objectYaml(o)}`).join('');
}
