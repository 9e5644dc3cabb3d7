import type { Declarer, Handler } from './declare.js';

/** The `kube` management command (podman's `kube generate`; `pier compose kube` is declared with compose). */

const kubeMod = () => import('../kube.js');

export function defKube(d: Declarer): void {
  const kube = d.program.command('kube').usage('COMMAND').description('Write Kubernetes YAML for containers');
  d.nameCommands(kube);
  kube
    .command('generate')
    .usage('[OPTIONS] CONTAINER [CONTAINER...]')
    .description('Generate Kubernetes YAML (Deployments, Services, PersistentVolumeClaims) from containers')
    .argument('<containers...>')
    .option('-t, --type <type>', 'Kind of workload to generate: deployment or pod', 'deployment')
    .option('-r, --replicas <n>', 'Replicas of each Deployment', undefined)
    .action(d.act(kubeMod, (m) => m.kubeGenerate as Handler));
}
