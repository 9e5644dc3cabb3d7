import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { importBusybox, startDaemon, type Daemon } from './harness.js';

const MB = 1024 * 1024;

/**
 * Disk usage of a folder in bytes, as `du` counts it. pierd removes layers in the background, so
 * a file may vanish while `du` walks: such a walk is counted again, other errors are thrown.
 */
function du(path: string): number {
  for (let tries = 0; ; tries++) {
    const r = spawnSync('du', ['-sb', path], { encoding: 'utf8' });
    const vanished = r.stderr.split('\n').filter(Boolean).every((l) => l.includes('No such file or directory'));
    if (r.status === 0) return Number(r.stdout.split('\t')[0]);
    if (!vanished || tries === 20) throw new Error(`du ${path}: ${r.stderr}`);
  }
}

/** `system df` and the prunes tell true figures, and the disk gets back what they report. */
describe('system df and prune', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  /** Wait until the root's usage drops below `limit` (removed files go in the background); returns it. */
  const duBelow = async (limit: number): Promise<number> => {
    let now = du(d.root);
    for (let i = 0; i < 50 && now >= limit; i++) {
      await sleep(100);
      now = du(d.root);
    }
    return now;
  };

  test('a stopped container\'s layer shows in df, and container prune gives the disk back', async () => {
    const r = await d.docker(['run', '--name', 'fat', 'busybox', 'dd', 'if=/dev/zero', 'of=/blob', 'bs=1M', 'count=8']);
    assert.equal(r.code, 0, r.stderr);
    const df = await d.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}}']);
    assert.match(df.stdout, /^Containers 1 0 8\.389MB$/m);
    const before = du(d.root);
    const prune = await d.docker(['container', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.match(prune.stdout, /Total reclaimed space: 8\.\d+MB/);
    const afterDu = await duBelow(before - 8 * MB);
    assert.ok(before - afterDu >= 8 * MB, `du ${before} -> ${afterDu}`);
    assert.match((await d.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}'])).stdout, /^Containers 0$/m);
  });

  test('image prune -a removes an unused image and reports its space; the disk gets it back', async () => {
    await d.docker(['run', '--name', 'maker', 'busybox', 'dd', 'if=/dev/zero', 'of=/layer', 'bs=1M', 'count=6']);
    const c = await d.docker(['commit', 'maker', 'heavy:1']);
    assert.equal(c.code, 0, c.stderr);
    await d.docker(['rm', 'maker']);
    const dfv = await d.docker(['system', 'df', '-v']);
    assert.match(dfv.stdout, /^heavy\s+1\s+[0-9a-f]{12}\s+.*\s+8\.\d+MB\s+1\.986MB\s+6\.291MB\s+0$/m);
    // busybox stays: a container uses it.
    await d.docker(['create', '--name', 'keeper', 'busybox', 'true']);
    const before = du(d.root);
    const prune = await d.docker(['image', 'prune', '-a', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /untagged: heavy:1/);
    assert.match(prune.stdout, /Total reclaimed space: 6\.\d+MB/);
    const afterDu = await duBelow(before - 6 * MB);
    assert.ok(before - afterDu >= 6 * MB, `du ${before} -> ${afterDu}`);
    assert.doesNotMatch(prune.stdout, /busybox/);
    await d.docker(['rm', 'keeper']);
  });

  test('bad df and prune filters are refused', async () => {
    const bad = await d.docker(['container', 'prune', '-f', '--filter', 'nosuch=1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'nosuch'/);
  });
});
