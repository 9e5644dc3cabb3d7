import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { containerSpec, type ContainerSpec } from '../runtime/runtime.js';
import { resolveInRoot } from '../runtime/user.js';
import { BuildStepError } from './build.js';
import { BuildCache } from './cache.js';
import { checksumSources, collectSources } from './context.js';
import { checkFlags, flagValue, flagValues, parseError, type Instruction } from './parser.js';
import { PROXY_ARGS, shellOf, type StageState, type StepContext } from './step.js';

/**
 * RUN: the command runs in a build container over a writable snapshot of the stage's chain,
 * whose diff becomes the step's layer. The key of the step is the command as history shows
 * it (with the build args it sees), the config, the network mode, the mounts and what bind
 * mounts show it. A non-zero exit fails the build with a BuildStepError carrying the code.
 */

/** Run one RUN instruction on `state`; the step's image comes from the cache when it can. */
export async function runStep(run: StepContext, ins: Instruction, state: StageState): Promise<StageState> {
  checkFlags(ins, ['mount', 'network', 'security']);
  const network = flagValue(ins, 'network') ?? run.opts.networkMode;
  // Another name: a user-defined network the command joins (the build's --network only; RUN --network takes none, default and host, as BuildKit).
  const userNetwork = ['default', 'none', 'host', 'bridge', ''].includes(network) ? undefined : network;
  if (userNetwork && flagValue(ins, 'network') !== undefined) throw parseError(ins.line, `RUN --network=${network}: only none, default and host are supported`);
  const mounts = flagValues(ins, 'mount').map((m) => parseMount(ins, m));
  for (const m of mounts) {
    if (m.type === 'secret') {
      const id = m.id ?? posix.basename(m.target ?? '');
      if (!run.opts.secrets?.has(id) && m.required) {
        throw parseError(ins.line, `secret ${id} not found: the classic build API cannot carry secrets; use \`pier build --secret id=${id},src=<file>\``);
      }
    }
  }
  const cfg = state.config.config ?? {};
  let args: string[];
  if (ins.heredocs.length === 1 && /^<<-?["']?[A-Za-z0-9_]+["']?$/.test(ins.rest.trim())) {
    args = [...shellOf(state), ins.heredocs[0]!.content];
  } else if (ins.heredocs.length > 0) {
    const text = [ins.rest, ...ins.heredocs.map((h) => `${h.content}${h.name}`)].join('\n');
    args = [...shellOf(state), text];
  } else {
    args = ins.json ?? [...shellOf(state), ins.rest];
  }
  // Build args visible to the command: declared ones, unless an ENV of the same name wins, and the proxy args given.
  const envNames = new Set((cfg.Env ?? []).map((e) => e.split('=', 1)[0]!));
  const argEnv: string[] = [];
  for (const [k, v] of state.args) if (!envNames.has(k)) argEnv.push(`${k}=${v}`);
  const proxyEnv: string[] = [];
  for (const k of PROXY_ARGS) {
    const v = run.opts.buildArgs[k];
    if (typeof v === 'string' && !state.args.has(k)) {
      proxyEnv.push(`${k}=${v}`);
      run.useArg(k);
    }
  }
  argEnv.sort();
  const createdBy = `${argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(' ')} ` : ''}${args.join(' ')}`;
  // What bind mounts show the command is part of the key: the stage or image they come from, or the context files' checksum.
  const mountInputs: string[] = [];
  for (const m of mounts) {
    if (m.type !== 'bind') continue;
    if (m.from) mountInputs.push(await run.fromIdentity(ins, m.from));
    else mountInputs.push(await checksumSources(await collectSources(run.context.dir, [m.source ?? '/'], (rel) => !run.context.ignored(rel))));
  }
  const key = { run: createdBy, config: cfg, network, mounts, mountInputs };
  return run.cached(state, key, async () => {
    const lease = run.host.images.lease();
    const releases: Array<() => Promise<void>> = [];
    try {
      const { layer } = await run.host.withRootfs(state.chainId, lease, async (rootfs) => {
        // id and rootfs are the build container's, set by runContainer.
        const spec: Omit<ContainerSpec, 'id' | 'rootfs'> = containerSpec({
          id: '',
          rootfs: '',
          args,
          env: [...(cfg.Env ?? []), ...argEnv, ...proxyEnv],
          cwd: cfg.WorkingDir || '/',
          user: cfg.User ?? '',
          hostname: '',
          shmSize: run.opts.shmSize || 64 * 1024 * 1024,
          mounts: await runMounts(run, ins, mounts, releases),
          network: {
            netns: network === 'host' ? { kind: 'host' } : { kind: 'new' },
            ...(run.opts.extraHosts.length > 0 ? { hostsPath: await extraHostsFile(run.opts.extraHosts, releases) } : {}),
          },
          resources: { memory: run.opts.memory || undefined, cpuShares: run.opts.cpuShares || undefined },
          annotations: { 'io.pier.build': 'true' },
        });
        if (cfg.WorkingDir) await mkdirInRoot(rootfs, cfg.WorkingDir);
        let cid = '';
        const code = await run.host.runContainer(
          userNetwork ? { ...spec, userNetwork } : spec,
          rootfs,
          (id) => {
            cid = id;
            spec.hostname = id.slice(0, 12);
            run.say(` ---> Running in ${id.slice(0, 12)}\n`);
          },
          (chunk) => run.say(chunk.toString('utf8')),
        );
        run.say(` ---> Removed intermediate container ${cid.slice(0, 12)}\n`);
        if (code !== 0) throw new BuildStepError(`The command '${args.join(' ')}' returned a non-zero code: ${code}`, code);
      });
      return await run.host.commitImage(state, { created_by: createdBy }, layer);
    } finally {
      for (const release of releases) await release();
      lease.release();
    }
  }, state, { createdBy, emptyLayer: false, config: state.config });
}

/** The runtime mounts of `RUN --mount=...`; `releases` unmount the stage trees `from=` mounted. */
async function runMounts(run: StepContext, ins: Instruction, mounts: RunMount[], releases: Array<() => Promise<void>>): Promise<ContainerSpec['mounts']> {
  const out: ContainerSpec['mounts'] = [];
  for (const m of mounts) {
    if (m.type === 'tmpfs') out.push({ destination: m.target!, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
    else if (m.type === 'secret') {
      const id = m.id ?? posix.basename(m.target ?? '');
      const src = run.opts.secrets?.get(id);
      if (src) out.push({ destination: m.target ?? `/run/secrets/${id}`, type: 'bind', source: src, options: ['rbind', 'ro'] });
    } else if (m.type === 'cache') {
      const dir = join(run.host.cacheMountsDir, BuildCache.key(m.id ?? m.target).slice(0, 32));
      await mkdir(dir, { recursive: true });
      out.push({ destination: m.target!, type: 'bind', source: dir, options: ['rbind', 'rw'] });
    } else if (m.type === 'bind') {
      let root = run.context.dir;
      if (m.from) {
        const tree = await run.fromTree(ins, m.from);
        releases.push(tree.release);
        root = tree.dir;
      }
      const src = await resolveInRoot(root, m.source ?? '/');
      out.push({ destination: m.target!, type: 'bind', source: src, options: ['rbind', m.rw ? 'rw' : 'ro'] });
    }
  }
  return out;
}

interface RunMount {
  type: 'cache' | 'bind' | 'tmpfs' | 'secret';
  target?: string;
  source?: string;
  id?: string;
  from?: string;
  rw: boolean;
  required: boolean;
}

function parseMount(ins: Instruction, spec: string): RunMount {
  const m: RunMount = { type: 'bind', rw: false, required: false };
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=', 2) as [string, string | undefined];
    switch (k) {
      case 'type':
        if (v !== 'cache' && v !== 'bind' && v !== 'tmpfs' && v !== 'secret') throw parseError(ins.line, `unsupported mount type ${v ?? ''}`);
        m.type = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'id':
        m.id = v;
        break;
      case 'from':
        m.from = v;
        break;
      case 'rw':
      case 'readwrite':
        m.rw = v === undefined || v === 'true';
        break;
      case 'required':
        m.required = v === undefined || v === 'true';
        break;
      default:
    }
  }
  if (m.type !== 'secret' && !m.target) throw parseError(ins.line, `mount type=${m.type} requires a target`);
  return m;
}


/** Create `dir` (and its parents) inside `rootfs`, as the command's working folder. */
async function mkdirInRoot(rootfs: string, dir: string): Promise<void> {
  const host = await resolveInRoot(rootfs, dir);
  await mkdir(host, { recursive: true, mode: 0o755 });
}

/**
 * A hosts file for a build's `--add-host name:ip` entries (`name=ip` too, as the docker CLI
 * sends them), with loopback's names; `releases` removes it after the step.
 */
async function extraHostsFile(hosts: readonly string[], releases: Array<() => Promise<void>>): Promise<string> {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const entry of hosts) {
    const at = entry.search(/[:=]/);
    if (at <= 0) throw new BuildStepError(`invalid add-host: ${entry}`, 1);
    lines.push(`${entry.slice(at + 1).replace(/^\[(.*)\]$/, '$1')}\t${entry.slice(0, at)}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'pier-build-hosts-'));
  releases.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'hosts');
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}
