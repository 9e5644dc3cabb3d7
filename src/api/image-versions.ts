import type { ImageConfig, ImageInspect, ImageSummary } from '../images/types.js';
import { compareVersions } from './streams.js';

/**
 * The image answers shaped for the API version of the request. The images part answers in
 * the newest shape (with the image's config as stored); these functions add, drop and
 * reshape what older versions show, as moby's image router does. They read the answer and
 * return a new one.
 */

const OCI_CONFIG_FIELDS = [
  'User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell',
] as const;

/**
 * The `Config` of image inspect. API 1.50+ shows the OCI fields that are set; older APIs
 * show Docker's container config shape with its empty defaults.
 */
export function inspectConfig(cfg: ImageConfig | null | undefined, apiVersion: string): Record<string, unknown> {
  const c: ImageConfig = cfg ?? {};
  const out: Record<string, unknown> = {};
  if (compareVersions(apiVersion, '1.50') >= 0) {
    for (const k of OCI_CONFIG_FIELDS) {
      const v = c[k];
      if (v === undefined || v === null || v === '' || v === false) continue;
      if (Array.isArray(v) && v.length === 0 && k !== 'Cmd' && k !== 'Entrypoint') continue;
      if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
      out[k] = v;
    }
    return out;
  }
  Object.assign(out, {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
  });
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length > 0) out.ExposedPorts = c.ExposedPorts;
  Object.assign(out, { Tty: false, OpenStdin: false, StdinOnce: false, Env: c.Env ?? null, Cmd: c.Cmd ?? null });
  if (c.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c.ArgsEscaped) out.ArgsEscaped = true;
  Object.assign(out, {
    Image: '',
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
  });
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.Shell?.length) out.Shell = c.Shell;
  return out;
}

const INSPECT_KEY_ORDER = [
  'Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author', 'Config',
  'Architecture', 'Variant', 'Os', 'OsVersion', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata',
];

/** `GET /images/{name}/json` as the given API version shows it. */
export function imageInspectFor(inspect: ImageInspect, apiVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...inspect, Config: inspectConfig(inspect.Config, apiVersion) };
  if (compareVersions(apiVersion, '1.44') < 0) out.VirtualSize = inspect.Size;
  if (compareVersions(apiVersion, '1.45') < 0) {
    // Fields of the classic builder, removed in API 1.45: empty for images pier makes.
    out.Container = '';
    out.DockerVersion = inspect.DockerVersion ?? '';
  }
  // ContainerConfig, also removed in 1.45, stays in every version: docker-compose 1.29 reads
  // its Volumes to carry an image's anonymous volumes over to a recreated container, and fails
  // with KeyError 'ContainerConfig' without it. It is the image's own config, so those volumes
  // are carried over (Docker's classic builder gave the config of the last build step's
  // container, which holds the same Volumes).
  out.ContainerConfig = inspectConfig(inspect.Config, apiVersion);
  return orderKeys(out, INSPECT_KEY_ORDER);
}

/**
 * `GET /images/json` as the given API version shows it: before 1.44 a dangling image shows
 * `<none>:<none>` and `<none>@<none>`, and every summary a VirtualSize.
 */
export function imageSummariesFor(list: ImageSummary[], apiVersion: string): Array<ImageSummary & { VirtualSize?: number }> {
  if (compareVersions(apiVersion, '1.44') >= 0) return list;
  return list.map((s) => {
    const dangling = s.RepoTags.length === 0 && s.RepoDigests.length === 0;
    return { ...s, ...(dangling ? { RepoDigests: ['<none>@<none>'], RepoTags: ['<none>:<none>'] } : {}), VirtualSize: s.Size };
  });
}

function orderKeys(src: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of order) if (k in src) out[k] = src[k];
  for (const k of Object.keys(src)) if (!(k in out)) out[k] = src[k];
  return out;
}
