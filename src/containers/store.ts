import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errnoCode, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { readJsonIfExists, replaceFileSync, writeJsonAtomic } from '../util/fs.js';
import type { ContainerRecord } from './types.js';

/** A removed container's folder while its files go (never a container ID: those are hex). */
const TRASH_PREFIX = '.rm-';

/**
 * The container records: one JSON file per container under `<root>/containers/<id>/`,
 * all of them held in memory, with the name index. Lookup follows Docker: full ID, name,
 * then a unique ID prefix.
 */
export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(readonly dir: string) {}

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const id of await readdir(this.dir)) {
      if (id.startsWith(TRASH_PREFIX)) {
        await rm(join(this.dir, id), { recursive: true, force: true });
        continue;
      }
      try {
        const rec = (await readJsonIfExists(join(this.dir, id, 'container.json'))) as ContainerRecord | undefined;
        if (!rec) {
          // A create that died before writing its record: nothing refers to the folder.
          await rm(join(this.dir, id), { recursive: true, force: true });
          continue;
        }
        this.byId.set(rec.Id, rec);
        this.byName.set(rec.Name, rec.Id);
      } catch (err) {
        log.error({ err, id }, 'unreadable container record: left in place, not loaded');
      }
    }
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** Find a container by ID, name (with or without `/`), unique ID prefix or link name (`/<parent>/<alias>`). */
  get(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (!found) throw notFound(`No such container: ${ref}`);
    return found;
  }

  find(ref: string): ContainerRecord | undefined {
    if (ref === '') return undefined;
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.byName.get(ref.replace(/^\//, ''));
    if (byName) return this.byId.get(byName);
    const slash = ref.lastIndexOf('/');
    if (slash > 0) {
      // `/<parent>/<alias>`: the child of a legacy link (src/containers/links.ts).
      const parent = this.find(ref.slice(0, slash));
      const link = parent?.LegacyLinks?.find((l) => l.Alias === ref.slice(slash + 1));
      return link ? this.byId.get(link.Id) : undefined;
    }
    if (!/^[0-9a-f]+$/.test(ref)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
    if (matches.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`);
    return matches.length === 1 ? this.byId.get(matches[0]!) : undefined;
  }

  /** Reserve a name for a new container; 409 when taken. */
  reserveName(name: string, id: string): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && holder !== id) {
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.byName.set(name, id);
  }

  releaseName(name: string, id: string): void {
    if (this.byName.get(name) === id) this.byName.delete(name);
  }

  hasName(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * Write a container's record, atomically. `durable: false` skips the fsyncs, and the thread
   * pool (the small write is synchronous): for the run state a container moves through
   * (running, exited), which only a power loss or kernel crash could roll back, and those end
   * the container's processes too: the record left one step behind is then reconciled like
   * any container found stopped at start-up.
   */
  async save(rec: ContainerRecord, opts: { durable?: boolean } = {}): Promise<void> {
    this.byId.set(rec.Id, rec);
    this.byName.set(rec.Name, rec.Id);
    const path = join(this.dir, rec.Id, 'container.json');
    if (opts.durable === false) replaceFileSync(path, JSON.stringify(rec));
    else await writeJsonAtomic(path, rec);
  }

  /**
   * Forget a container and remove its folder. The folder is renamed away at once (its record
   * is gone with that); its files, the log among them, go in the background, and load()
   * finishes what a crash interrupts.
   */
  async remove(rec: ContainerRecord): Promise<void> {
    this.byId.delete(rec.Id);
    this.releaseName(rec.Name, rec.Id);
    const trash = join(this.dir, `${TRASH_PREFIX}${rec.Id}`);
    try {
      await rename(join(this.dir, rec.Id), trash);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    rm(trash, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, path: trash }, 'removing a container folder'));
  }
}
