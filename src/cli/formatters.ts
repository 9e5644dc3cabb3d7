import type { ContainerSummary, EventMessage, ImageHistoryItem, ImageSummary, Port } from '../client/types.js';
import { ellipsis, goQuote, goTimeString, humanSize, rfc3339, timeAgo, truncateId } from './human.js';
import { familiarName, familiarString, tryParseReference } from './reference.js';
import { goStruct } from './table.js';
import type { GoStruct } from './template/template.js';

/**
 * The rows `--format` templates see for `ps`, `images`, `history` and `events`, with the
 * fields, headers and default formats of Docker's formatters (docker/cli
 * `cli/command/formatter/container.go`, `image.go`, `image/formatter_history.go`).
 */

const QUIET_FORMAT = '{{.ID}}';

// ---------------------------------------------------------------- containers (ps)

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Names: 'NAMES',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
  Platform: 'PLATFORM',
};

const DEFAULT_CONTAINER_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

/** The format `ps` uses for its flags: `-q` wins over everything, a custom format over the default table. */
export function containerFormat(format: string | undefined, quiet: boolean, size: boolean): string {
  if (quiet) return QUIET_FORMAT;
  if (format === undefined || format === '' || format === 'table') return DEFAULT_CONTAINER_TABLE + (size ? '\t{{.Size}}' : '');
  return format;
}

function comparePorts(a: Port, b: Port): number {
  if (a.PrivatePort !== b.PrivatePort) return a.PrivatePort - b.PrivatePort;
  const ipa = a.IP ?? '';
  const ipb = b.IP ?? '';
  if (ipa !== ipb) return ipa < ipb ? -1 : 1;
  if ((a.PublicPort ?? 0) !== (b.PublicPort ?? 0)) return (a.PublicPort ?? 0) - (b.PublicPort ?? 0);
  return a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0;
}

const joinHostPort = (host: string, port: string | number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Docker's DisplayablePorts: `80/tcp, 0.0.0.0:8443->443/tcp`, consecutive ports grouped into ranges. */
export function displayablePorts(ports: readonly Port[]): string {
  const sorted = [...ports].sort(comparePorts);
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const parts = key.split('/');
    let type = parts[0]!;
    let ip = '';
    if (parts.length > 1) {
      ip = parts[0]!;
      type = parts[1]!;
    }
    let group = String(first);
    if (first !== last) group = `${group}-${last}`;
    if (ip !== '') group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const port of sorted) {
    const current = port.PrivatePort;
    let key: string = port.Type;
    if (port.IP) {
      if ((port.PublicPort ?? 0) !== current) {
        hostMappings.push(`${joinHostPort(port.IP, port.PublicPort ?? 0)}->${port.PrivatePort}/${port.Type}`);
        continue;
      }
      key = `${port.IP}/${port.Type}`;
    }
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === group.last + 1) {
      group.last = current;
      continue;
    }
    result.push(formGroup(key, group.first, group.last));
    groups.set(key, { first: current, last: current });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  result.push(...hostMappings);
  return result.join(', ');
}

/** The image column of `ps`: short ID for an image given by ID, familiar name (digest dropped) otherwise. */
function containerImage(c: ContainerSummary, trunc: boolean): string {
  if (c.Image === '') return '<no image>';
  if (!trunc) return c.Image;
  const short = truncateId(c.ImageID ?? '');
  if (short !== '' && short === truncateId(c.Image)) return short;
  const ref = tryParseReference(c.Image);
  if (!ref) return c.Image;
  return familiarString({ ...ref, digest: undefined });
}

export function containerRow(c: ContainerSummary, opts: { trunc: boolean; now?: number }): GoStruct {
  const now = opts.now ?? Date.now();
  const labels = c.Labels ?? {};
  const mounts = c.Mounts ?? [];
  return goStruct('*formatter.ContainerContext', {
    ID: () => (opts.trunc ? truncateId(c.Id) : c.Id),
    Names: () => {
      const names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
      if (opts.trunc) return names.find((n) => !n.includes('/')) ?? '';
      return names.join(',');
    },
    Image: () => containerImage(c, opts.trunc),
    Command: () => goQuote(opts.trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
    CreatedAt: () => goTimeString(c.Created),
    RunningFor: () => timeAgo(c.Created, now),
    Platform: () => null,
    Ports: () => displayablePorts(c.Ports ?? []),
    State: () => c.State,
    Status: () => c.Status,
    Size: () => {
      const rw = humanSize(c.SizeRw ?? 0);
      return (c.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSize(c.SizeRootFs!)})` : rw;
    },
    Labels: () => labelsText(labels),
    Label: (name: string) => labels[name] ?? '',
    Mounts: () => mounts.map((m) => (m.Name ? m.Name : (m.Source ?? ''))).map((n) => (opts.trunc ? ellipsis(n, 15) : n)).join(','),
    LocalVolumes: () => String(mounts.filter((m) => m.Driver === 'local').length),
    // pier sorts network names; Docker prints them in map order, which varies.
    Networks: () => Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
  });
}

/** Whether a `ps` format needs sizes from the daemon (`size=1`), as Docker detects `.Size` in use. */
export function formatUsesSize(format: string): boolean {
  return /\.Size\b/.test(format) || /json\s+\.\s*}}/.test(format) || format === 'json';
}

// ---------------------------------------------------------------- images

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

const DEFAULT_IMAGE_TABLE = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';
const DEFAULT_IMAGE_TABLE_DIGEST = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';

export function imageFormat(format: string | undefined, quiet: boolean, digests: boolean): string {
  if (format === undefined || format === '' || format === 'table') {
    if (quiet) return QUIET_FORMAT;
    return digests ? DEFAULT_IMAGE_TABLE_DIGEST : DEFAULT_IMAGE_TABLE;
  }
  if (quiet) return QUIET_FORMAT;
  if (format.startsWith('table') && digests && !format.includes('{{.Digest}}')) return `${format}\t{{.Digest}}`;
  return format;
}

function isDangling(img: ImageSummary): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return tags.length === 1 && tags[0] === '<none>:<none>' && digests.length === 1 && digests[0] === '<none>@<none>';
}

function imageRow(img: ImageSummary, repo: string, tag: string, digest: string, trunc: boolean, now: number): GoStruct {
  return goStruct('*formatter.imageContext', {
    Containers: () => (img.Containers === -1 ? 'N/A' : String(img.Containers)),
    CreatedAt: () => goTimeString(img.Created),
    CreatedSince: () => timeAgo(img.Created, now),
    Digest: () => digest,
    ID: () => (trunc ? truncateId(img.Id) : img.Id),
    Repository: () => repo,
    SharedSize: () => (img.SharedSize === -1 ? 'N/A' : humanSize(img.SharedSize, 4)),
    Size: () => humanSize(img.Size),
    Tag: () => tag,
    UniqueSize: () => (img.Size === -1 || img.SharedSize === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize, 4)),
    VirtualSize: () => humanSize(img.Size, 4),
  });
}

/**
 * One row per repository and tag (and per digest when digests are shown), as Docker's
 * imageFormat does; a dangling image is one `<none>` row. Repositories keep the order of
 * the daemon's RepoTags (Docker's order varies from run to run).
 */
export function imageRows(images: readonly ImageSummary[], opts: { trunc: boolean; digests: boolean; format: string; now?: number }): GoStruct[] {
  const now = opts.now ?? Date.now();
  const needDigest = opts.digests || opts.format.includes('{{.Digest}}');
  const rows: GoStruct[] = [];
  for (const img of images) {
    if (isDangling(img)) {
      rows.push(imageRow(img, '<none>', '<none>', '<none>', opts.trunc, now));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      const ref = tryParseReference(t);
      if (!ref || ref.tag === undefined) continue;
      const name = familiarName(ref);
      repoTags.set(name, [...(repoTags.get(name) ?? []), ref.tag]);
    }
    for (const d of img.RepoDigests ?? []) {
      const ref = tryParseReference(d);
      if (!ref || ref.digest === undefined) continue;
      const name = familiarName(ref);
      repoDigests.set(name, [...(repoDigests.get(name) ?? []), ref.digest]);
    }
    for (const [repo, tags] of repoTags) {
      const digests = needDigest ? (repoDigests.get(repo) ?? []) : [];
      repoDigests.delete(repo);
      for (const tag of tags) {
        if (digests.length === 0) rows.push(imageRow(img, repo, tag, '<none>', opts.trunc, now));
        else for (const d of digests) rows.push(imageRow(img, repo, tag, d, opts.trunc, now));
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (opts.digests) for (const d of digests) rows.push(imageRow(img, repo, '<none>', d, opts.trunc, now));
      else rows.push(imageRow(img, repo, '<none>', '', opts.trunc, now));
    }
  }
  return rows;
}

// ---------------------------------------------------------------- history

export const HISTORY_HEADERS: Record<string, string> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

export function historyFormat(format: string | undefined, quiet: boolean, human: boolean): string {
  if (format === undefined || format === '' || format === 'table') {
    if (quiet) return QUIET_FORMAT;
    return human
      ? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}'
      : 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
  }
  return format;
}

/** Before 2000-01-01 a layer's creation time is not shown in human units (it is a placeholder). */
const HISTORY_EPOCH = Date.UTC(2000, 0, 1) / 1000;

export function historyRow(h: ImageHistoryItem, opts: { trunc: boolean; human: boolean; now?: number }): GoStruct {
  const now = opts.now ?? Date.now();
  return goStruct('*image.historyContext', {
    ID: () => (opts.trunc ? truncateId(h.Id) : h.Id),
    CreatedAt: () => rfc3339(h.Created),
    CreatedSince: () => {
      if (!opts.human) return rfc3339(h.Created);
      if (h.Created <= HISTORY_EPOCH) return '';
      return timeAgo(h.Created, now);
    },
    CreatedBy: () => {
      const by = h.CreatedBy.replace(/\t/g, ' ');
      return opts.trunc ? ellipsis(by, 45) : by;
    },
    Size: () => (opts.human ? humanSize(h.Size) : String(h.Size)),
    Comment: () => h.Comment,
  });
}

// ---------------------------------------------------------------- events

/** An event as Docker's templates see it: Go field names (`.Status`, `.ID`, `.Actor.ID`, `.TimeNano`). */
export function eventRow(e: EventMessage): Record<string, unknown> {
  const row: Record<string, unknown> = {
    Status: e.status ?? '',
    ID: e.id ?? '',
    From: e.from ?? '',
    Type: e.Type,
    Action: e.Action,
    Actor: { ID: e.Actor?.ID ?? '', Attributes: e.Actor?.Attributes ?? {} },
    Scope: e.scope ?? '',
    Time: e.time ?? 0,
    TimeNano: e.timeNano ?? 0,
  };
  // `{{json .}}` prints the message as the daemon sent it.
  Object.defineProperty(row, 'toJSON', { enumerable: false, value: () => e });
  return row;
}

/** The `Labels` column of Docker's tables: `k=v` pairs, sorted, comma-joined. */
export function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');
}
