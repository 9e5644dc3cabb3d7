import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, EngineError, errnoCode, notFound, unavailable } from '../errors.js';
import { log } from '../log.js';
import { openAttach } from './attach.js';
import type { BundlePaths } from './bundle.js';
import { runConmonExec } from './conmon.js';
import { writeResize } from './conmon-ctl.js';
import type { MigrationWarmer } from './migration-warmer.js';
import type { AttachStreams, ExecProcess, ExecSession } from './runtime.js';
import type { HostInfo } from './host-info.js';
import { buildExecProcess, parseOciConfig, serializeOciConfig } from './spec.js';
import { resolveUser } from './user.js';

/** What an exec needs of the runtime that runs it. */
export interface ExecContext {
  paths: BundlePaths;
  host: HostInfo;
  /** The OCI runtime's name (`runc`, `crun`): what it can enter differs. */
  runtimeName: string;
  conmonPath: string;
  runtimePath: string;
  runtimeArgs: string[];
  conmonLogLevel: 'debug' | 'info' | 'warn' | 'error';
  warmer: MigrationWarmer;
}

/**
 * Run `proc` in the running container `id` under a conmon of its own: a session folder
 * `<container>/exec/<session>/` holds its process.json, attach socket, ctl fifo and exit dir,
 * and is removed once the exec ended. `conflict` when the container is not running.
 */
export async function execInContainer(ctx: ExecContext, id: string, proc: ExecProcess): Promise<ExecSession> {
  const p = ctx.paths;
  if (existsSync(p.exitFile)) throw conflict(`container ${id} is not running`);
  let config;
  try {
    config = parseOciConfig(await readFile(p.config, 'utf8'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw notFound(`no such container: ${id}`);
    throw err;
  }
  if (ctx.runtimeName === 'runc' && config.linux.uidMappings && config.linux.namespaces.some((n) => n.type === 'network' && n.path)) {
    // runc 1.1 enters the container's user namespace first, then cannot enter a network
    // namespace made in the host's (pier's bridge networks); crun enters it before.
    throw unavailable(`exec in container ${id}: runc cannot enter a container that has a user namespace of its own and a network namespace made by pier; run pierd with --runtime crun`);
  }
  const execId = randomBytes(8).toString('hex');
  const dir = join(p.dir, 'exec', execId);
  const user = proc.user === '' ? undefined : await resolveUser(config.root.path, proc.user, []);
  const execProcess = buildExecProcess(
    config,
    proc,
    user ?? { uid: config.process.user.uid, gid: config.process.user.gid, additionalGids: config.process.user.additionalGids ?? [], home: homeOf(config.process.env) },
    ctx.host.caps,
  );
  await mkdir(join(dir, 'exits'), { recursive: true });
  await writeFile(join(dir, 'process.json'), serializeOciConfig(execProcess));
  let streams: AttachStreams | undefined;
  let handle;
  const warm = ctx.warmer.hold();
  try {
    handle = await runConmonExec({
      conmonPath: ctx.conmonPath,
      runtimePath: ctx.runtimePath,
      runtimeArgs: ctx.runtimeArgs,
      id,
      execId,
      dir,
      processSpec: join(dir, 'process.json'),
      pidFile: join(dir, 'pidfile'),
      conmonPidFile: join(dir, 'conmon.pid'),
      exitDir: join(dir, 'exits'),
      logLevel: ctx.conmonLogLevel,
      stdin: proc.attach && proc.openStdin,
      tty: proc.tty,
      beforeStart: proc.attach
        ? () => {
            streams = openAttach(join(dir, 'attach'));
          }
        : undefined,
    }).finally(warm);
  } catch (err) {
    streams?.close();
    await rm(dir, { recursive: true, force: true });
    if (err instanceof EngineError && /cannot exec in a stopped|container not running|is not running/i.test(err.message)) {
      throw conflict(`container ${id} is not running`, err);
    }
    throw err;
  }
  const exited = handle.exit.then(
    (exitCode) => ({ exitCode }),
    (err: unknown) => ({ exitCode: -1, error: err instanceof Error ? err.message : String(err) }),
  ).then((result) => {
    // conmon is done with the session folder once it reported the exit. Its removal is not on
    // the caller's path (about 2 ms a `docker exec`): the exit is known already.
    void rm(dir, { recursive: true, force: true }).catch((err: unknown) => {
      log.warn({ container: id, exec: execId, err }, 'removing exec session folder failed');
    });
    return result;
  });
  return {
    pid: handle.pid,
    streams,
    exited,
    resize: (height, width) => writeResize(join(dir, 'ctl'), `exec ${execId}`, height, width),
  };
}

/** HOME from an environment, '/' without one. */
function homeOf(env: string[]): string {
  const e = env.find((x) => x.startsWith('HOME='));
  return e ? e.slice(5) : '/';
}
