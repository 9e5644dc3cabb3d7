import ignoreFactory from '@balena/dockerignore';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoCode, invalid } from '../errors.js';
import { decompressed, peek } from '../images/streams.js';
import { resolveInRoot } from '../runtime/user.js';
import { extractLayer } from '../snapshots/extract.js';

/**
 * The build context: the tar a client sends (plain or gzip) unpacked into a private temp
 * folder by the snapshots extractor, so the same containment holds (no entry lands outside
 * the folder, whatever names and links the tar holds). Sources of COPY and ADD are looked up
 * in it with chroot semantics: `..`, absolute paths and symlinks never leave the context.
 */
export class BuildContext {
  private ignore: ((path: string) => boolean) | null = null;

  private constructor(readonly dir: string) {}

  /** Unpack `tar` into a new folder under `parent`. */
  static async extract(tar: Readable, parent: string): Promise<BuildContext> {
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(join(parent, 'ctx-'));
    // The context's root is copied like any folder (`COPY . /app/`): give it the usual mode.
    await chmod(dir, 0o755);
    const ctx = new BuildContext(dir);
    try {
      const { stream } = await decompressed(tar, 'build context');
      const { head, stream: body } = await peek(stream, 512);
      if (head.length > 0 && !looksLikeTar(head) && !head.every((b) => b === 0)) {
        // Docker also takes a bare Dockerfile as the body (`curl --data-binary @Dockerfile`).
        await pipeline(body, createWriteStream(join(dir, 'Dockerfile'), { mode: 0o644 }));
      } else await extractLayer(Readable.from(padded(body)), dir);
      await ctx.loadIgnore();
      return ctx;
    } catch (err) {
      await ctx.close();
      throw err;
    }
  }

  /** A context that is an existing folder (tests, `pier build` of a local folder). */
  static async ofDir(dir: string): Promise<BuildContext> {
    const ctx = new BuildContext(dir);
    await ctx.loadIgnore();
    return ctx;
  }

  private async loadIgnore(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.dir, '.dockerignore'), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    const patterns = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const ig = ignoreFactory.default().add(patterns);
    this.ignore = (p) => ig.ignores(p);
  }

  /** Whether .dockerignore excludes a context path (relative, `/`-separated). */
  ignored(rel: string): boolean {
    return this.ignore !== null && rel !== '' && this.ignore(rel);
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The Dockerfile's text; `name` is relative to the context (default `Dockerfile`). */
  async readDockerfile(name: string): Promise<string> {
    const clean = posix.normalize(`/${name || 'Dockerfile'}`).slice(1);
    const path = await resolveInRoot(this.dir, clean);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' && (!name || name === 'Dockerfile')) {
        // Docker also accepts a lower-case dockerfile.
        try {
          return await readFile(await resolveInRoot(this.dir, 'dockerfile'), 'utf8');
        } catch {
          /* fall through to the error below */
        }
      }
      if (errnoCode(err) === 'ENOENT') throw invalid(`Cannot locate specified Dockerfile: ${name || 'Dockerfile'}`);
      throw err;
    }
  }
}

/**
 * The stream's bytes, then zeros up to the next 512-byte block and two empty blocks. The docker
 * CLI, when it adds a Dockerfile from outside the context, sends a tar that stops right after
 * the last file's data (no padding, no end-of-archive blocks), which Docker's reader accepts;
 * extra zeros after a complete archive change nothing.
 */
async function* padded(source: Readable): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    yield chunk;
  }
  yield Buffer.alloc((512 - (size % 512)) % 512 + 1024);
}

/** Whether a 512-byte block is a tar header: its checksum field matches its bytes. */
function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  const field = head.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  return sum === parseInt(field, 8);
}

/** One file, dir or symlink a COPY or ADD takes from a source tree. */
export interface SourceEntry {
  /** Host path (inside the context or an image's rootfs). */
  hostPath: string;
  /** Path relative to the destination it is copied to ('' for the source itself). */
  rel: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtimeMs: number;
  linkTarget?: string;
}

/** A source of a COPY: the entries under it, and whether it was a directory. */
export interface Source {
  /** As written (after expansion), for messages. */
  name: string;
  isDir: boolean;
  /** The base name the source has in the tree (for `COPY file /dir/`). */
  baseName: string;
  entries: SourceEntry[];
}

const GLOB = /[*?[]/;

/**
 * The sources named by `patterns` in the tree `root` (a context, or a stage's rootfs for
 * `--from`): `..` and absolute paths are cleaned against `root`, the named path itself is
 * followed if it is a symlink (within `root`), links inside a copied folder stay links.
 * Globs match per path component. Paths the filter rejects (.dockerignore) are left out.
 * Throws `invalid` (Docker's message) when a source does not exist.
 */
export async function collectSources(root: string, patterns: readonly string[], filter?: (rel: string) => boolean): Promise<Source[]> {
  const out: Source[] = [];
  for (const pattern of patterns) {
    const clean = posix.normalize(`/${pattern}`).slice(1).replace(/\/$/, '');
    const matches = GLOB.test(clean) ? await globIn(root, clean) : [clean];
    if (matches.length === 0) throw invalid(`lstat ${pattern}: no source files were specified`);
    for (const rel of matches) {
      if (filter && rel !== '' && !filter(rel)) {
        if (!GLOB.test(clean)) throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
        continue;
      }
      const host = await resolveInRoot(root, rel);
      let st;
      try {
        st = await lstat(host);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') throw invalid(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${rel || '.'}: file does not exist`);
        throw err;
      }
      const baseName = rel === '' ? '' : posix.basename(rel);
      if (st.isDirectory()) {
        const entries: SourceEntry[] = [{ hostPath: host, rel: '', type: 'dir', mode: st.mode & 0o7777, size: 0, mtimeMs: st.mtimeMs }];
        await walk(host, '', rel, entries, filter);
        out.push({ name: pattern, isDir: true, baseName, entries });
      } else {
        const type = st.isSymbolicLink() ? 'symlink' : 'file';
        const e: SourceEntry = { hostPath: host, rel: '', type, mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs };
        if (type === 'symlink') e.linkTarget = await readlink(host);
        out.push({ name: pattern, isDir: false, baseName, entries: [e] });
      }
    }
  }
  return out;
}

async function walk(dir: string, rel: string, ctxRel: string, out: SourceEntry[], filter?: (rel: string) => boolean): Promise<void> {
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const host = join(dir, name);
    const r = rel === '' ? name : `${rel}/${name}`;
    const cr = ctxRel === '' ? r : `${ctxRel}/${r}`;
    const st = await lstat(host);
    if (filter && !filter(cr)) {
      // An excluded folder may still hold re-included (`!`) paths: look inside it.
      if (st.isDirectory()) {
        const inner: SourceEntry[] = [];
        await walk(host, r, ctxRel, inner, filter);
        if (inner.length > 0) out.push({ hostPath: host, rel: r, type: 'dir', mode: st.mode & 0o7777, size: 0, mtimeMs: st.mtimeMs }, ...inner);
      }
      continue;
    }
    if (st.isDirectory()) {
      out.push({ hostPath: host, rel: r, type: 'dir', mode: st.mode & 0o7777, size: 0, mtimeMs: st.mtimeMs });
      await walk(host, r, ctxRel, out, filter);
    } else if (st.isSymbolicLink()) {
      out.push({ hostPath: host, rel: r, type: 'symlink', mode: 0o777, size: 0, mtimeMs: st.mtimeMs, linkTarget: await readlink(host) });
    } else if (st.isFile()) {
      out.push({ hostPath: host, rel: r, type: 'file', mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs });
    }
  }
}

function globRegExp(component: string): RegExp {
  let src = '';
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else if (c === '[') {
      const end = component.indexOf(']', i + 1);
      if (end < 0) src += '\\[';
      else {
        let cls = component.slice(i + 1, end);
        if (cls.startsWith('!') || cls.startsWith('^')) cls = `^${cls.slice(1)}`;
        src += `[${cls}]`;
        i = end;
      }
    } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${src}$`);
}

/** Paths under `root` matching a glob, component by component, sorted. */
async function globIn(root: string, pattern: string): Promise<string[]> {
  let current = [''];
  for (const comp of pattern.split('/')) {
    const next: string[] = [];
    for (const base of current) {
      if (!GLOB.test(comp)) {
        next.push(base === '' ? comp : `${base}/${comp}`);
        continue;
      }
      const re = globRegExp(comp);
      let names: string[];
      try {
        names = await readdir(await resolveInRoot(root, base));
      } catch {
        continue;
      }
      for (const n of names.sort()) if (re.test(n)) next.push(base === '' ? n : `${base}/${n}`);
    }
    current = next;
  }
  const out: string[] = [];
  for (const p of current) {
    try {
      await lstat(await resolveInRoot(root, p));
      out.push(p);
    } catch {
      /* a literal component after a glob that does not exist */
    }
  }
  return out;
}

/**
 * A checksum of what a COPY takes: every entry's relative path, type, mode, link target and
 * file content (not owners or times, as Docker's), so an unchanged tree gives the same key.
 */
export async function checksumSources(sources: readonly Source[]): Promise<string> {
  const h = createHash('sha256');
  for (const s of sources) {
    h.update(`source ${s.isDir ? 'dir' : 'file'} ${s.baseName}\n`);
    for (const e of s.entries) {
      h.update(`${e.type} ${e.rel} ${e.mode.toString(8)} ${e.linkTarget ?? ''}\n`);
      if (e.type === 'file') {
        const fh = createReadStream(e.hostPath);
        for await (const chunk of fh as AsyncIterable<Buffer>) h.update(chunk);
        h.update('\n');
      }
    }
  }
  return h.digest('hex');
}
