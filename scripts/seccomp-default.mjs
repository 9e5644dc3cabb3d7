#!/usr/bin/env node
// seccomp-default.mjs: make or check src/runtime/seccomp-default.json, pier's default seccomp
// profile, as the conversion (src/runtime/seccomp.ts convertDockerProfile) of Docker's
// default profile. Run after `npm run build`:
//
//   node scripts/seccomp-default.mjs --check SOURCE.json   exit 1 unless the shipped file is
//                                                           the conversion of SOURCE.json
//   node scripts/seccomp-default.mjs --write SOURCE.json   write it (the `source` fields below
//                                                           name the file it was taken from)
//
// SOURCE.json is moby/profiles seccomp/default.json at the version named below (in moby/moby
// it is vendor/github.com/moby/profiles/seccomp/default.json; before v28.2 it was
// profiles/seccomp/default.json). Its sha256 must match the one recorded.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(repo, 'src/runtime/seccomp-default.json');
const SOURCE = {
  repository: 'moby/profiles',
  path: 'seccomp/default.json',
  version: 'v0.2.3',
  commit: 'moby/moby b985e2313a8676e18072b442911fc8f64f17d440 (vendor/github.com/moby/profiles/seccomp/default.json)',
  license: 'Apache-2.0, Copyright The Moby Authors',
};

const [mode, sourcePath] = process.argv.slice(2);
if ((mode !== '--check' && mode !== '--write') || !sourcePath) {
  console.error('usage: node scripts/seccomp-default.mjs --check|--write SOURCE.json');
  process.exit(2);
}
const { convertDockerProfile } = await import(join(repo, 'dist/src/runtime/seccomp.js'));
const text = readFileSync(sourcePath);
const sha256 = createHash('sha256').update(text).digest('hex');
const converted = { source: { ...SOURCE, sha256 }, ...convertDockerProfile(text.toString('utf8')) };
const out = `${JSON.stringify(converted, null, 1)}\n`;
if (mode === '--write') {
  writeFileSync(target, out);
  console.log(`wrote ${target} from ${sourcePath} (sha256 ${sha256})`);
} else {
  const shipped = readFileSync(target, 'utf8');
  const recorded = JSON.parse(shipped).source?.sha256;
  if (recorded !== sha256) {
    console.error(`${sourcePath} has sha256 ${sha256}; ${target} was converted from ${recorded}`);
    process.exit(1);
  }
  if (shipped !== out) {
    console.error(`${target} is not the conversion of ${sourcePath}: run --write`);
    process.exit(1);
  }
  console.log(`${target} is the conversion of ${sourcePath} (sha256 ${sha256})`);
}
