import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ContainerStore } from './store.js';
import type { ContainerRecord } from './types.js';

const ID = 'a'.repeat(64);

function record(id: string, name: string): ContainerRecord {
  return { Id: id, Name: name, State: { Status: 'created' } } as unknown as ContainerRecord;
}

test('save writes the record either way; remove forgets it at once and its folder goes', async (t) => {
  const dir = await mkdtemp('/tmp/pcs-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new ContainerStore(dir);
  await store.load();
  const rec = record(ID, 'web');
  await mkdir(join(dir, ID));
  await store.save(rec);
  rec.State.Status = 'running';
  await store.save(rec, { durable: false });
  assert.equal((JSON.parse(await readFile(join(dir, ID, 'container.json'), 'utf8')) as ContainerRecord).State.Status, 'running');
  await writeFile(join(dir, ID, 'ctr.log'), 'x'.repeat(100_000));

  await store.remove(rec);
  assert.equal(store.find(ID), undefined);
  assert.equal(store.hasName('web'), false);
  assert.equal(existsSync(join(dir, ID)), false, 'the container folder is gone when remove resolves');
  for (let i = 0; i < 100 && (await readdir(dir)).length > 0; i++) await sleep(10);
  assert.deepEqual(await readdir(dir), [], 'and its files follow');
  await store.remove(rec); // twice: nothing left to do
});

test('load finishes a removal a crash interrupted and never loads it as a container', async (t) => {
  const dir = await mkdtemp('/tmp/pcs-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, `.rm-${ID}`));
  await writeFile(join(dir, `.rm-${ID}`, 'container.json'), JSON.stringify(record(ID, 'gone')));
  const kept = 'b'.repeat(64);
  await mkdir(join(dir, kept));
  await writeFile(join(dir, kept, 'container.json'), JSON.stringify(record(kept, 'kept')));
  const store = new ContainerStore(dir);
  await store.load();
  assert.deepEqual(store.all().map((r) => r.Name), ['kept']);
  assert.equal(store.hasName('gone'), false);
  assert.deepEqual(await readdir(dir), [kept]);
});
