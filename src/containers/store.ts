import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, invalid, notFound } from '../errors.js';
import { log } from '../log.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/fs.js';
import type { ContainerRecord } from './types.js';

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

  /** Find a container by ID, name (with or without `/`) or unique ID prefix. */
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

  async save(rec: ContainerRecord): Promise<void> {
    this.byId.set(rec.Id, rec);
    this.byName.set(rec.Name, rec.Id);
    await writeJsonAtomic(join(this.dir, rec.Id, 'container.json'), rec);
  }

  async remove(rec: ContainerRecord): Promise<void> {
    this.byId.delete(rec.Id);
    this.releaseName(rec.Name, rec.Id);
    await rm(join(this.dir, rec.Id), { recursive: true, force: true });
  }
}
