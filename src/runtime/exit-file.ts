import { closeSync, existsSync, fstatSync, openSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { errnoCode, internal } from '../errors.js';
import { log } from '../log.js';
import type { ExitStatus } from './runtime.js';

/** The exit file conmon writes when a container exits: reading it, and waiting for it. */

/** Poll period when fs.watch cannot see the exit file appear. */
const EXIT_POLL_MS = 2000;

/**
 * The exit code conmon wrote to `exitFile` (of container `id`), and when (the file's mtime);
 * undefined while there is none. Read without the thread pool: it is on the path of every exit.
 */
export function readExitFile(exitFile: string, id: string): { exitCode: number; finishedAt: Date } | undefined {
  let text: string;
  let finishedAt: Date;
  let fd: number | undefined;
  try {
    fd = openSync(exitFile, 'r');
    text = readFileSync(fd, 'utf8');
    finishedAt = fstatSync(fd).mtime;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const exitCode = Number.parseInt(text.trim(), 10);
  if (Number.isNaN(exitCode)) throw internal(`exit file of ${id} holds ${JSON.stringify(text)}`);
  return { exitCode, finishedAt };
}

/**
 * Call `onExit` once with the container's exit status (`read`), as soon as its exit file
 * appears in `exitDir` (fs.watch, and a poll every EXIT_POLL_MS where watching fails). Stops
 * without a call when the container's folder is gone first. Returns the function that stops.
 */
export function watchExitFile(
  where: { id: string; exitDir: string; containerDir: string },
  read: () => Promise<ExitStatus | undefined>,
  onExit: (status: ExitStatus) => void,
): () => void {
  const { id } = where;
  let done = false;
  let watcher: FSWatcher | undefined;
  let checking = false;
  const stop = () => {
    done = true;
    watcher?.close();
    clearInterval(timer);
  };
  const check = () => {
    if (done || checking) return;
    checking = true;
    read().then(
      (status) => {
        checking = false;
        if (done) return;
        if (status) {
          stop();
          onExit(status);
        } else if (!existsSync(where.containerDir)) {
          // Deleted before it exited: no exit will come.
          stop();
        }
      },
      (err: unknown) => {
        checking = false;
        log.warn({ container: id, err }, 'reading exit status failed; will retry');
      },
    );
  };
  const timer = setInterval(check, EXIT_POLL_MS);
  try {
    watcher = watch(where.exitDir, { persistent: true }, (_event, name) => {
      if (name === id) check();
    });
    watcher.on('error', (err) => {
      log.warn({ container: id, err }, 'exit dir watch failed; polling');
      watcher?.close();
      watcher = undefined;
    });
  } catch (err) {
    log.warn({ container: id, err }, 'cannot watch exit dir; polling');
  }
  check();
  return stop;
}
