import { closeSync, constants as fsc, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { packBlocks } from '../archive/pack.js';
import { closeLocation, lstatAt, openAt, type Location, type RootDir } from '../archive/root-dir.js';
import { unpack } from '../archive/unpack.js';
import { errnoCode, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { resolveExecUser } from '../runtime/user.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import { parseArchivePath, pathStat } from './archive-path.js';
import { containerView, rootfsView, type ContainerView, type MountsOf } from './archive-view.js';
import { MOUNT_POINTS, type ContainerArchive, type PathStat } from './containers.js';
import type { ContainerCore } from './core.js';
import type { ContainerRecord } from './types.js';

/**
 * `docker cp`, `docker export`, `docker diff`: a container's files, as moby's
 * `daemon/archive*.go` serves them.
 *
 * Every operation holds the container's lock from the moment it opens the container's files
 * until it is done with them, a tar stream until it has been read or given up (as Docker
 * holds its container lock): the container does not start or stop its mounts meanwhile. Paths
 * are resolved inside the container's root by archive/root-dir.ts, so no request and no tar
 * entry reads or writes outside it, whatever the container's symlinks, even while it changes
 * them. Events: `archive-path` for a GET, `extract-to-dir` for a PUT, `export` (as Docker; a
 * HEAD emits none).
 */
export class Archives implements ContainerArchive {
  constructor(
    private readonly core: ContainerCore,
    private readonly snapshots: Snapshotter,
    /** The container's mounts as its start would make them (bound into a stopped container's view). */
    private readonly mountsOf: MountsOf = () => Promise.resolve([]),
  ) {}

  private view = (rec: ContainerRecord): Promise<ContainerView> => containerView(rec, this.snapshots, this.mountsOf);

  async statPath(ref: string, path: string): Promise<PathStat> {
    const rec = this.core.store.get(ref);
    return this.core.locked(rec, async () => {
      const view = await this.view(rec);
      try {
        const found = lookup(view.root, path, ref);
        closeLocation(found.loc);
        return found.stat;
      } finally {
        await view.close();
      }
    });
  }

  async getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    const rec = this.core.store.get(ref);
    const { result, stream } = await this.streamLocked(rec, this.view, (root) => {
      const found = lookup(root, path, ref);
      return { result: found.stat, loc: found.loc, blocks: packBlocks(found.loc, { top: found.top }) };
    });
    this.core.emit('archive-path', rec);
    return { stat: result, tar: stream };
  }

  async putArchive(ref: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    const rec = this.core.store.get(ref);
    await this.core.locked(rec, async () => {
      const view = await this.view(rec);
      try {
        const p = parseArchivePath(path);
        let loc: Location;
        try {
          // The last component is followed too: a symlink to a folder is extracted into.
          loc = view.root.locate(p.abs, { follow: true });
        } catch (err) {
          throw fileNotFound(err, path, ref);
        }
        try {
          let isDir: boolean;
          try {
            isDir = lstatAt(loc).isDirectory();
          } catch (err) {
            throw fileNotFound(err, path, ref);
          }
          if (!isDir) throw invalid('extraction point is not a directory');
          checkWritable(rec, `/${loc.resolved.join('/')}`);
          const chown = opts.copyUIDGID ? containerUser(rec, view.root) : undefined;
          await unpack(tar, view.root, loc.resolved, { noOverwriteDirNonDir: opts.noOverwriteDirNonDir, chown });
        } finally {
          closeLocation(loc);
        }
      } finally {
        await view.close();
      }
    });
    this.core.emit('extract-to-dir', rec);
  }

  async export(ref: string): Promise<Readable> {
    const rec = this.core.store.get(ref);
    const { stream } = await this.streamLocked(rec, (r) => rootfsView(r, this.snapshots), (root) => {
      const loc = root.locate('/');
      return { result: undefined, loc, blocks: packBlocks(loc, { top: null }) };
    });
    stream.once('end', () => this.core.emit('export', rec));
    return stream;
  }

  changes(ref: string): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>> {
    return this.snapshots.changes(this.core.store.get(ref).SnapshotKey, { placeholders: MOUNT_POINTS });
  }

  /**
   * Open the container's files under its lock and hand over a stream made from them; the lock,
   * the location and the files are released once the stream closes (read to its end, failed
   * or destroyed). A failure before the stream exists rejects and releases at once.
   */
  private streamLocked<T>(
    rec: ContainerRecord,
    open: (rec: ContainerRecord) => Promise<ContainerView>,
    make: (root: RootDir) => { result: T; loc: Location; blocks: AsyncGenerator<Buffer> },
  ): Promise<{ result: T; stream: Readable }> {
    return new Promise((resolve, reject) => {
      let handedOver = false;
      this.core
        .locked(rec, async () => {
          const view = await open(rec);
          let made: ReturnType<typeof make>;
          try {
            made = make(view.root);
          } catch (err) {
            await view.close();
            throw err;
          }
          const stream = Readable.from(made.blocks, { objectMode: false });
          const closed = new Promise<void>((done) => stream.once('close', done));
          handedOver = true;
          resolve({ result: made.result, stream });
          await closed;
          closeLocation(made.loc);
          await view.close();
        })
        .catch((err: unknown) => {
          if (!handedOver) reject(err instanceof Error ? err : new Error(String(err)));
          else log.error({ err, id: rec.Id }, 'releasing a container\'s files after a copy');
        });
    });
  }
}

/** Stat `path` in `root` as Docker's HEAD and GET do, and where its tar starts. */
function lookup(root: RootDir, path: string, ref: string): { stat: PathStat; loc: Location; top: string } {
  const p = parseArchivePath(path);
  let loc: Location;
  try {
    loc = root.locate(p.abs, { follow: p.folder });
  } catch (err) {
    throw fileNotFound(err, path, ref);
  }
  try {
    const st = lstatAt(loc);
    if (p.folder && !st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    const linkTarget = st.isSymbolicLink() ? root.realPath(p.abs) : '';
    return { stat: pathStat(p, st, linkTarget), loc, top: p.top };
  } catch (err) {
    closeLocation(loc);
    throw fileNotFound(err, path, ref);
  }
}

/** Docker's 404 for a path that is not there (moby's containerFileNotFound); other errors as they are. */
function fileNotFound(err: unknown, path: string, ref: string): unknown {
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(`Could not find the file ${path} in container ${ref}`, err);
  if (code === 'ELOOP') return invalid(`${path}: too many levels of symbolic links`, err);
  return err;
}

/**
 * A PUT may write where the container may: into a volume or bind mount unless it is
 * read-only, elsewhere unless the rootfs is (Docker's `checkIfPathIsInAVolume`).
 */
function checkWritable(rec: ContainerRecord, path: string): void {
  const hc = rec.HostConfig;
  const mounts = (rec.MountPoints ?? []).map((m) => ({ target: m.Destination, readOnly: !m.RW }));
  const under = (target: string): boolean => {
    const t = target.replace(/\/+$/, '') || '/';
    return path === t || path.startsWith(t === '/' ? '/' : `${t}/`);
  };
  const mount = mounts.filter((m) => under(m.target)).sort((a, b) => b.target.length - a.target.length)[0];
  if (mount?.readOnly) throw invalid('mounted volume is marked read-only');
  if (!mount && hc.ReadonlyRootfs) throw invalid('container rootfs is marked read-only');
}

/**
 * The owner `docker cp -a` gives what it copies in: the container's User, looked up in the
 * container's own /etc/passwd and /etc/group; undefined without a User (the tar's owners stay).
 */
function containerUser(rec: ContainerRecord, root: RootDir): { uid: number; gid: number } | undefined {
  const spec = rec.Config.User;
  if (!spec) return undefined;
  const user = resolveExecUser(spec, [], readInRoot(root, '/etc/passwd'), readInRoot(root, '/etc/group'));
  return { uid: user.uid, gid: user.gid };
}

/** A small file of the container, read without ever leaving its root; undefined when it is not there. */
function readInRoot(root: RootDir, path: string): string | undefined {
  let loc: Location;
  try {
    loc = root.locate(path, { follow: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    if (loc.name === null) return undefined;
    let fd: number;
    try {
      fd = openAt(loc.dirFd, loc.name, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ELOOP') return undefined;
      throw err;
    }
    try {
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } finally {
    closeLocation(loc);
  }
}
