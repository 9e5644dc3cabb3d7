import { familiarName, parseReference, withDefaultTag } from '../images/reference.js';
import { IndexSchema, parseJsonAs } from '../images/types.js';
import type { AuthConfig } from './auth.js';
import { registryKey } from './auth.js';
import type { Distribution, DistributionDeps, DistributionInspect, PullOptions, PullResult, PushedTag, PushOptions } from './distribution.js';
import type { ProgressSink } from './progress.js';
import { sha256 } from './manifests.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { RegistryClient } from './registry.js';

/** The Distribution of pierd: pull and push over the registry client. */
export class RegistryDistribution implements Distribution {
  constructor(private readonly deps: DistributionDeps) {}

  pull(opts: PullOptions, progress: ProgressSink): Promise<PullResult> {
    return pull(this.deps, opts, progress);
  }

  push(opts: PushOptions, progress: ProgressSink): Promise<PushedTag[]> {
    return push(this.deps, opts, progress);
  }

  async inspect(reference: string, auth?: AuthConfig): Promise<DistributionInspect> {
    const ref = withDefaultTag(parseReference(reference));
    const client = new RegistryClient(ref.domain, { auth, insecure: this.deps.insecure });
    const m = await client.getManifest(ref.path, ref.digest ?? ref.tag ?? 'latest', familiarName(ref));
    const digest = sha256(m.bytes);
    const json = JSON.parse(m.bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
    const mediaType = json.mediaType ?? m.mediaType;
    const platforms: DistributionInspect['Platforms'] = [];
    if (Array.isArray(json.manifests)) {
      const index = parseJsonAs(IndexSchema, m.bytes, `index of ${familiarName(ref)}`);
      for (const d of index.manifests) {
        if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || !d.platform) continue;
        const p: DistributionInspect['Platforms'][number] = { architecture: d.platform.architecture, os: d.platform.os };
        if (d.platform.variant !== undefined) p.variant = d.platform.variant;
        platforms.push(p);
      }
    } else {
      const manifest = JSON.parse(m.bytes.toString('utf8')) as { config?: { digest?: string } };
      if (manifest.config?.digest !== undefined) {
        const { body } = await client.getBlob(ref.path, manifest.config.digest);
        const chunks: Buffer[] = [];
        for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
        const cfg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { os?: string; architecture?: string; variant?: string };
        const p: DistributionInspect['Platforms'][number] = { architecture: cfg.architecture ?? '', os: cfg.os ?? '' };
        if (cfg.variant !== undefined) p.variant = cfg.variant;
        platforms.push(p);
      }
    }
    return { Descriptor: { mediaType, digest, size: m.bytes.length }, Platforms: platforms };
  }

  async login(auth: AuthConfig): Promise<void> {
    const server = registryKey(auth.serveraddress ?? 'docker.io');
    const client = new RegistryClient(server, { auth, insecure: this.deps.insecure });
    await client.login();
  }

  async tags(repository: string, auth?: AuthConfig): Promise<string[]> {
    const ref = parseReference(repository);
    const client = new RegistryClient(ref.domain, { auth, insecure: this.deps.insecure });
    return client.listTags(ref.path);
  }
}
