import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { ContainerSummary } from '../../client/types.js';
import type { Project } from '../../compose/compose.js';
import type { Deps } from '../../compose/engine.js';
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';

/**
 * `pier compose`: Compose's commands and flags over pier's own Compose (src/compose/). This
 * file declares the commands and turns flags into calls; the model and the engine are
 * loaded only when a compose command runs.
 */

type Handler = (cli: Cli, ...args: never[]) => Promise<number>;
/** main.ts's wrapper of a lazily loaded handler as a commander action. */
export type Act = <M>(load: () => Promise<M>, pick: (m: M) => Handler) => (...args: unknown[]) => Promise<void>;

interface Globals {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  profile?: string[];
  envFile?: string[];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

async function project(cli: Cli, g: Globals, services: string[] = [], opts: { fileOptional?: boolean } = {}): Promise<Project> {
  const { loadProject } = await import('../../compose/load.js');
  try {
    return await loadProject({ cwd: cli.io.cwd, files: g.file, projectName: g.projectName, projectDirectory: g.projectDirectory, profiles: g.profile, envFiles: g.envFile, services, env: cli.io.env });
  } catch (err) {
    // `compose -p NAME down|ps|logs|stop` work without a file, as Compose's do.
    if (opts.fileOptional && g.projectName && err instanceof Error && err.message.startsWith('no configuration file provided')) {
      return { name: g.projectName, workingDir: cli.io.cwd, configFiles: [], services: {}, disabled: [], networks: {}, volumes: {} };
    }
    throw err;
  }
}

async function deps(cli: Cli): Promise<Deps> {
  const { contextTar } = await import('./build.js');
  return {
    client: cli.client,
    reporter: { out: (s) => cli.out(s), err: (s) => cli.err(s), tty: !!cli.io.stdout.isTTY },
    contextTar: async (dir, dockerfile) => {
      const { stream, dockerfile: name } = await contextTar(dir, dockerfile);
      return { stream: stream as unknown as NodeJS.ReadableStream, dockerfile: name };
    },
  };
}

function scaleOf(specs: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of specs ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(spec);
    if (!m) throw new CliError(`invalid --scale ${JSON.stringify(spec)}: expected SERVICE=NUM`, 1);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------- handlers

async function config(cli: Cli, g: Globals, services: string[], o: { services?: boolean; volumes?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const p = await project(cli, g, services);
  if (o.quiet) return 0;
  if (o.services) cli.out(Object.keys(p.services).map((s) => `${s}\n`).join(''));
  else if (o.volumes) cli.out(Object.keys(p.volumes).map((v) => `${v}\n`).join(''));
  else {
    const { projectDoc, renderYaml } = await import('../../compose/render.js');
    const doc = projectDoc(p);
    cli.out(o.format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : renderYaml(doc));
  }
  return 0;
}

interface UpFlags {
  detach?: boolean;
  build?: boolean;
  noBuild?: boolean;
  deps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  noStart?: boolean;
  scale?: string[];
  wait?: boolean;
  waitTimeout?: string;
  removeOrphans?: boolean;
}

async function up(cli: Cli, g: Globals, services: string[], o: UpFlags): Promise<number> {
  const p = await project(cli, g, services);
  const d = await deps(cli);
  const { up: run } = await import('../../compose/up.js');
  await run(d, p, {
    services,
    noDeps: o.deps === false,
    forceRecreate: o.forceRecreate,
    noRecreate: o.noRecreate,
    build: o.build,
    noBuild: o.noBuild,
    scale: scaleOf(o.scale),
    wait: o.wait,
    waitTimeoutMs: o.waitTimeout ? Number(o.waitTimeout) * 1000 : undefined,
    removeOrphans: o.removeOrphans,
    noStart: o.noStart,
  });
  if (o.detach || o.wait || o.noStart) return 0;
  // Attached: follow the logs until every container stops; Ctrl-C stops them.
  const { projectContainers } = await import('../../compose/engine.js');
  const { logs } = await import('../../compose/logs.js');
  const { stop } = await import('../../compose/ops.js');
  const abort = new AbortController();
  const off = cli.io.onSignal('SIGINT', () => {
    cli.err('Gracefully stopping... (press Ctrl+C again to force)\n');
    abort.abort();
  });
  try {
    const containers = await projectContainers(d, p.name, { oneoff: false, services: services.length > 0 ? services : undefined });
    await logs(d, containers, p.name, { follow: true, signal: abort.signal });
    if (abort.signal.aborted) await stop(d, p, services);
  } finally {
    off();
  }
  return 0;
}

async function down(cli: Cli, g: Globals, o: { volumes?: boolean; rmi?: string; removeOrphans?: boolean; timeout?: string }): Promise<number> {
  if (o.rmi !== undefined && o.rmi !== 'local' && o.rmi !== 'all') throw new CliError(`invalid --rmi ${JSON.stringify(o.rmi)}: local or all`, 1);
  const p = await project(cli, g, [], { fileOptional: true });
  const { down: run } = await import('../../compose/down.js');
  await run(await deps(cli), p, { volumes: o.volumes, rmi: o.rmi, removeOrphans: o.removeOrphans, timeout: o.timeout === undefined ? undefined : Number(o.timeout) });
  return 0;
}

function portsOf(c: ContainerSummary): string {
  return (c.Ports ?? [])
    .map((x) => (x.PublicPort ? `${x.IP ?? '0.0.0.0'}:${x.PublicPort}->${x.PrivatePort}/${x.Type}` : `${x.PrivatePort}/${x.Type}`))
    .join(', ');
}

async function ps(cli: Cli, g: Globals, services: string[], o: { all?: boolean; quiet?: boolean; services?: boolean; format?: string }): Promise<number> {
  const p = await project(cli, g, [], { fileOptional: true });
  const { projectContainers, nameOf, serviceOf } = await import('../../compose/engine.js');
  const list = (await projectContainers(await deps(cli), p.name, { services: services.length > 0 ? services : undefined })).filter((c) => o.all || c.State === 'running' || c.State === 'restarting');
  if (o.quiet) cli.out(list.map((c) => `${c.Id}\n`).join(''));
  else if (o.services) cli.out([...new Set(list.map(serviceOf))].map((s) => `${s}\n`).join(''));
  else if (o.format === 'json') cli.out(`${JSON.stringify(list.map((c) => ({ ID: c.Id, Name: nameOf(c), Image: c.Image, Command: c.Command, Project: p.name, Service: serviceOf(c), State: c.State, Status: c.Status, Ports: portsOf(c) })))}\n`);
  else {
    const { tabwrite } = await import('../table.js');
    const { timeAgo } = await import('../human.js');
    const rows = list.map((c) => [nameOf(c), c.Image, JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}\u2026` : c.Command), serviceOf(c), timeAgo(c.Created), c.Status, portsOf(c)].join('\t'));
    cli.out(tabwrite(['NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS', ...rows].map((l) => `${l}\n`).join('')));
  }
  return 0;
}

async function logsCmd(cli: Cli, g: Globals, services: string[], o: { follow?: boolean; tail?: string; timestamps?: boolean; since?: string; color?: boolean; logPrefix?: boolean }): Promise<number> {
  const p = await project(cli, g, [], { fileOptional: true });
  const d = await deps(cli);
  const { projectContainers } = await import('../../compose/engine.js');
  const { logs } = await import('../../compose/logs.js');
  const abort = new AbortController();
  const off = cli.io.onSignal('SIGINT', () => abort.abort());
  try {
    const containers = await projectContainers(d, p.name, { oneoff: false, services: services.length > 0 ? services : undefined });
    await logs(d, containers, p.name, { follow: o.follow, tail: o.tail, timestamps: o.timestamps, since: o.since, noColor: o.color === false, noPrefix: o.logPrefix === false, signal: abort.signal });
  } finally {
    off();
  }
  return 0;
}

async function containerOf(cli: Cli, p: Project, service: string, index: number): Promise<ContainerSummary> {
  if (!p.services[service]) throw new CliError(`no such service: ${service}`, 1);
  const { projectContainers, numberOf } = await import('../../compose/engine.js');
  const c = (await projectContainers(await deps(cli), p.name, { services: [service], oneoff: false })).find((x) => numberOf(x) === index && x.State === 'running');
  if (!c) throw new CliError(`service "${service}" is not running${index > 1 ? ` (replica ${index})` : ''}`, 1);
  return c;
}

interface ExecLike {
  detach?: boolean;
  tty?: boolean;
  env?: string[];
  user?: string;
  workdir?: string;
  index?: string;
  privileged?: boolean;
}

async function exec(cli: Cli, g: Globals, service: string, command: string[], o: ExecLike): Promise<number> {
  const p = await project(cli, g);
  const c = await containerOf(cli, p, service, Number(o.index ?? '1'));
  const { exec: run } = await import('./exec.js');
  // Compose allocates a TTY when stdin is one, unless -T.
  const tty = o.tty !== false && !!cli.io.stdin.isTTY && !!cli.io.stdout.isTTY;
  return run(cli, c.Id, command, { detach: o.detach, interactive: !o.detach, tty, env: o.env, user: o.user, workdir: o.workdir, privileged: o.privileged });
}

async function run(cli: Cli, g: Globals, service: string, command: string[], o: ExecLike & { rm?: boolean; name?: string; entrypoint?: string; deps?: boolean; servicePorts?: boolean }): Promise<number> {
  const p = await project(cli, g, [service]);
  const s = p.services[service];
  if (!s) throw new CliError(`no such service: ${service}`, 1);
  const d = await deps(cli);
  const { up: upRun, prepareImages } = await import('../../compose/up.js');
  const { containerBody } = await import('../../compose/spec.js');
  const { ensureNetworks, ensureVolumes } = await import('../../compose/engine.js');
  const needs = Object.keys(s.depends_on);
  if (o.deps !== false && needs.length > 0) await upRun(d, p, { services: needs, scale: {} });
  const images = await prepareImages(d, p, [service], {});
  await ensureNetworks(d, p, [s]);
  await ensureVolumes(d, p, [s]);
  const env: Record<string, string> = {};
  for (const e of o.env ?? []) {
    const eq = e.indexOf('=');
    if (eq < 0) {
      const v = cli.io.env[e];
      if (v !== undefined) env[e] = v;
    } else env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const tty = o.tty !== false && !o.detach && !!cli.io.stdin.isTTY && !!cli.io.stdout.isTTY;
  const body = containerBody(p, s, {
    number: 1,
    oneoff: true,
    imageId: images.get(service),
    command: command.length > 0 ? command : undefined,
    entrypoint: o.entrypoint !== undefined ? [o.entrypoint] : undefined,
    tty,
    interactive: !o.detach,
    servicePorts: o.servicePorts,
    env,
    user: o.user,
    workdir: o.workdir,
  });
  body.HostConfig = { ...body.HostConfig, AutoRemove: !!o.rm };
  const name = o.name ?? `${p.name}-${service}-run-${randomBytes(6).toString('hex')}`;
  const { Id } = await cli.client.containerCreate(body, { name });
  if (o.detach) {
    await cli.client.containerStart(Id);
    cli.out(`${name}\n`);
    return 0;
  }
  const { session } = await import('./run.js');
  return session(cli, Id, { stdin: true, stdout: true, stderr: true, tty, sigProxy: !tty, autoRemove: !!o.rm, start: true });
}

function lifecycle(verb: 'start' | 'stop' | 'restart') {
  return async (cli: Cli, g: Globals, services: string[], o: { timeout?: string }): Promise<number> => {
    const p = await project(cli, g, [], { fileOptional: verb === 'stop' });
    const ops = await import('../../compose/ops.js');
    const t = o.timeout === undefined ? undefined : Number(o.timeout);
    if (verb === 'start') await ops.start(await deps(cli), p, services);
    else await ops[verb](await deps(cli), p, services, t);
    return 0;
  };
}

async function images(cli: Cli, g: Globals, verb: 'build' | 'pull' | 'push', services: string[], o: { noCache?: boolean; pull?: boolean; ignorePullFailures?: boolean }): Promise<number> {
  const p = await project(cli, g, services);
  const ops = await import('../../compose/ops.js');
  const d = await deps(cli);
  if (verb === 'build') await ops.build(d, p, services, o);
  else if (verb === 'pull') await ops.pull(d, p, services, { ignoreFailures: o.ignorePullFailures });
  else {
    const { registryAuth } = await import('./distribution.js');
    const { parseReference } = await import('../reference.js');
    await ops.push(d, p, services, (ref) => registryAuth(cli, parseReference(ref).domain));
  }
  return 0;
}

async function kube(cli: Cli, g: Globals, services: string[]): Promise<number> {
  const p = await project(cli, g, services);
  for (const s of services) if (!p.services[s]) throw new CliError(`no such service: ${s}`, 1);
  const { composeKube } = await import('./kube.js');
  return composeKube(cli, p, services);
}

async function ls(cli: Cli, o: { all?: boolean; quiet?: boolean; format?: string }): Promise<number> {
  const { listProjects } = await import('../../compose/ops.js');
  const rows = await listProjects(await deps(cli), !!o.all);
  if (o.quiet) cli.out(rows.map((r) => `${r.name}\n`).join(''));
  else if (o.format === 'json') cli.out(`${JSON.stringify(rows.map((r) => ({ Name: r.name, Status: r.status, ConfigFiles: r.configFiles })))}\n`);
  else {
    const { tabwrite } = await import('../table.js');
    cli.out(tabwrite(['NAME\tSTATUS\tCONFIG FILES', ...rows.map((r) => `${r.name}\t${r.status}\t${r.configFiles}`)].map((l) => `${l}\n`).join('')));
  }
  return 0;
}

// ---------------------------------------------------------------- declarations

/** Declare `compose` and its subcommands on `program`; `act` is main.ts's lazy action wrapper. */
export function defCompose(program: Command, act: Act): void {
  const group = program
    .command('compose')
    .usage('[OPTIONS] COMMAND')
    .description('Define and run multi-container applications (the Compose specification)')
    .enablePositionalOptions()
    .option('-f, --file <file>', 'Compose configuration files', collect)
    .option('-p, --project-name <name>', 'Project name')
    .option('--project-directory <dir>', 'Alternate working directory (default: the path of the first file)')
    .option('--profile <profile>', 'Specify a profile to enable', collect)
    .option('--env-file <file>', 'Specify an alternate environment file', collect);
  const g = (): Globals => group.opts<Globals>();
  const self = (): Promise<object> => Promise.resolve({});
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each handler takes its own commander arguments
  const on = (fn: (cli: Cli, g: Globals, ...a: any[]) => Promise<number>) => act(self, () => (cli: Cli, ...a: unknown[]) => fn(cli, g(), ...a));
  const svc = (name: string, description: string): Command => group.command(name).usage('[OPTIONS] [SERVICE...]').description(description).argument('[services...]');

  svc('config', 'Parse, resolve and render the compose file in canonical format')
    .option('--services', 'Print the service names, one per line')
    .option('--volumes', 'Print the volume names, one per line')
    .option('-q, --quiet', 'Only validate the configuration, do not print anything')
    .option('--format <format>', 'Format the output: yaml or json', 'yaml')
    .action(on(config));
  svc('up', 'Create and start containers')
    .option('-d, --detach', 'Detached mode: run containers in the background')
    .option('--build', 'Build images before starting containers')
    .option('--no-build', "Don't build an image, even if it's policy")
    .option('--no-deps', "Don't start linked services")
    .option('--force-recreate', "Recreate containers even if their configuration and image haven't changed")
    .option('--no-recreate', "If containers already exist, don't recreate them")
    .option('--no-start', "Don't start the services after creating them")
    .option('--scale <scale>', 'Scale SERVICE to NUM instances (SERVICE=NUM); overrides deploy.replicas', collect)
    .option('--wait', 'Wait for services to be running|healthy (implies detached mode)')
    .option('--wait-timeout <seconds>', 'Maximum duration in seconds to wait for the project to be running|healthy')
    .option('--remove-orphans', 'Remove containers for services not defined in the Compose file')
    .action(on(up));
  group
    .command('down')
    .usage('[OPTIONS]')
    .description('Stop and remove containers, networks')
    .option('-v, --volumes', 'Remove named volumes declared in the "volumes" section and anonymous volumes attached to containers')
    .option('--rmi <type>', 'Remove images used by services: "local" removes only images that don\'t have a custom tag, "all" removes all images')
    .option('--remove-orphans', 'Remove containers for services not defined in the Compose file')
    .option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds')
    .action(on(down));
  svc('ps', 'List containers')
    .option('-a, --all', 'Show all stopped containers (including those created by the run command)')
    .option('-q, --quiet', 'Only display IDs')
    .option('--services', 'Display services')
    .option('--format <format>', 'Format the output: table or json', 'table')
    .action(on(ps));
  svc('logs', 'View output from containers')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <lines>', 'Number of lines to show from the end of the logs for each container', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .option('--since <time>', 'Show logs since timestamp or relative time')
    .option('--no-color', 'Produce monochrome output')
    .option('--no-log-prefix', "Don't print prefix in logs")
    .action(on(logsCmd));
  const execLike = (c: Command): Command =>
    c
      .option('-d, --detach', 'Detached mode: run command in the background')
      .option('-T, --no-TTY', 'Disable pseudo-TTY allocation (allocated by default when stdin is a terminal)')
      .option('-e, --env <env>', 'Set environment variables', collect)
      .option('-u, --user <user>', 'Run the command as this user')
      .option('-w, --workdir <dir>', 'Path to workdir directory for this command');
  execLike(group.command('exec').usage('[OPTIONS] SERVICE COMMAND [ARGS...]').description('Execute a command in a running container').argument('<service>').argument('<command...>').passThroughOptions())
    .option('--index <n>', 'Index of the container if the service has multiple replicas', '1')
    .option('--privileged', 'Give extended privileges to the process')
    .action(on(exec));
  execLike(group.command('run').usage('[OPTIONS] SERVICE [COMMAND] [ARGS...]').description('Run a one-off command on a service').argument('<service>').argument('[command...]').passThroughOptions())
    .option('--rm', 'Automatically remove the container when it exits')
    .option('--name <name>', 'Assign a name to the container')
    .option('--entrypoint <cmd>', 'Override the entrypoint of the image')
    .option('--no-deps', "Don't start linked services")
    .option('-P, --service-ports', "Run command with all service's ports enabled and mapped to the host")
    .action(on(run));
  for (const verb of ['start', 'stop', 'restart'] as const) {
    const c = svc(verb, `${verb[0]!.toUpperCase()}${verb.slice(1)} services`);
    if (verb !== 'start') c.option('-t, --timeout <seconds>', 'Specify a shutdown timeout in seconds');
    c.action(on(lifecycle(verb)));
  }
  svc('build', 'Build or rebuild services (in parallel)')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .action(on((cli, gl, services: string[], o: { cache?: boolean; pull?: boolean }) => images(cli, gl, 'build', services, { noCache: o.cache === false, pull: o.pull })));
  svc('pull', 'Pull service images')
    .option('--ignore-pull-failures', 'Pull what it can and ignores images with pull failures')
    .option('-q, --quiet', 'Pull without printing progress information')
    .action(on((cli, gl, services: string[], o: { ignorePullFailures?: boolean }) => images(cli, gl, 'pull', services, o)));
  svc('kube', 'Write Kubernetes YAML for the services (Deployments, Services, PersistentVolumeClaims, ConfigMaps)').action(on(kube));
  svc('push', 'Push service images').action(on((cli, gl, services: string[]) => images(cli, gl, 'push', services, {})));
  group
    .command('ls')
    .usage('[OPTIONS]')
    .description('List running compose projects')
    .option('-a, --all', 'Show all stopped Compose projects')
    .option('-q, --quiet', 'Only display project names')
    .option('--format <format>', 'Format the output: table or json', 'table')
    .action(on((cli, _g, o: { all?: boolean; quiet?: boolean; format?: string }) => ls(cli, o)));
}
