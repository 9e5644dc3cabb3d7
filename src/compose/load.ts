import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ComposeError, type Project } from './compose.js';
import { readDotenv } from './dotenv.js';
import { finish, type Layer } from './finish.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { mergeDrafts } from './merge.js';
import { Checker, normalizeService, type ServiceDraft } from './normalize.js';
import { SourceFile } from './source.js';

/**
 * Load a project as `docker compose` does: find the files (or take `-f` several, merged in
 * order), read `.env`, interpolate, resolve `include` and `extends`, merge, apply profiles,
 * check references and cycles. Every failure is a ComposeError worded for the user.
 */

export interface LoadOptions {
  cwd: string;
  /** `-f`, in order; default: the first of compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml (and its override file). */
  files?: string[];
  /** `-p`. */
  projectName?: string;
  /** `--project-directory`; default: the first file's directory. */
  projectDirectory?: string;
  /** `--profile`; default COMPOSE_PROFILES. */
  profiles?: string[];
  /** `--env-file`; default the project directory's `.env`, when present. */
  envFiles?: string[];
  /** Services named on the command line: enabled whatever their profiles. */
  services?: string[];
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];
const TOP_LEVEL = ['version', 'name', 'services', 'networks', 'volumes', 'configs', 'secrets', 'include'];

/** Compose's normalisation of a directory name: lower case, only [a-z0-9_-], no leading `_` or `-`. */
export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '');
}

function checkProjectName(name: string, where: string): string {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new ComposeError(`${where}${JSON.stringify(name)} is not a valid project name: it must contain only characters from [a-z0-9_-] and start with [a-z0-9]`);
  return name;
}

/** The files to read: `-f`, else COMPOSE_FILE, else the default names in `cwd`. */
export function configFiles(opts: Pick<LoadOptions, 'cwd' | 'files' | 'env'>): string[] {
  if (opts.files && opts.files.length > 0) return opts.files.map((f) => resolve(opts.cwd, f));
  const fromEnv = opts.env.COMPOSE_FILE;
  if (fromEnv) return fromEnv.split(opts.env.COMPOSE_PATH_SEPARATOR ?? ':').filter(Boolean).map((f) => resolve(opts.cwd, f));
  const main = DEFAULT_FILES.find((f) => existsSync(resolve(opts.cwd, f)));
  if (!main) throw new ComposeError(`no configuration file provided: not found (looked for ${DEFAULT_FILES.join(', ')} in ${opts.cwd})`);
  const override = OVERRIDE_FILES.find((f) => existsSync(resolve(opts.cwd, f)));
  return [resolve(opts.cwd, main), ...(override ? [resolve(opts.cwd, override)] : [])];
}

export async function loadProject(opts: LoadOptions): Promise<Project> {
  const files = configFiles(opts);
  const projectDir = opts.projectDirectory ? resolve(opts.cwd, opts.projectDirectory) : dirname(files[0]!);
  const shell: Lookup = (k) => opts.env[k];
  let dotenv: Record<string, string> = {};
  const envFiles = opts.envFiles?.map((f) => resolve(opts.cwd, f)) ?? (existsSync(resolve(projectDir, '.env')) ? [resolve(projectDir, '.env')] : []);
  for (const f of envFiles) dotenv = { ...dotenv, ...(await readDotenv(f, (k) => opts.env[k] ?? dotenv[k])) };
  // The shell wins over .env, as in Compose.
  const lookup: Lookup = (k) => shell(k) ?? dotenv[k];
  const layer = await loadLayer(files, projectDir, lookup, opts.cwd, []);
  const fromFlagOrEnv = opts.projectName ?? lookup('COMPOSE_PROJECT_NAME');
  const name =
    fromFlagOrEnv !== undefined && fromFlagOrEnv !== ''
      ? checkProjectName(fromFlagOrEnv, opts.projectName !== undefined ? '' : 'COMPOSE_PROJECT_NAME: ')
      : layer.name !== undefined
        ? checkProjectName(layer.name, 'name: ')
        : normalizeProjectName(basename(projectDir));
  if (name === '') throw new ComposeError(`project name must not be empty: give one with -p or name:`);
  const profiles = opts.profiles && opts.profiles.length > 0 ? opts.profiles : (lookup('COMPOSE_PROFILES') ?? '').split(',').filter(Boolean);
  return finish(layer, { name, workingDir: projectDir, configFiles: files, profiles, requested: opts.services ?? [], lookup });
}

/** Read `paths` as one merged layer (a project, or an `include`d one): paths relative to `dir`. */
async function loadLayer(paths: string[], dir: string, lookup: Lookup, cwd: string, chain: string[]): Promise<Layer> {
  const layer: Layer = { services: new Map(), networks: new Map(), volumes: new Map() };
  for (const path of paths) {
    if (chain.includes(path)) throw new ComposeError(`include cycle: ${[...chain, path].join(' -> ')}`);
    const src = await SourceFile.read(path, cwd);
    const doc = interpolateTree(src.doc, lookup, (p, err) => src.error(p, err.message)) as Record<string, unknown>;
    const c = new Checker(src, dir);
    c.keys(doc, [], TOP_LEVEL);
    if (doc.name !== undefined) layer.name = c.str(doc.name, ['name']);
    if (doc.include !== undefined) {
      for (const [i, inc] of c.list(doc.include, ['include']).entries()) {
        const p = ['include', String(i)];
        const spec = typeof inc === 'string' ? { path: inc } : c.map(inc, p);
        if (typeof inc !== 'string') c.keys(spec, p, ['path', 'project_directory', 'env_file']);
        if (spec.path === undefined) c.fail(p, 'path is required');
        const incPaths = c.strList(spec.path, [...p, 'path']).map((f) => resolve(src.dir, f));
        const incDir = spec.project_directory !== undefined ? resolve(src.dir, c.str(spec.project_directory, [...p, 'project_directory'])) : dirname(incPaths[0]!);
        let incLookup = lookup;
        const incEnv = spec.env_file !== undefined ? c.strList(spec.env_file, [...p, 'env_file']).map((f) => resolve(src.dir, f)) : existsSync(resolve(incDir, '.env')) ? [resolve(incDir, '.env')] : [];
        for (const f of incEnv) {
          const vars = await readDotenv(f, incLookup);
          const outer = incLookup;
          incLookup = (k) => lookup(k) ?? vars[k] ?? outer(k);
        }
        const sub = await loadLayer(incPaths, incDir, incLookup, cwd, [...chain, path]);
        for (const [kind, mine, theirs] of [['services', layer.services, sub.services], ['networks', layer.networks, sub.networks], ['volumes', layer.volumes, sub.volumes]] as const) {
          for (const [k, v] of theirs as Map<string, unknown>) {
            if ((mine as Map<string, unknown>).has(k)) c.fail([...p], `${kind}.${k} is defined both here and in an included file`);
            (mine as Map<string, unknown>).set(k, v);
          }
        }
      }
    }
    const own = doc.services === undefined || doc.services === null ? {} : c.map(doc.services, ['services']);
    const drafts = new Map<string, ServiceDraft>();
    for (const [name, raw] of Object.entries(own)) {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) c.fail(['services', name], `invalid service name ${JSON.stringify(name)}`);
      drafts.set(name, normalizeService(c, raw, ['services', name]));
    }
    const resolved = new Map<string, ServiceDraft>();
    for (const name of drafts.keys()) resolved.set(name, await extend(name, drafts, resolved, c, lookup, cwd, []));
    for (const [name, draft] of resolved) {
      const prev = layer.services.get(name);
      layer.services.set(name, { draft: prev ? mergeDrafts(prev.draft, draft) : draft, src });
    }
    for (const kind of ['networks', 'volumes'] as const) {
      if (doc[kind] === undefined || doc[kind] === null) continue;
      for (const [k, v] of Object.entries(c.map(doc[kind], [kind]))) {
        const prev = layer[kind].get(k);
        const raw = v === null ? {} : c.map(v, [kind, k]);
        layer[kind].set(k, { raw: prev ? { ...prev.raw, ...raw } : raw, src });
      }
    }
  }
  return layer;
}

/** Resolve `extends` of service `name` of one file (its drafts), recursively; a loop is an error. */
async function extend(name: string, drafts: Map<string, ServiceDraft>, done: Map<string, ServiceDraft>, c: Checker, lookup: Lookup, cwd: string, chain: string[]): Promise<ServiceDraft> {
  const cached = done.get(name);
  if (cached) return cached;
  const draft = drafts.get(name)!;
  if (!draft.extends) return draft;
  const { service, file } = draft.extends;
  const key = `${file ?? c.src.path}#${service}`;
  if (chain.includes(key)) c.fail(['services', name, 'extends'], `extends loop: ${[...chain, key].map((k) => k.split('#')[1]).join(' -> ')}`);
  let base: ServiceDraft;
  if (file === undefined) {
    if (!drafts.has(service)) c.fail(['services', name, 'extends'], `cannot extend service ${JSON.stringify(service)}: no such service in this file`);
    base = await extend(service, drafts, done, c, lookup, cwd, [...chain, key]);
  } else {
    const other = await SourceFile.read(file, cwd);
    const doc = interpolateTree(other.doc, lookup, (p, err) => other.error(p, err.message)) as Record<string, unknown>;
    const oc = new Checker(other, other.dir);
    const services = doc.services === undefined ? {} : oc.map(doc.services, ['services']);
    if (!Object.hasOwn(services, service)) c.fail(['services', name, 'extends'], `cannot extend service ${JSON.stringify(service)}: no such service in ${file}`);
    const otherDrafts = new Map(Object.entries(services).map(([n, raw]) => [n, normalizeService(oc, raw, ['services', n])]));
    base = await extend(service, otherDrafts, new Map(), oc, lookup, cwd, [...chain, key]);
  }
  const merged = mergeDrafts(base, draft);
  delete merged.extends;
  return merged;
}
