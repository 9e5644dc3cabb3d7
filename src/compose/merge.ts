import type { ServiceDraft } from './normalize.js';

/**
 * Compose's merge of one service's drafts (`-f a.yml -f b.yml`, `extends`): the later draft
 * wins key by key. Mappings merge by key (environment, labels, sysctls, networks,
 * depends_on, build args, deploy); volumes merge by target; ports, expose, dns, tmpfs,
 * capabilities, extra_hosts, env_file and profiles are appended without duplicates; command,
 * entrypoint, healthcheck.test and every scalar are replaced.
 */

const UNION = ['expose', 'dns', 'tmpfs', 'cap_add', 'cap_drop', 'extra_hosts', 'env_file', 'profiles'] as const;
const BY_KEY = ['environment', 'labels', 'sysctls', 'networks', 'depends_on'] as const;

function union<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] | undefined {
  if (!a) return b ? [...b] : undefined;
  if (!b) return [...a];
  const seen = new Set(a.map((x) => JSON.stringify(x)));
  return [...a, ...b.filter((x) => !seen.has(JSON.stringify(x)))];
}

export function mergeDrafts(base: ServiceDraft, over: ServiceDraft): ServiceDraft {
  const out: ServiceDraft = { ...base, ...over };
  for (const k of UNION) if (base[k] || over[k]) (out as Record<string, unknown>)[k] = union<unknown>(base[k], over[k]);
  for (const k of BY_KEY) if (base[k] || over[k]) (out as Record<string, unknown>)[k] = { ...base[k], ...over[k] };
  if (base.ports || over.ports) out.ports = union(base.ports, over.ports);
  if (base.volumes || over.volumes) {
    const byTarget = new Map((base.volumes ?? []).map((v) => [v.target, v]));
    for (const v of over.volumes ?? []) byTarget.set(v.target, v);
    out.volumes = [...byTarget.values()];
  }
  if (base.build && over.build) out.build = { ...base.build, ...over.build, args: { ...base.build.args, ...over.build.args }, labels: { ...base.build.labels, ...over.build.labels } };
  if (base.healthcheck && over.healthcheck) out.healthcheck = { ...base.healthcheck, ...over.healthcheck, test: over.healthcheck.test.length > 0 ? over.healthcheck.test : base.healthcheck.test };
  if (base.deploy && over.deploy) {
    out.deploy = {
      ...base.deploy,
      ...over.deploy,
      limits: base.deploy.limits || over.deploy.limits ? { ...base.deploy.limits, ...over.deploy.limits } : undefined,
      reservations: base.deploy.reservations || over.deploy.reservations ? { ...base.deploy.reservations, ...over.deploy.reservations } : undefined,
      update_config: base.deploy.update_config || over.deploy.update_config ? { ...base.deploy.update_config, ...over.deploy.update_config } : undefined,
    };
  }
  // `extends` is resolved before drafts merge: the result has been extended.
  delete out.extends;
  return out;
}
