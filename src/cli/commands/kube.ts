import { ApiError } from '../../client/client.js';
import type { Project } from '../../compose/compose.js';
import type { InspectedContainer, InspectedImage } from '../../kube/container.js';
import type { Workload } from '../../kube/workload.js';
import type { Cli } from '../context.js';
import { CliError } from '../errors.js';

/**
 * `pier kube generate CONTAINER...` and `pier compose kube`: Kubernetes YAML on stdout (from
 * containers through the API, or from a compose model), what did not carry over on stderr as
 * `WARNING:` lines (and as comments on top of the YAML, so a saved file keeps them).
 */

export interface KubeGenerateOptions {
  type?: string;
  replicas?: string;
}

async function print(cli: Cli, workloads: Workload[], type: 'deployment' | 'pod', header: string[]): Promise<void> {
  const { generate } = await import('../../kube/objects.js');
  const { renderObjects } = await import('../../kube/yaml.js');
  const { objects, notes } = generate(workloads, { type });
  for (const n of notes) cli.err(`WARNING: ${n}\n`);
  cli.out(renderObjects(objects, [...header, ...notes.map((n) => `WARNING: ${n}`)]));
}

export async function kubeGenerate(cli: Cli, containers: string[], o: KubeGenerateOptions): Promise<number> {
  const type = o.type ?? 'deployment';
  if (type !== 'deployment' && type !== 'pod') throw new CliError(`invalid --type ${JSON.stringify(type)}: deployment or pod`, 125);
  const replicas = o.replicas === undefined ? 1 : Number(o.replicas);
  if (!/^\d+$/.test(o.replicas ?? '1')) throw new CliError(`invalid --replicas ${JSON.stringify(o.replicas)}: a non-negative integer`, 125);
  if (type === 'pod' && o.replicas !== undefined) throw new CliError('--replicas goes with --type deployment', 125);
  const { workloadOfContainer } = await import('../../kube/container.js');
  const workloads: Workload[] = [];
  for (const name of containers) {
    // The client types only what its CLI reads of an inspect answer; the Engine API's shape is the wire's.
    const c = (await cli.client.containerInspect(name)) as unknown as InspectedContainer & { Image: string };
    let image: InspectedImage | null = null;
    try {
      image = await cli.client.imageInspect(c.Image);
    } catch (err) {
      // A container's image removed with `rmi -f`: nothing to leave out as the image's own.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    workloads.push(workloadOfContainer(c, image, replicas));
  }
  await print(cli, workloads, type, [`Kubernetes objects of ${containers.length === 1 ? 'container' : 'containers'} ${containers.join(', ')}, written by pier kube generate`]);
  return 0;
}

/** `pier compose kube`: the project `p` (its `services` only, when named). */
export async function composeKube(cli: Cli, p: Project, services: string[]): Promise<number> {
  const { projectWorkloads } = await import('../../compose/kube.js');
  await print(cli, projectWorkloads(p, services), 'deployment', [`Kubernetes objects of compose project ${p.name} (${p.configFiles.join(', ')}), written by pier compose kube`]);
  return 0;
}
