/**
 * Checks an answer of the Engine API against its schema: moby's swagger for API v1.51,
 * converted once to JSON Schema (engine-api-v1.51.json, made by scripts/engine-api-schema.mjs,
 * which states how nullability and Docker's always-present keys are decided).
 *
 * check() takes what a client saw (method, request path, status, body) and returns what does not
 * match, in words a reader can act on: the operation, the status, and ajv's path and message.
 * - The body is one JSON value, or a stream of them one a line (/events, stats: each is checked).
 * - The path is matched to a swagger operation with the version prefix (`/v1.45`) and the query
 *   left out; a template parameter matches one or more segments (image names hold slashes).
 * - A documented status is checked against its schema; an error status the operation does not
 *   list (Docker too answers 400 for a bad parameter anywhere) against ErrorResponse; a success
 *   status it does not list is itself a violation.
 * - Paths the swagger does not know (pier's own endpoints) are checked only when they fail:
 *   every error body of the API is an ErrorResponse.
 * - Properties the schema does not name are allowed (Docker's own answers carry some the swagger
 *   lacks), and listed by extraProperties() for a summary.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';

export interface Violation {
  /** The swagger operation, `GET /containers/{id}/json`, or the request's own path when none matched. */
  endpoint: string;
  /** The request as sent: `GET /v1.51/containers/3f…/json`. */
  request: string;
  status: number;
  /** ajv's data path (JSON pointer into the body) and message, one per mismatch. */
  errors: string[];
}

interface JsonSchemaDocument {
  source: { url: string; tag: string };
  definitions: Record<string, object>;
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, { schema: object | null }> }>>;
}

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  responses: Record<string, { schema: object | null }>;
}

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ dataPath: string; message?: string; params?: object }> | null };

const DOCUMENT_ID = 'engine-api-v1.51.json';

/** The converted swagger, read once from the repository. */
export function loadEngineSchema(repoRoot: string): JsonSchemaDocument {
  return JSON.parse(readFileSync(join(repoRoot, 'test', 'schema', DOCUMENT_ID), 'utf8')) as JsonSchemaDocument;
}

export class ResponseChecker {
  private readonly ajv: Ajv.Ajv;
  private readonly operations: Operation[] = [];
  private readonly compiled = new Map<string, Validate>();
  private readonly strictAjv: Ajv.Ajv;
  private readonly extras = new Map<string, Set<string>>();

  constructor(private readonly doc: JsonSchemaDocument) {
    this.ajv = new Ajv({ allErrors: true, jsonPointers: true, schemaId: 'auto' });
    this.ajv.addSchema({ $id: DOCUMENT_ID, definitions: doc.definitions });
    // The same definitions with every named object closed: what it reports are the extras.
    this.strictAjv = new Ajv({ allErrors: true, jsonPointers: true });
    this.strictAjv.addSchema({ $id: DOCUMENT_ID, definitions: closeObjects(mergeAllOf(doc.definitions, doc.definitions)) });
    for (const [template, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        this.operations.push({ method, template, regex: templateRegex(template), responses: op.responses });
      }
    }
    // The most literal template first: `/images/json` before `/images/{name}/json`.
    this.operations.sort((a, b) => literalLength(b.template) - literalLength(a.template));
  }

  /** The swagger operation for a method and a request path (with or without version and query). */
  operation(method: string, requestPath: string): { method: string; template: string } | undefined {
    const path = apiPath(requestPath);
    const op = this.operations.find((o) => o.method === method && o.regex.test(path));
    return op && { method: op.method, template: op.template };
  }

  /** What in this answer does not match the schema; [] when it does, or when there is no schema for it. */
  check(method: string, requestPath: string, status: number, body: string): Violation[] {
    const path = apiPath(requestPath);
    const op = this.operations.find((o) => o.method === method && o.regex.test(path));
    const endpoint = `${method} ${op?.template ?? path}`;
    const request = `${method} ${requestPath}`;
    let schemaPath: string | undefined;
    let schema: object | null | undefined;
    if (op) {
      const documented = op.responses[String(status)];
      if (documented) {
        schemaPath = `${op.template} ${method} ${status}`;
        schema = documented.schema;
      } else if (status >= 400) {
        schemaPath = 'ErrorResponse';
        schema = { $ref: '#/definitions/ErrorResponse' };
      } else {
        const listed = Object.keys(op.responses).join(', ');
        return [{ endpoint, request, status, errors: [`status ${status} is not one this operation answers (${listed})`] }];
      }
    } else if (status >= 400) {
      schemaPath = 'ErrorResponse';
      schema = { $ref: '#/definitions/ErrorResponse' };
    }
    if (!schema || !schemaPath) return [];
    const values = jsonValues(body);
    if (typeof values === 'string') return [{ endpoint, request, status, errors: [`the body is not JSON: ${values}`] }];
    const validate = this.validator(this.ajv, schemaPath, schema);
    const errors: string[] = [];
    values.forEach((data, i) => {
      if (validate(data)) this.noteExtras(endpoint, schemaPath, schema, data);
      else errors.push(...describe(validate).map((e) => (values.length > 1 ? `value ${i + 1}: ${e}` : e)));
    });
    return errors.length > 0 ? [{ endpoint, request, status, errors: [...new Set(errors)] }] : [];
  }

  /** Properties pier sent that the schema does not name, by endpoint (`/0/Foo`), since the start. */
  extraProperties(): Map<string, string[]> {
    return new Map([...this.extras].map(([endpoint, set]) => [endpoint, [...set].sort()]));
  }

  private noteExtras(endpoint: string, schemaPath: string, schema: object, data: unknown): void {
    const strict = this.validator(this.strictAjv, `strict ${schemaPath}`, schema);
    if (strict(data)) return;
    const set = this.extras.get(endpoint) ?? new Set<string>();
    for (const e of strict.errors ?? []) {
      const extra = (e.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      // Indices are left out so a list's extras count once: /0/Foo and /1/Foo are /*/Foo.
      if (extra !== undefined) set.add(`${e.dataPath.replace(/\/\d+(?=\/|$)/g, '/*')}/${extra}`);
    }
    if (set.size > 0) this.extras.set(endpoint, set);
  }

  private validator(ajv: Ajv.Ajv, key: string, schema: object): Validate {
    let validate = this.compiled.get(`${ajv === this.ajv ? '' : 'strict '}${key}`);
    if (!validate) {
      validate = ajv.compile(rebase(schema)) as Validate;
      this.compiled.set(`${ajv === this.ajv ? '' : 'strict '}${key}`, validate);
    }
    return validate;
  }
}

/**
 * The JSON values of a body: one, or a stream of them one a line (/events, stats, progress);
 * a string saying why when it is neither.
 */
function jsonValues(body: string): unknown[] | string {
  try {
    return [JSON.parse(body) as unknown];
  } catch (err) {
    const lines = body.split(/\r?\n/).filter((line) => line.trim() !== '');
    if (lines.length < 2) return (err as Error).message;
    const values: unknown[] = [];
    for (const line of lines) {
      try {
        values.push(JSON.parse(line));
      } catch (lineError) {
        return `${(lineError as Error).message} (in ${JSON.stringify(line.slice(0, 80))})`;
      }
    }
    return values;
  }
}

/** The request path without the query and the version prefix. */
function apiPath(requestPath: string): string {
  const path = requestPath.split('?')[0] ?? '';
  return path.replace(/^\/v\d+\.\d+(?=\/)/, '');
}

function templateRegex(template: string): RegExp {
  const source = template
    .split('/')
    .map((seg) => (/^\{\w+\}$/.test(seg) ? '(.+)' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

function literalLength(template: string): number {
  return template.replace(/\{\w+\}/g, '').length;
}

/** A response schema with its `#/definitions/...` references pointing into the shared document. */
function rebase(schema: object): object {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/definitions\//g, `"${DOCUMENT_ID}#/definitions/`)) as object;
}

/**
 * Every `allOf` of objects made one object (its parts' properties and required keys together),
 * so that closing it below does not make one part's properties extras of another.
 */
function mergeAllOf<T>(value: T, definitions: Record<string, object>): T {
  if (Array.isArray(value)) return value.map((v: unknown) => mergeAllOf(v, definitions)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const object = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) out[k] = mergeAllOf(v, definitions);
  if (!Array.isArray(out.allOf)) return out as T;
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const part of out.allOf as Array<Record<string, unknown>>) {
    const ref = typeof part.$ref === 'string' ? part.$ref.replace('#/definitions/', '') : undefined;
    const resolved = (ref !== undefined ? mergeAllOf(definitions[ref], definitions) : part) as Record<string, unknown> | undefined;
    Object.assign(properties, resolved?.properties ?? {});
    required.push(...((resolved?.required as string[] | undefined) ?? []));
  }
  const { allOf: _allOf, ...rest } = out;
  return { ...rest, type: 'object', properties, required: [...new Set(required)] } as T;
}

/** Every object schema with properties and no rule for others, closed (additionalProperties false). */
function closeObjects(value: unknown): never {
  if (Array.isArray(value)) return value.map((v) => closeObjects(v)) as never;
  if (typeof value !== 'object' || value === null) return value as never;
  const out: Record<string, unknown> = {};
  const object = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(object)) out[k] = closeObjects(v);
  if (object.properties !== undefined && object.additionalProperties === undefined) out.additionalProperties = false;
  return out as never;
}

function describe(validate: Validate): string[] {
  const errors = validate.errors ?? [];
  // ajv reports each branch of an anyOf (a value or null); the branch's own error says more.
  const specific = errors.filter((e) => !/should match some schema in anyOf|should be null/.test(e.message ?? ''));
  return [...new Set((specific.length > 0 ? specific : errors).map((e) => `${e.dataPath || '/'} ${e.message ?? 'is invalid'}${params(e.params)}`))];
}

function params(p: object | undefined): string {
  if (!p) return '';
  const allowed = (p as { allowedValues?: unknown[] }).allowedValues;
  return allowed ? ` (${allowed.map((v) => JSON.stringify(v)).join(', ')})` : '';
}
