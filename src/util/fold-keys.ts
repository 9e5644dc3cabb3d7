import type { z } from 'zod';

/** The parts of a zod 4 schema's definition that lead to the objects inside it. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * A request body with its field names matched to the schema's as Go's encoding/json matches
 * them (dockerd's decoder): a name the schema has exactly stays; any other that equals one of
 * the schema's names but for case takes that name (docker-py sends `detachKeys` for
 * `DetachKeys`). Nested objects, arrays and maps are matched through; unknown names are kept
 * as they are. Returns a new value; never changes `value`.
 */
export function foldKeys(value: unknown, schema: z.ZodType): unknown {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
      return def.innerType ? foldKeys(value, def.innerType) : value;
    case 'pipe':
      return def.in ? foldKeys(value, def.in) : value;
    case 'array':
      return Array.isArray(value) && def.element ? value.map((v) => foldKeys(v, def.element!)) : value;
    case 'record':
      if (!isPlainObject(value) || !def.valueType) return value;
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, foldKeys(v, def.valueType!)]));
    case 'object':
      return isPlainObject(value) && def.shape ? foldObject(value, def.shape) : value;
    default:
      return value;
  }
}

function foldObject(value: Record<string, unknown>, shape: Record<string, z.ZodType>): Record<string, unknown> {
  const byLower = new Map<string, string>();
  for (const name of Object.keys(shape)) byLower.set(name.toLowerCase(), name);
  const out: Record<string, unknown> = {};
  // Exact names first, so that a case-folded duplicate never overrides them.
  for (const [k, v] of Object.entries(value)) if (k in shape) out[k] = foldKeys(v, shape[k]!);
  for (const [k, v] of Object.entries(value)) {
    if (k in shape) continue;
    const name = byLower.get(k.toLowerCase());
    if (name === undefined) out[k] = v;
    else if (!(name in out)) out[name] = foldKeys(v, shape[name]!);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
