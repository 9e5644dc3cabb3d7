import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EngineError } from '../errors.js';
import { log } from '../log.js';
import type { EndpointRequest } from '../networks/networks.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { BuildStepError, type BuildNetworks } from './build.js';
import type { BuildContainerSpec } from './step.js';

/**
 * The build container of a RUN step: one process on the step's root filesystem, run by the
 * runtime directly (a build container is no container of the containers part: no record, no
 * events). Its log folder is `<execDir>/<id>`; the Builder's `init` removes what a crash left.
 */

const STDERR_ON = Buffer.from('\x1b[91m');
const STDERR_OFF = Buffer.from('\x1b[0m');

/** BuildHost.runContainer: run `spec` on `rootfs`, stream its output, resolve with its exit code; delete it always. */
export async function runContainer(
  deps: { runtime: ContainerRuntime; execDir: string; networks?: BuildNetworks },
  buildSpec: BuildContainerSpec,
  rootfs: string,
  onStart: (id: string) => void,
  onOutput: (chunk: Buffer) => void,
): Promise<number> {
  const runtime = deps.runtime;
  const { userNetwork, ...spec } = buildSpec;
  const id = randomBytes(32).toString('hex');
  const logDir = join(deps.execDir, id);
  await mkdir(logDir, { recursive: true });
  let created = false;
  let endpoint: EndpointRequest | undefined;
  try {
    if (userNetwork) {
      // An endpoint of its own on the network, as a container's: its address, the network's names in its DNS, its hosts and resolv.conf (in logDir).
      if (!deps.networks) throw new BuildStepError(`network ${userNetwork} not found`, 1);
      const net = deps.networks.get(userNetwork);
      const req: EndpointRequest = {
        containerId: id,
        containerName: `build-${id.slice(0, 12)}`,
        hostname: spec.hostname || id.slice(0, 12),
        domainname: '',
        networkMode: net.Name,
        extraHosts: [],
        dns: [],
        dnsSearch: [],
        dnsOptions: [],
        containerDir: logDir,
      };
      await deps.networks.prepare(req);
      endpoint = req;
      spec.network = { ...(await deps.networks.connect(req)).attachment, ...(spec.network.hostsPath ? { hostsPath: spec.network.hostsPath } : {}) };
    }
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
    if (endpoint) await deps.networks?.disconnect(endpoint).catch((err: unknown) => log.warn({ err, id }, 'build container network'));
    await rm(logDir, { recursive: true, force: true });
  }
}
