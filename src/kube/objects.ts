// The Kubernetes shapes are kubernetes-models' (generated from Kubernetes' OpenAPI schemas), a
// dev-dependency imported for its types only: nothing of it is loaded at run time.
import type { IDeployment, IDeploymentStrategy } from 'kubernetes-models/apps/v1';
import type { IConfigMap, IContainer, IContainerPort, IEnvFromSource, IEnvVar, IHostAlias, IPersistentVolumeClaim, IPod, IPodSpec, IProbe, IResourceRequirements, ISecurityContext, IService, IServicePort, IVolume, IVolumeMount } from 'kubernetes-models/v1';
import { dnsLabel, LabelSet } from './names.js';
import type { EnvFile, Workload, WorkloadHealth, WorkloadPort } from './workload.js';

/**
 * Workloads as Kubernetes objects (what `pier compose kube` and `pier kube generate` print):
 *
 *   - per workload a Deployment (its replicas) or, with `type: 'pod'`, a Pod (its restart
 *     policy), whose one container has the image, entrypoint (`command`), cmd (`args`), env,
 *     working directory, ports, numeric user, capabilities, limits (`resources.limits`) and
 *     reservations (`resources.requests`), and the health check as an exec liveness and
 *     readiness probe with Docker's timings;
 *   - a ClusterIP Service named like the workload with every port by its container port, so
 *     that `http://web:80` answers in the cluster as on a compose network; and for published
 *     ports a LoadBalancer Service `<name>-published` listening on the published (host) port:
 *     what the host's `-p 8080:80` was, on the cluster's edge (where no load balancer exists,
 *     Kubernetes still gives it a node port);
 *   - a PersistentVolumeClaim per named volume (ReadWriteOnce, `DEFAULT_CLAIM_SIZE`), named
 *     after the engine's volume; anonymous volumes and tmpfs become emptyDirs (tmpfs in memory),
 *     bind mounts hostPath volumes;
 *   - a ConfigMap per env file, given to the container with `envFrom` (variables set on the
 *     container itself stay in `env`, which wins, as `environment:` wins in Compose).
 *
 * Every name is an RFC 1035 label (names.ts). Pure: the same workloads give the same objects.
 * What does not carry over is said in `notes`, one sentence each, never silently dropped.
 */

export type KubeObject = IDeployment | IPod | IService | IPersistentVolumeClaim | IConfigMap;

export interface GenerateOptions {
  /** A Deployment per workload (default), or a bare Pod. */
  type?: 'deployment' | 'pod';
}

export interface Generated {
  /** ConfigMaps, PersistentVolumeClaims, Services, then the workloads, in the workloads' order. */
  objects: KubeObject[];
  notes: string[];
}

/** Docker volumes have no size; a claim asks for this much. */
export const DEFAULT_CLAIM_SIZE = '1Gi';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';

/** Docker's health check defaults (moby's): what a check that names no timing gets. */
const DOCKER_HEALTH = { interval: 30e9, timeout: 30e9, retries: 3 };

/** CPUs (`0.5`) as a Kubernetes quantity: whole CPUs, else millicores (`500m`), at least `1m`. */
export function cpuQuantity(cpus: number): string {
  const milli = Math.max(1, Math.round(cpus * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes as a Kubernetes quantity: `Gi`, `Mi` or `Ki` when they divide it, else plain bytes. */
export function memoryQuantity(bytes: number): string {
  for (const [suffix, unit] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  return String(bytes);
}

/**
 * A string Kubernetes will not expand: it replaces `$(VAR)` in command, args and env values
 * with the variable, and `$$` with `$`, so each `$` before `$` or `(` is doubled.
 */
export function literal(s: string): string {
  return s.replace(/\$(?=[$(])/g, '$$$$');
}

/** Nanoseconds as whole seconds, rounded up, at least 1; Docker's 0 is `dflt`. */
function seconds(ns: number | undefined, dflt: number): number {
  return Math.max(1, Math.ceil((ns || dflt) / 1e9));
}

/** Docker's health check as a Kubernetes exec probe with its timings. */
export function probeOf(h: WorkloadHealth): IProbe {
  const command = h.test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', h.test.slice(1).join(' ')] : h.test.slice(1);
  const probe: IProbe = {
    exec: { command },
    periodSeconds: seconds(h.interval, DOCKER_HEALTH.interval),
    timeoutSeconds: seconds(h.timeout, DOCKER_HEALTH.timeout),
    failureThreshold: h.retries || DOCKER_HEALTH.retries,
  };
  if (h.startPeriod) probe.initialDelaySeconds = Math.ceil(h.startPeriod / 1e9);
  return probe;
}

function protocolOf(p: WorkloadPort): 'TCP' | 'UDP' {
  return p.protocol === 'udp' ? 'UDP' : 'TCP';
}

/** A host address that only the machine itself reaches: such a port is not published beyond it. */
function loopback(ip: string | undefined): boolean {
  return ip !== undefined && (/^127\./.test(ip) || ip === '::1' || ip === 'localhost');
}

/** Docker's `user[:group]` as a securityContext, when numeric. */
function userContext(w: Workload, notes: string[]): ISecurityContext {
  const ctx: ISecurityContext = {};
  if (w.user === undefined || w.user === '') return ctx;
  const [user = '', group] = w.user.split(':');
  if (/^\d+$/.test(user)) ctx.runAsUser = Number(user);
  else notes.push(`${w.name}: user ${JSON.stringify(user)} is a name; Kubernetes takes numeric IDs (securityContext.runAsUser), so the image's user applies`);
  if (group !== undefined) {
    if (/^\d+$/.test(group)) ctx.runAsGroup = Number(group);
    else notes.push(`${w.name}: group ${JSON.stringify(group)} is a name; Kubernetes takes numeric IDs (securityContext.runAsGroup), so it is left out`);
  }
  return ctx;
}

function securityContext(w: Workload, notes: string[]): ISecurityContext | undefined {
  const ctx = userContext(w, notes);
  if (w.privileged) ctx.privileged = true;
  if (w.readOnlyRootfs) ctx.readOnlyRootFilesystem = true;
  const cap = (c: string): string => c.toUpperCase().replace(/^CAP_/, '');
  if (w.capAdd.length > 0 || w.capDrop.length > 0) {
    ctx.capabilities = {};
    if (w.capAdd.length > 0) ctx.capabilities.add = w.capAdd.map(cap);
    if (w.capDrop.length > 0) ctx.capabilities.drop = w.capDrop.map(cap);
  }
  return Object.keys(ctx).length > 0 ? ctx : undefined;
}

function resources(w: Workload): IResourceRequirements | undefined {
  const r: IResourceRequirements = {};
  const quantities = (x: { cpus?: number; memory?: number }): Record<string, string> | undefined => {
    const q: Record<string, string> = {};
    if (x.cpus !== undefined && x.cpus > 0) q.cpu = cpuQuantity(x.cpus);
    if (x.memory !== undefined && x.memory > 0) q.memory = memoryQuantity(x.memory);
    return Object.keys(q).length > 0 ? q : undefined;
  };
  const limits = quantities(w.limits);
  const requests = quantities(w.reservations);
  if (limits) r.limits = limits;
  if (requests) r.requests = requests;
  return limits || requests ? r : undefined;
}

/** Docker's `--add-host name:ip` entries as hostAliases, one per address. */
function hostAliases(w: Workload, notes: string[]): IHostAlias[] | undefined {
  const byIp = new Map<string, string[]>();
  for (const entry of w.extraHosts) {
    const m = /^([^:=]+)[:=](.+)$/.exec(entry);
    if (!m) continue;
    const [, host, ip] = m as unknown as [string, string, string];
    if (ip === 'host-gateway') {
      notes.push(`${w.name}: extra host ${host}:host-gateway names the Docker host, which a cluster does not have; left out`);
      continue;
    }
    byIp.set(ip, [...(byIp.get(ip) ?? []), host]);
  }
  return byIp.size > 0 ? [...byIp].map(([ip, hostnames]) => ({ ip, hostnames })) : undefined;
}

/** Pod restartPolicy from Docker's restart policy name. */
function restartPolicy(name: string | undefined): 'Always' | 'OnFailure' | 'Never' {
  if (name === 'always' || name === 'unless-stopped') return 'Always';
  if (name === 'on-failure') return 'OnFailure';
  return 'Never';
}

/** The objects for `workloads`. */
export function generate(workloads: readonly Workload[], opts: GenerateOptions = {}): Generated {
  const type = opts.type ?? 'deployment';
  const notes: string[] = [];
  const workloadNames = new LabelSet();
  const configMapNames = new LabelSet();
  const claimNames = new LabelSet();
  const configMaps = new Map<string, IConfigMap>();
  const claims = new Map<string, IPersistentVolumeClaim>();
  const services: IService[] = [];
  const runs: (IDeployment | IPod)[] = [];

  const configMapOf = (f: EnvFile, labels: Record<string, string>): string => {
    let cm = configMaps.get(f.path);
    if (!cm) {
      const base = f.path.split('/').pop() ?? 'env';
      cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: configMapNames.take(base), labels }, data: { ...f.values } };
      configMaps.set(f.path, cm);
    }
    return cm.metadata!.name!;
  };
  /** The claim of engine volume `source`, made once for all workloads. */
  const claimOf = (source: string, labels: Record<string, string>): string => {
    let pvc = claims.get(source);
    if (!pvc) {
      pvc = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claimNames.take(source), labels }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: DEFAULT_CLAIM_SIZE } } } };
      claims.set(source, pvc);
    }
    return pvc.metadata!.name!;
  };

  for (const w of workloads) {
    notes.push(...w.notes);
    const name = workloadNames.take(w.name);
    if (name !== w.name) notes.push(`${w.name}: named ${name} in Kubernetes (names there are lower-case DNS labels); whatever reaches it by its old name must use the new one`);
    const shared: Record<string, string> = w.project !== undefined ? { [LABEL_PART_OF]: w.project } : {};
    const labels: Record<string, string> = { [LABEL_NAME]: name, ...shared };

    // Environment: env files through ConfigMaps, the container's own variables beside them.
    const fromFiles: Record<string, string> = {};
    for (const f of w.envFiles) Object.assign(fromFiles, f.values);
    const env: IEnvVar[] = Object.entries(w.env)
      .filter(([k, v]) => fromFiles[k] !== v)
      .map(([k, v]) => ({ name: k, value: literal(v) }));
    const envFrom: IEnvFromSource[] = w.envFiles.map((f) => ({ configMapRef: { name: configMapOf(f, shared) } }));

    // Ports: each container port once; the published ones again on their host port.
    const containerPorts: IContainerPort[] = [];
    const clusterPorts: IServicePort[] = [];
    const publishedPorts: IServicePort[] = [];
    const seen = new Set<string>();
    const seenPublished = new Set<string>();
    for (const p of w.ports) {
      const key = `${p.protocol}/${p.target}`;
      if (!seen.has(key)) {
        seen.add(key);
        containerPorts.push({ containerPort: p.target, protocol: protocolOf(p) });
        clusterPorts.push({ name: `${p.protocol}-${p.target}`, port: p.target, targetPort: p.target, protocol: protocolOf(p) });
      }
      if (!p.published) continue;
      if (loopback(p.hostIp)) {
        notes.push(`${w.name}: port ${p.hostIp}:${p.hostPort ?? ''}->${p.target}/${p.protocol} is published on the loopback address only; in the cluster it is reached through Service ${name}, not published`);
        continue;
      }
      const port = p.hostPort ?? p.target;
      const pkey = `${p.protocol}/${port}`;
      if (seenPublished.has(pkey)) continue;
      seenPublished.add(pkey);
      publishedPorts.push({ name: `${p.protocol}-${port}`, port, targetPort: p.target, protocol: protocolOf(p) });
    }
    if (clusterPorts.length > 0) services.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels }, spec: { type: 'ClusterIP', selector: labels, ports: clusterPorts } });
    if (publishedPorts.length > 0) {
      services.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${dnsLabel(name, 63 - '-published'.length)}-published`, labels }, spec: { type: 'LoadBalancer', selector: labels, ports: publishedPorts } });
    }

    // Mounts.
    const volumeNames = new LabelSet();
    const volumes: IVolume[] = [];
    const volumeMounts: IVolumeMount[] = [];
    let sharedClaim = false;
    for (const m of w.mounts) {
      let volume: IVolume;
      if (m.type === 'volume' && m.source !== undefined) {
        const claimName = m.external ? dnsLabel(m.source) : claimOf(m.source, shared);
        if (m.external) notes.push(`${w.name}: volume ${m.source} is external; no PersistentVolumeClaim is written for it: the cluster needs a claim named ${claimName}`);
        volume = { name: volumeNames.take(claimName), persistentVolumeClaim: { claimName, ...(m.readOnly ? { readOnly: true } : {}) } };
        sharedClaim = true;
      } else if (m.type === 'volume') {
        notes.push(`${w.name}: the anonymous volume at ${m.target} becomes an emptyDir: its data lives as long as the Pod`);
        volume = { name: volumeNames.take(`${m.target}-data`), emptyDir: {} };
      } else if (m.type === 'bind') {
        notes.push(`${w.name}: bind mount ${m.source ?? ''} -> ${m.target} becomes a hostPath volume: the files stay on this machine, a cluster's node has its own (copy them into the image or a volume)`);
        volume = { name: volumeNames.take(`${m.source ?? m.target}-host`), hostPath: { path: m.source ?? m.target } };
      } else {
        volume = { name: volumeNames.take(`${m.target}-tmpfs`), emptyDir: { medium: 'Memory', ...(m.sizeBytes ? { sizeLimit: memoryQuantity(m.sizeBytes) } : {}) } };
      }
      volumes.push(volume);
      volumeMounts.push({ name: volume.name, mountPath: m.target, ...(m.readOnly ? { readOnly: true } : {}) });
    }
    if (sharedClaim && w.replicas > 1 && type === 'deployment') {
      notes.push(`${w.name}: its ${w.replicas} replicas share a ReadWriteOnce claim, which only Pods on one node can mount; give the claim a ReadWriteMany storage class to spread them`);
    }

    if (w.networkMode?.startsWith('container:') || w.networkMode?.startsWith('service:')) {
      notes.push(`${w.name}: network_mode ${w.networkMode} shares another container's network; in Kubernetes only containers of one Pod do, so it gets a network of its own`);
    }

    const container: IContainer = { name, image: w.image };
    if (w.entrypoint !== undefined && w.entrypoint.length > 0) container.command = w.entrypoint.map(literal);
    if (w.cmd !== undefined && w.cmd.length > 0) container.args = w.cmd.map(literal);
    if (w.workingDir) container.workingDir = w.workingDir;
    if (env.length > 0) container.env = env;
    if (envFrom.length > 0) container.envFrom = envFrom;
    if (containerPorts.length > 0) container.ports = containerPorts;
    const res = resources(w);
    if (res) container.resources = res;
    if (w.health) {
      container.livenessProbe = probeOf(w.health);
      container.readinessProbe = probeOf(w.health);
    }
    const sec = securityContext(w, notes);
    if (sec) container.securityContext = sec;
    if (volumeMounts.length > 0) container.volumeMounts = volumeMounts;
    if (w.tty) container.tty = true;
    if (w.stdinOpen) container.stdin = true;

    const podSpec: IPodSpec = { containers: [container] };
    if (volumes.length > 0) podSpec.volumes = volumes;
    if (w.stopGracePeriod !== undefined) podSpec.terminationGracePeriodSeconds = w.stopGracePeriod;
    if (w.networkMode === 'host') podSpec.hostNetwork = true;
    const aliases = hostAliases(w, notes);
    if (aliases) podSpec.hostAliases = aliases;

    if (type === 'pod') {
      if (w.replicas !== 1) notes.push(`${w.name}: a Pod runs once; its ${w.replicas} replicas need --type deployment`);
      runs.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { ...podSpec, restartPolicy: restartPolicy(w.restart) } });
    } else {
      // compose's update order: start-first starts each successor before its predecessor stops.
      const strategy: IDeploymentStrategy | undefined = w.update && {
        type: 'RollingUpdate',
        rollingUpdate: w.update.order === 'start-first' ? { maxSurge: w.update.parallelism, maxUnavailable: 0 } : { maxSurge: 0, maxUnavailable: w.update.parallelism },
      };
      runs.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, labels },
        spec: { replicas: w.replicas, selector: { matchLabels: labels }, ...(strategy ? { strategy } : {}), template: { metadata: { labels }, spec: podSpec } },
      });
    }
  }
  return { objects: [...configMaps.values(), ...claims.values(), ...services, ...runs], notes };
}
