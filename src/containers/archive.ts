import type { Readable } from 'node:stream';
import { notImplemented } from '../errors.js';
import type { Snapshotter } from '../snapshots/snapshotter.js';
import type { ContainerArchive, PathStat } from './containers.js';
import type { ContainerCore } from './core.js';

/** `docker cp`, `docker export`, `docker diff`: a container's files. */
export class Archives implements ContainerArchive {
  constructor(
    private readonly core: ContainerCore,
    private readonly snapshots: Snapshotter,
  ) {}

  statPath(_ref: string, _path: string): Promise<PathStat> {
    return Promise.reject(notImplemented('GET /containers/{id}/archive is not served yet'));
  }

  getArchive(_ref: string, _path: string): Promise<{ stat: PathStat; tar: Readable }> {
    return Promise.reject(notImplemented('GET /containers/{id}/archive is not served yet'));
  }

  putArchive(_ref: string, _path: string, _tar: Readable, _opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    return Promise.reject(notImplemented('PUT /containers/{id}/archive is not served yet'));
  }

  export(_ref: string): Promise<Readable> {
    return Promise.reject(notImplemented('GET /containers/{id}/export is not served yet'));
  }

  changes(ref: string): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>> {
    return this.snapshots.changes(this.core.store.get(ref).SnapshotKey);
  }
}
