import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from '../errors.js';
import type { TagHistoryEntry } from './images.js';
import { streamOf, harness, tarOf, type Harness } from './test-helpers.js';
import { previousVersion, tagVersions, versionLine } from './versions.js';

const move = (image: string | null, previous: string | null, cause: TagHistoryEntry['cause']): TagHistoryEntry => ({ image, previous, cause, time: '2026-01-01T00:00:00.000Z' });

void test('versions are the distinct images of a tag, numbered in first-seen order, newest first', () => {
  const h = [move('A', null, 'import'), move('B', 'A', 'tag'), move('C', 'B', 'pull'), move('B', 'C', 'rollback')];
  const v = tagVersions(h, 'B', () => true, 5);
  assert.deepEqual(
    v.map((x) => [x.version, x.image, x.cause, x.current, x.kept]),
    [
      [3, 'C', 'pull', false, true],
      [2, 'B', 'rollback', true, false],
      [1, 'A', 'import', false, true],
    ],
  );
  // Only the last `keep` previous versions are kept, and deleted ones are neither available nor kept.
  const one = tagVersions(h, 'B', (id) => id !== 'C', 1);
  assert.deepEqual(one.map((x) => [x.image, x.available, x.kept]), [['C', false, false], ['B', true, false], ['A', true, true]]);
});

void test('rolling back walks back along the line the tag went through', () => {
  const h = [move('A', null, 'tag'), move('B', 'A', 'tag'), move('C', 'B', 'tag')];
  assert.equal(previousVersion(h, 'C', () => true), 'B');
  h.push(move('B', 'C', 'rollback'));
  assert.deepEqual(versionLine(h), ['A', 'B']);
  assert.equal(previousVersion(h, 'B', () => true), 'A');
  h.push(move('A', 'B', 'rollback'));
  assert.equal(previousVersion(h, 'A', () => true), undefined);
  // A deleted version is skipped.
  assert.equal(previousVersion([move('A', null, 'tag'), move('B', 'A', 'tag'), move('C', 'B', 'tag')], 'C', (id) => id !== 'B'), 'A');
});

async function tagged(h: Harness, content: string): Promise<string> {
  const tar = await tarOf([{ name: 'file', data: content }]);
  const image = await h.svc.importImage(streamOf(tar), { repo: 'app', tag: '1' });
  return image.id;
}

void test('rollback moves the tag back as a recorded move; prune keeps previous versions', async (t) => {
  const h = await harness(t);
  const a = await tagged(h, 'one');
  const b = await tagged(h, 'two');
  const c = await tagged(h, 'three');
  assert.deepEqual(h.svc.versions('app:1').map((v) => [v.version, v.image, v.current]), [[3, c, true], [2, b, false], [1, a, false]]);

  const pruned = await h.svc.prune(new Map());
  assert.equal(pruned.ImagesDeleted, null);
  assert.deepEqual(pruned.VersionsKept?.map((k) => k.Id).sort(), [a, b].sort());
  assert.match(pruned.VersionsKept[0]!.Reason, /version \d of app:1, kept for rollback/);

  assert.deepEqual(await h.svc.rollback('app:1'), { reference: 'app:1', from: c, to: b, version: 2 });
  assert.deepEqual(await h.svc.rollback('app:1'), { reference: 'app:1', from: b, to: a, version: 1 });
  assert.equal((await h.svc.resolve('app:1')).id, a);
  await assert.rejects(h.svc.rollback('app:1'), (err: unknown) => err instanceof EngineError && err.kind === 'notFound' && /no previous version/.test(err.message));
  assert.equal((await h.svc.rollback('app:1', '3')).to, c);
  assert.equal((await h.svc.rollback('app:1', b.slice(7, 19))).to, b);
  await assert.rejects(h.svc.rollback('app:1', b), (err: unknown) => err instanceof EngineError && err.kind === 'conflict');
  await assert.rejects(h.svc.rollback('app:1', '9'), (err: unknown) => err instanceof EngineError && err.kind === 'notFound');
  assert.deepEqual(h.svc.tagHistory('app:1').map((e) => e.cause), ['import', 'import', 'import', 'rollback', 'rollback', 'rollback', 'rollback']);
  assert.throws(() => h.svc.versions('never:seen'), (err: unknown) => err instanceof EngineError && err.kind === 'notFound');
});
