/**
 * Benchmark (not a test): pull and push of a 200 MB image with five layers from Debian's
 * docker-registry on loopback, through pierd, through Docker's own engine (when
 * /work/shared/reference-docker is there), and the limit: curl | tar xzf of the same blobs,
 * all layers at once. All in one run on one machine.
 *
 *   bash bench/run-distribution.sh [--runs 3] [--no-docker]
 *
 * Each figure is the wall time of one CLI command (the docker CLI against each daemon). The
 * image: busybox plus four layers of 50 MB of base64 text (compresses about 4:3, like
 * binaries do). Cold push: a registry that has none of the blobs, from a daemon that compressed
 * none of the layers (the image loaded again), in rounds as the pulls. Pull: the
 * image Docker pushed, after removing every local copy, in rounds that pull once with each
 * engine and once with the limit, the order rotating (the machine's drift falls on all
 * alike). Needs root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { busyboxTarPath, dockerCli, run, startDaemon, type RunOptions, type RunResult } from '../test/harness.js';
import { startRegistry, type Registry } from '../test/registry.js';
import { RegistryClient } from '../src/distribution/registry.js';
import { Readable } from 'node:stream';
import { netfilterState, restoreNetfilter } from './netfilter.js';
import { check, median, wallMs } from './stats.js';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'no-docker': { type: 'boolean', default: false } } });
const RUNS = Number(opts.runs);
const results = new Map<string, number[]>();
const notes: string[] = [];


async function timed(name: string, fn: () => Promise<void>): Promise<void> {
  const ms = await wallMs(fn);
  results.set(name, [...(results.get(name) ?? []), ms]);
  process.stderr.write(`${name}: ${(ms / 1000).toFixed(2)} s\n`);
}

/** A `docker save`-style archive (manifest.json) of busybox + four 50 MB layers; returns its path, the layers and the config. */
async function makeArchive(dir: string): Promise<{ archive: string; layers: Buffer[]; config: Buffer }> {
  const layers: Buffer[] = [await readFile(await busyboxTarPath())];
  for (let i = 1; i <= 4; i++) {
    const d = join(dir, `l${i}`);
    await mkdir(join(d, 'data'), { recursive: true });
    await writeFile(join(d, 'data', `blob${i}`), randomBytes(37_500_000).toString('base64'));
    check(await run('tar', ['--owner=0', '--group=0', '--mtime=@0', '-cf', join(dir, `l${i}.tar`), '-C', d, 'data'], process.env), 'tar');
    layers.push(await readFile(join(dir, `l${i}.tar`)));
  }
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const out = join(dir, 'archive');
  await mkdir(out);
  const names: string[] = [];
  for (const [i, l] of layers.entries()) {
    await writeFile(join(out, `layer${i}.tar`), l);
    names.push(`layer${i}.tar`);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) },
      history: layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'bench' })),
    }),
  );
  await writeFile(join(out, `${sha(config)}.json`), config);
  await writeFile(join(out, 'manifest.json'), JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: ['bench/big:1'], Layers: names }]));
  const archive = join(dir, 'big.tar');
  check(await run('tar', ['-cf', archive, '-C', out, 'manifest.json', `${sha(config)}.json`, ...names], process.env), 'tar archive');
  await rm(out, { recursive: true });
  return { archive, layers, config };
}

/** Put the image into `repo:1` of a registry with uncompressed layers (an OCI manifest), as another tool would. */
async function uploadUncompressed(reg: Registry, repo: string, layers: Buffer[], config: Buffer): Promise<void> {
  const client = new RegistryClient(reg.host);
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  for (const blob of [config, ...layers]) {
    const start = await client.startUpload(repo);
    if (!start.mounted) await client.putBlob(repo, start.location, sha(blob), blob.length, Readable.from([blob]));
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(l), size: l.length })),
    }),
  );
  await client.putManifest(repo, '1', manifest, 'application/vnd.oci.image.manifest.v1+json');
}

type Docker = (args: string[], o?: RunOptions) => Promise<RunResult>;

interface Engine {
  label: string;
  docker: Docker;
}

/** RUNS rounds of `step` with every engine, the order rotating, so the machine's drift falls on all alike. */
async function inRounds(engines: Engine[], step: (e: Engine, round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round < RUNS; round++) {
    for (let k = 0; k < engines.length; k++) await step(engines[(round + k) % engines.length]!, round);
  }
}

/**
 * Cold pushes: the archive loaded and pushed to a registry of its own that has none of its
 * blobs (every layer compressed and uploaded); on the first round also pushed again to a new
 * repository of that registry. Removed afterwards.
 */
async function benchColdPushes(engines: Engine[], archive: string): Promise<void> {
  const long = { timeoutMs: 600_000 };
  await inRounds(engines, async ({ label, docker }, round) => {
    const fresh = await startRegistry();
    const refs = [`${fresh.host}/cold/big:1`, `${fresh.host}/again/big:1`, 'bench/big:1'];
    try {
      check(await docker(['load', '-i', archive], long), `${label} load`);
      check(await docker(['tag', 'bench/big:1', refs[0]!]), 'tag');
      await timed(`${label}: cold push (compress + upload)`, async () => {
        check(await docker(['push', refs[0]!], long), `${label} push`);
      });
      if (round === 0) {
        check(await docker(['tag', 'bench/big:1', refs[1]!]), 'tag');
        await timed(`${label}: push again (new repository)`, async () => {
          check(await docker(['push', refs[1]!], long), `${label} push again`);
        });
      }
    } finally {
      for (const r of refs) await docker(['rmi', '-f', r]);
      await docker(['image', 'prune', '-f']);
      await fresh.stop();
    }
  });
}

/** Cold pushes of a pulled image with uncompressed layers (an OCI image as other tools push them), in rounds as above. */
async function benchColdPushesFromPull(engines: Engine[], reg: Registry): Promise<void> {
  const long = { timeoutMs: 600_000 };
  const src = `${reg.host}/plain/big:1`;
  await inRounds(engines, async ({ label, docker }) => {
    const fresh = await startRegistry();
    const dst = `${fresh.host}/cold/big:1`;
    try {
      check(await docker(['pull', src], long), `${label} pull of the uncompressed image`);
      check(await docker(['tag', src, dst]), 'tag');
      await timed(`${label}: cold push of a pulled uncompressed image (compress + upload)`, async () => {
        check(await docker(['push', dst], long), `${label} cold push`);
      });
    } finally {
      for (const r of [dst, src]) await docker(['rmi', '-f', r]);
      await docker(['image', 'prune', '-f']);
      await fresh.stop();
    }
  });
}

/** The image the pulls pull: the archive loaded and pushed by `engine` to `reg` as `repo:1` (not timed). */
async function seed({ label, docker }: Engine, reg: Registry, archive: string, repo: string): Promise<void> {
  const long = { timeoutMs: 600_000 };
  check(await docker(['load', '-i', archive], long), `${label} load`);
  check(await docker(['tag', 'bench/big:1', `${reg.host}/${repo}:1`]), 'tag');
  check(await docker(['push', `${reg.host}/${repo}:1`], long), `${label} push`);
  for (const r of [`${reg.host}/${repo}:1`, 'bench/big:1']) await docker(['rmi', '-f', r]);
  await docker(['image', 'prune', '-f']);
}

/**
 * One pull of `pullRef` by an engine, then a run of it; on the first round, the pulled image
 * is also pushed to a registry that has none of its blobs. Removed afterwards.
 */
async function pullOnce(label: string, docker: Docker, reg2: Registry, pullRef: string, first: boolean): Promise<void> {
  const long = { timeoutMs: 600_000 };
  await timed(`${label}: pull`, async () => {
    check(await docker(['pull', pullRef], long), `${label} pull`);
  });
  check(await docker(['run', '--rm', pullRef, 'true'], long), `${label} run the pulled image`);
  if (first) {
    const ref = `${reg2.host}/${label.toLowerCase().replace(/[^a-z]/g, '')}/big:1`;
    check(await docker(['tag', pullRef, ref]), 'tag');
    await timed(`${label}: push of the pulled image to an empty registry`, async () => {
      check(await docker(['push', ref], long), `${label} push`);
    });
    await docker(['rmi', '-f', ref]);
  }
  check(await docker(['rmi', '-f', pullRef]), 'rmi');
  await docker(['image', 'prune', '-f']);
}

/**
 * The pulls: RUNS rounds, each pulling once with every engine and once with the limit, the
 * order rotating, so that the machine's drift falls on all of them alike.
 */
async function benchPulls(engines: Engine[], reg: Registry, reg2: Registry, repo: string): Promise<void> {
  const pullRef = `${reg.host}/${repo}:1`;
  const layers = await layerDigests(reg, repo, '1');
  const steps: Array<(round: number) => Promise<void>> = [
    ...engines.map((e) => (round: number) => pullOnce(e.label, e.docker, reg2, pullRef, round === 0)),
    () => limitOnce(reg, repo, layers),
  ];
  for (let round = 0; round < RUNS; round++) {
    for (let k = 0; k < steps.length; k++) await steps[(round + k) % steps.length]!(round);
  }
}

/** The layer digests of `repo:tag` in the registry. */
async function layerDigests(reg: Registry, repo: string, tag: string): Promise<string[]> {
  const m = JSON.parse(
    check(await run('curl', ['-fsS', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', `http://${reg.host}/v2/${repo}/manifests/${tag}`], process.env), 'curl manifest'),
  ) as { layers: Array<{ digest: string }> };
  return m.layers.map((l) => l.digest);
}

/** The limit: every layer blob fetched with curl and unpacked by tar xzf, all at once. */
async function limitOnce(reg: Registry, repo: string, layers: string[]): Promise<void> {
  const dir = await mkdtemp('/tmp/plim-');
  try {
    await timed('limit: curl | tar xzf (all layers at once)', async () => {
      await Promise.all(
        layers.map(async (digest, j) => {
          const out = join(dir, String(j));
          await mkdir(out);
          check(await run('bash', ['-c', `curl -fsS http://${reg.host}/v2/${repo}/blobs/${digest} | tar xzf - -C ${out}`], process.env, { timeoutMs: 600_000 }), 'curl | tar');
        }),
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp('/tmp/pbench-');
  const reg = await startRegistry();
  const reg2 = await startRegistry();
  const regSeed = await startRegistry();
  const pier = await startDaemon({ schemaProxy: false });
  try {
    const { archive, layers, config } = await makeArchive(work);
    await uploadUncompressed(reg, 'plain/big', layers, config);
    const pierDocker: Docker = (args, o) => pier.docker(args, o);
    const scripts = '/work/shared/reference-docker';
    if (!opts['no-docker'] && existsSync(join(scripts, 'start.sh'))) {
      const netfilter = await netfilterState();
      const started = check(await run('bash', [join(scripts, 'start.sh')], process.env, { timeoutMs: 600_000 }), 'reference-docker start.sh');
      try {
        const host = /DOCKER_HOST=(\S+)/.exec(started)?.[1];
        if (!host) throw new Error(`start.sh printed no DOCKER_HOST: ${started}`);
        const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')));
        const docker: Docker = (args, o) => run(dockerCli, args, { ...env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' }, o);
        const version = check(await docker(['version', '--format', '{{.Server.Version}}']), 'docker version').trim();
        notes.push(`Docker ${version} (Debian's docker.io) beside pierd; pushes and pulls in interleaved rounds (Docker, pier and, for pulls, the limit; order rotating)`);
        const engines = [{ label: 'Docker', docker }, { label: 'pier', docker: pierDocker }];
        await benchColdPushes(engines, archive);
        await benchColdPushesFromPull(engines, reg);
        // Everyone pulls the image Docker pushed, from a registry of its own (to `reg`, Docker
        // would mount the uncompressed blobs it pulled from there instead of compressing).
        await seed(engines[0]!, regSeed, archive, 'seed/big');
        await benchPulls(engines, regSeed, reg2, 'seed/big');
      } finally {
        check(await run('bash', [join(scripts, 'stop.sh')], process.env, { timeoutMs: 120_000 }), 'reference-docker stop.sh');
        await restoreNetfilter(netfilter);
      }
    } else {
      notes.push('no Docker figures (--no-docker or no reference-docker); pulls in interleaved rounds with the limit');
      const engines = [{ label: 'pier', docker: pierDocker }];
      await benchColdPushes(engines, archive);
      await benchColdPushesFromPull(engines, reg);
      await seed(engines[0]!, regSeed, archive, 'seed/big');
      await benchPulls(engines, regSeed, reg2, 'seed/big');
    }
  } finally {
    await pier.stop();
    await reg.stop();
    await reg2.stop();
    await regSeed.stop();
    await rm(work, { recursive: true, force: true });
  }
  const lines = [`image: busybox + 4 x 50 MB layers (about 200 MB uncompressed), registry on loopback, ${RUNS} runs, median`, ...notes, ''];
  for (const [name, ms] of results) lines.push(`${name.padEnd(48)} ${(median(ms) / 1000).toFixed(2)} s   (${ms.map((x) => (x / 1000).toFixed(2)).join(', ')})`);
  const get = (n: string): number | undefined => (results.has(n) ? median(results.get(n)!) : undefined);
  const pPull = get('pier: pull');
  const dPull = get('Docker: pull');
  const lim = get('limit: curl | tar xzf (all layers at once)');
  const pPush = get('pier: cold push (compress + upload)');
  const dPush = get('Docker: cold push (compress + upload)');
  const pPush2 = get('pier: push of the pulled image to an empty registry');
  const dPush2 = get('Docker: push of the pulled image to an empty registry');
  lines.push('');
  if (pPull && dPull) lines.push(`pull: pier/Docker = ${(pPull / dPull).toFixed(2)} (target <= 0.5)`);
  if (pPull && lim) lines.push(`pull: pier/limit = ${(pPull / lim).toFixed(2)} (target <= 1.25)`);
  if (pPush && dPush) lines.push(`cold push: pier/Docker = ${(pPush / dPush).toFixed(2)} (target <= 0.5)`);
  const pCold = get('pier: cold push of a pulled uncompressed image (compress + upload)');
  const dCold = get('Docker: cold push of a pulled uncompressed image (compress + upload)');
  if (pCold && dCold) lines.push(`cold push (pulled uncompressed image): pier/Docker = ${(pCold / dCold).toFixed(2)} (target <= 0.5)`);
  if (pPush2 && dPush2) lines.push(`push of a pulled image to an empty registry: pier/Docker = ${(pPush2 / dPush2).toFixed(2)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
