import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { EngineError } from '../errors.js';
import { bindMount, isMountPoint, mountOverlay, unmount } from './mount.js';

async function base(t: TestContext): Promise<{ dir: string; mounted: (p: string) => string }> {
  const dir = await mkdtemp('/tmp/pmt-');
  const targets: string[] = [];
  t.after(async () => {
    for (const m of targets.reverse()) await unmount(m, { detach: true });
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    mounted: (p) => {
      targets.push(p);
      return p;
    },
  };
}

void test('a read-only bind mount, seen as a mount point until unmounted', async (t) => {
  const { dir, mounted } = await base(t);
  await mkdir(`${dir}/src`);
  await mkdir(`${dir}/dst`);
  await writeFile(`${dir}/src/f`, 'data');
  assert.equal(await isMountPoint(`${dir}/dst`), false);
  await bindMount(`${dir}/src`, mounted(`${dir}/dst`), { readonly: true });
  assert.equal(await isMountPoint(`${dir}/dst`), true);
  assert.equal(await readFile(`${dir}/dst/f`, 'utf8'), 'data');
  await assert.rejects(writeFile(`${dir}/dst/g`, 'x'), /EROFS/);
  await unmount(`${dir}/dst`);
  assert.equal(await isMountPoint(`${dir}/dst`), false);
  await unmount(`${dir}/dst`);
  await unmount(`${dir}/does-not-exist`);
  assert.equal(await isMountPoint(`${dir}/does-not-exist`), false);
});

void test('an overlay of lower dirs only, with awkward characters in the paths', async (t) => {
  const { dir, mounted } = await base(t);
  const upper = `${dir}/a,b:c`;
  const lower = `${dir}/low`;
  await mkdir(upper);
  await mkdir(lower);
  await writeFile(`${upper}/top`, 'top');
  await writeFile(`${lower}/bottom`, 'bottom');
  await mkdir(`${dir}/m`);
  await mountOverlay(mounted(`${dir}/m`), { lowerDirs: [upper, lower] }, { readonly: true });
  assert.deepEqual((await readdir(`${dir}/m`)).sort(), ['bottom', 'top']);
  await assert.rejects(writeFile(`${dir}/m/new`, 'x'), /EROFS/);
});

void test('mount failures are internal errors naming the target', async (t) => {
  const { dir } = await base(t);
  await assert.rejects(mountOverlay(`${dir}/missing`, { lowerDirs: [`${dir}/nope`] }), (err: unknown) => {
    assert.ok(err instanceof EngineError);
    assert.equal(err.kind, 'internal');
    assert.match(err.message, /^mount overlay on \/tmp\/pmt-\w+\/missing: ENOENT/);
    return true;
  });
  const many = Array.from({ length: 100 }, (_, i) => `${dir}/${'x'.repeat(60)}${i}`);
  await assert.rejects(mountOverlay(`${dir}/m`, { lowerDirs: many }), /longer than 4095 bytes/);
});
