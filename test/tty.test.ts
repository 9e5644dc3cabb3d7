import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerCli, importBusybox, run, startDaemon, type Daemon } from './harness.js';

/**
 * `run -it`, `exec -it` and `attach` driven through a real terminal, as a user at a keyboard
 * drives them: tmux runs the docker CLI in a window of a known size, the test types into it
 * and reads the screen.
 */
describe('terminals: run -it, exec -it, resize, detach and attach', () => {
  let d: Daemon;
  let sock: string;
  const tmux = (args: string[]) => run('tmux', ['-S', sock, ...args], d.env);
  const screen = async (target: string): Promise<string> => (await tmux(['capture-pane', '-p', '-t', target])).stdout;
  /** Wait until the window shows `pattern`; returns the screen. */
  const shows = async (target: string, pattern: RegExp, ms = 10_000): Promise<string> => {
    const deadline = Date.now() + ms;
    let s = await screen(target);
    while (!pattern.test(s) && Date.now() < deadline) {
      await sleep(100);
      s = await screen(target);
    }
    return s;
  };
  const type = (target: string, text: string) => tmux(['send-keys', '-t', target, '-l', text]).then(() => tmux(['send-keys', '-t', target, 'Enter']));

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    sock = join(d.dir, 'tmux.sock');
    const env = Object.entries({ DOCKER_HOST: d.env.DOCKER_HOST!, DOCKER_CONFIG: d.env.DOCKER_CONFIG!, PS1: '$ ' }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // A window that stays keeps the session (and tmux's server) alive when the CLI windows end.
    const keep = await tmux(['new-session', '-d', '-s', 'main', '-n', 'keep', '-x', '100', '-y', '30', 'sleep 3600']);
    assert.equal(keep.code, 0, keep.stderr);
    const r = await tmux(['new-window', '-t', 'main', '-n', 'run', ...env, `${dockerCli} run -it --name tty busybox sh`]);
    assert.equal(r.code, 0, r.stderr);
    await tmux(['resize-window', '-t', 'main:run', '-x', '100', '-y', '30']);
  });
  after(async () => {
    if (sock) await tmux(['kill-server']).catch(() => undefined);
    await d?.stop();
  });

  test('run -it: typed commands run on a terminal of the window\'s size, and a resize reaches it', async () => {
    await shows('main:run', /#|\$/);
    await type('main:run', 'echo sum-$((20+22)); stty size');
    const s = await shows('main:run', /sum-42\n30 100/);
    assert.match(s, /sum-42\n30 100/);
    await tmux(['resize-window', '-t', 'main:run', '-x', '120', '-y', '40']);
    await sleep(300);
    await type('main:run', 'stty size');
    assert.match(await shows('main:run', /40 120/), /40 120/);
  });

  test('exec -it gets a terminal of its own, sized and resized', async () => {
    const env = ['-e', `DOCKER_HOST=${d.env.DOCKER_HOST!}`, '-e', `DOCKER_CONFIG=${d.env.DOCKER_CONFIG!}`];
    await tmux(['new-window', '-t', 'main', '-n', 'ex', ...env, `${dockerCli} exec -it tty sh`]);
    await tmux(['resize-window', '-t', 'main:ex', '-x', '90', '-y', '25']);
    await sleep(300);
    await type('main:ex', 'tty; stty size');
    const s = await shows('main:ex', /\/dev\/pts\/\d+\n25 90/);
    assert.match(s, /\/dev\/pts\/\d+\n25 90/);
    await type('main:ex', 'exit');
  });

  test('ctrl-p ctrl-q detaches and leaves it running; attach comes back and keystrokes reach it', async () => {
    await tmux(['send-keys', '-t', 'main:run', 'C-p', 'C-q']);
    const state = async () => (await d.docker(['inspect', '-f', '{{.State.Status}}', 'tty'])).stdout.trim();
    // The CLI has ended: its window is gone.
    let windows: string[] = [];
    for (let i = 0; i < 50; i++) {
      windows = (await tmux(['list-windows', '-t', 'main', '-F', '#{window_name}'])).stdout.split('\n');
      if (!windows.includes('run')) break;
      await sleep(100);
    }
    assert.ok(windows.includes('keep') && !windows.includes('run'), `the docker CLI window ended: ${windows.join(' ')}`);
    assert.equal(await state(), 'running');
    const env = ['-e', `DOCKER_HOST=${d.env.DOCKER_HOST!}`, '-e', `DOCKER_CONFIG=${d.env.DOCKER_CONFIG!}`];
    await tmux(['new-window', '-t', 'main', '-n', 'again', ...env, `${dockerCli} attach tty`]);
    await sleep(500);
    await type('main:again', 'echo back-$((1+1))');
    assert.match(await shows('main:again', /back-2/), /back-2/);
    await type('main:again', 'exit 4');
    for (let i = 0; i < 50 && (await state()) !== 'exited'; i++) await sleep(100);
    assert.equal(await state(), 'exited');
    assert.equal((await d.docker(['inspect', '-f', '{{.State.ExitCode}}', 'tty'])).stdout.trim(), '4');
  });
});
