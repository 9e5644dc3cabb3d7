import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EngineError } from '../errors.js';
import { log } from '../log.js';
import type { ContainerRuntime, ContainerSpec } from '../runtime/runtime.js';
import { BuildStepError } from './build.js';

/**
 * The build container of a RUN step: one process on the step's root filesystem, run by the
 * runtime directly (a build container is no container of the containers part: no record, no
 * events). Its log folder is `<execDir>/<id>`; the Builder's `init` removes what a crash left.
 */

const STDERR_ON = Buffer.from('\x1b[91m');
const STDERR_OFF = Buffer.from('\x1b[0m');

/** BuildHost.runContainer: run `spec` on `rootfs`, stream its output, resolve with its exit code; delete it always. */
export async function runContainer(
  deps: { runtime: ContainerRuntime; execDir: string },
  spec: Omit<ContainerSpec, 'id' | 'rootfs'>,
  rootfs: string,
  onStart: (id: string) => void,
  onOutput: (chunk: Buffer) => void,
): Promise<number> {
  const runtime = deps.runtime;
  const id = randomBytes(32).toString('hex');
  const logDir = join(deps.execDir, id);
  await mkdir(logDir, { recursive: true });
  let created = false;
  try {
    await runtime.create({ ...spec, id, rootfs }, join(logDir, 'log'));
    created = true;
    onStart(id);
    const streams = await runtime.attach(id);
    const exited = new Promise<number>((resolve) => {
      const cancel = runtime.watchExit(id, (status) => {
        cancel();
        resolve(status.exitCode);
      });
    });
    const pump = async (s: Readable): Promise<void> => {
      for await (const chunk of s as AsyncIterable<Buffer>) onOutput(chunk);
    };
    const pumpStderr = async (s: Readable): Promise<void> => {
      // As Docker's classic builder: a step's stderr comes red in the stream.
      for await (const chunk of s as AsyncIterable<Buffer>) onOutput(Buffer.concat([STDERR_ON, chunk, STDERR_OFF]));
    };
    const pumping = Promise.all([pump(streams.stdout), pumpStderr(streams.stderr)]);
    await runtime.start(id);
    const code = await exited;
    // conmon sends the last output before it reports the exit; give the streams a moment to end.
    const ended = await Promise.race([pumping.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
    if (!ended) streams.close();
    await pumping.catch(() => undefined);
    return code;
  } catch (err) {
    if (err instanceof EngineError && err.kind === 'invalid') {
      // Docker's code for a command that cannot run.
      throw new BuildStepError(err.message, /not found|no such file/i.test(err.message) ? 127 : 126);
    }
    throw err;
  } finally {
    if (created) await runtime.delete(id, { force: true }).catch((err: unknown) => log.warn({ err, id }, 'build container delete'));
    await rm(logDir, { recursive: true, force: true });
  }
}
