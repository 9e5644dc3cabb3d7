import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { createApiServer } from '../api/server.js';
import type { Router } from '../api/router.js';
import { invalid } from '../errors.js';
import { log } from '../log.js';
import type { DaemonConfig, Listener } from './config.js';

const run = promisify(execFile);

/**
 * The API's listeners, as dockerd opens them: each unix socket mode 0660, owned by root and
 * the configured group (created as a system group when missing, so that its members may use
 * the daemon without root); each TCP address with TLS and verified client certificates only
 * (config.ts refuses a TCP listener without them). Resolves once every listener is open.
 */
export async function listen(config: DaemonConfig, router: Router): Promise<Server[]> {
  const gid = await groupId(config.group);
  const tls = config.tls ? await readTls(config.tls) : undefined;
  const servers: Server[] = [];
  for (const l of config.listeners) {
    const server = createApiServer({ router, log, tls: l.kind === 'tcp' ? tls : undefined });
    await open(server, l);
    if (l.kind === 'unix') {
      await chmod(l.path, 0o660);
      if (gid !== undefined) await chown(l.path, 0, gid);
    }
    servers.push(server);
  }
  return servers;
}

/** Close the listeners and remove the sockets (at shutdown). */
export async function unlisten(config: DaemonConfig, servers: Server[]): Promise<void> {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
  for (const l of config.listeners) if (l.kind === 'unix') await rm(l.path, { force: true }).catch(() => undefined);
}

async function open(server: Server, l: Listener): Promise<void> {
  if (l.kind === 'unix') {
    await mkdir(dirname(l.path), { recursive: true });
    await rm(l.path, { force: true });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (l.kind === 'unix') server.listen(l.path, resolve);
    else server.listen(l.port, l.host, resolve);
  });
}

/** The group's ID, the group made first when it does not exist; undefined (root's group stays) when that fails. */
async function groupId(name: string): Promise<number | undefined> {
  const find = async (): Promise<number | undefined> => {
    const line = (await readFile('/etc/group', 'utf8')).split('\n').find((l) => l.split(':')[0] === name);
    return line === undefined ? undefined : Number(line.split(':')[2]);
  };
  const found = await find();
  if (found !== undefined) return found;
  try {
    await run('groupadd', ['--system', name]);
    log.info({ group: name }, 'created the group that may use the API socket');
    return await find();
  } catch (err) {
    log.warn({ err, group: name }, 'cannot create the API socket\'s group: the socket stays root\'s only');
    return undefined;
  }
}

async function readTls(files: { ca: string; cert: string; key: string }): Promise<{ ca: string; cert: string; key: string }> {
  const read = async (what: string, path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw invalid(`cannot read ${what} ${path}: ${(err as Error).message}`);
    }
  };
  return { ca: await read('--tlscacert', files.ca), cert: await read('--tlscert', files.cert), key: await read('--tlskey', files.key) };
}
