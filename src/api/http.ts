import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { invalid } from '../errors.js';
import { foldKeys } from '../util/fold-keys.js';
import type { RequestContext } from './router.js';

/** Helpers every route uses: bodies in, JSON out, Docker's query conventions. */

const MAX_JSON_BODY = 16 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw invalid(`request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Read a JSON body and check it against a schema. An empty body reads as `{}` (Docker
 * accepts bodiless POSTs where every field is optional); field names match the schema's
 * whatever their case, as dockerd's decoder matches them. A malformed body is a 400.
 */
export async function readJson<S extends z.ZodType>(ctx: RequestContext, schema: S): Promise<z.infer<S>> {
  const raw = (ctx.upgradeBody ?? (await readBody(ctx.req))).toString('utf8').trim();
  let value: unknown = {};
  if (raw !== '') {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw invalid(`invalid JSON: ${(err as Error).message}`);
    }
  }
  if (value === null) value = {};
  const parsed = schema.safeParse(foldKeys(value, schema));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw invalid(`invalid request body${where}: ${issue?.message ?? 'does not match the schema'}`);
  }
  return parsed.data;
}

export function res(ctx: RequestContext): ServerResponse {
  if (!ctx.res) throw new Error('no response object on an upgraded request');
  return ctx.res;
}

export function sendJson(ctx: RequestContext, status: number, body: unknown): void {
  const r = res(ctx);
  const text = JSON.stringify(body);
  r.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  r.end(ctx.req.method === 'HEAD' ? undefined : text);
}

export function sendNoContent(ctx: RequestContext, status = 204): void {
  const r = res(ctx);
  r.writeHead(status);
  r.end();
}

export function sendText(ctx: RequestContext, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  const r = res(ctx);
  r.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  r.end(ctx.req.method === 'HEAD' ? undefined : text);
}

/** Docker's boolean query values: 1/true/True/yes are true; 0/false/empty are false. */
export function queryBool(ctx: RequestContext, name: string, fallback = false): boolean {
  const v = ctx.query.get(name);
  if (v === null) return fallback;
  const s = v.trim().toLowerCase();
  if (s === '' || s === '0' || s === 'false' || s === 'no') return false;
  return true;
}

export function queryInt(ctx: RequestContext, name: string): number | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalid(`invalid value for ${name}: ${v}`);
  return n;
}

export function queryString(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.query.get(name);
  return v === null || v === '' ? undefined : v;
}

/** Docker filters: `{"status":["running"]}`, or the legacy `{"status":{"running":true}}`. */
export type { Filters } from '../util/filters.js';
import type { Filters } from '../util/filters.js';

export function queryFilters(ctx: RequestContext, name = 'filters'): Filters {
  return parseFilters(ctx.query.get(name));
}

export function parseFilters(raw: string | null | undefined): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filters: ${raw}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`invalid filters: ${raw}`);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (Array.isArray(v)) out.set(key, v.map(String));
    else if (typeof v === 'object' && v !== null) out.set(key, Object.entries(v).filter(([, on]) => on === true).map(([k]) => k));
    else throw invalid(`invalid filter '${key}'`);
  }
  return out;
}

/** Reject filter keys a list endpoint does not know, as Docker does. */
export function checkFilterKeys(filters: Filters, allowed: readonly string[]): void {
  for (const key of filters.keys()) {
    if (!allowed.includes(key)) throw invalid(`invalid filter '${key}'`);
  }
}
