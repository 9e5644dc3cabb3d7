import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { interpolate } from './interpolate.js';
import { loadProject, normalizeProjectName } from './load.js';
import { configHash, projectDoc, renderYaml } from './render.js';

describe('interpolation', () => {
  const env: Record<string, string> = { A: 'a', EMPTY: '' };
  const lookup = (k: string) => env[k];
  test('Compose forms', () => {
    assert.equal(interpolate('$A ${A} $$A $${A}', lookup), 'a a $A ${A}');
    assert.equal(interpolate('${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-${A}x}', lookup), 'd  d ax');
    assert.equal(interpolate('${A:+alt} ${EMPTY:+alt} ${EMPTY+alt}', lookup), 'alt  alt');
    assert.throws(() => interpolate('${UNSET:?set it please}', lookup), /required variable UNSET is missing a value: set it please/);
    assert.throws(() => interpolate('${EMPTY:?}', lookup), /required variable EMPTY/);
    assert.equal(interpolate('${EMPTY?}', lookup), '');
    assert.throws(() => interpolate('cost $5', lookup), /invalid interpolation format .*escape any \$ with another \$/);
    assert.throws(() => interpolate('${A', lookup), /invalid interpolation format/);
  });
});

describe('loading a project', () => {
  let dir: string;
  const env = { PATH: '/bin', TAG: '2' } as NodeJS.ProcessEnv;
  const write = async (name: string, text: string): Promise<string> => {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'My_App.'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('project name from the directory, normalised as Compose does', () => {
    assert.equal(normalizeProjectName('My_App.x9'), 'my_appx9');
    assert.equal(normalizeProjectName('-_Web'), 'web');
  });

  test('.env, merge of -f files, long syntax, defaults', async () => {
    await write('.env', 'PORT=8080\nTAG=from-dotenv\n# comment\nQUOTED="a b"\n');
    const a = await write('compose.yaml', [
      'services:',
      '  web:',
      '    image: "web:${TAG}"',
      '    ports: ["${PORT}:80", "127.0.0.1:9000-9001:90-91/udp"]',
      '    environment: [A=1, B=2, FROM_SHELL]',
      '    volumes: [./html:/www:ro, data:/data]',
      '    command: sh -c "echo $$HOME"',
      '    labels: {team: core}',
      '    healthcheck: {test: wget -q -O- localhost, interval: 1m30s, retries: 3}',
      'volumes:',
      '  data:',
      '',
    ].join('\n'));
    const b = await write('override.yaml', 'services:\n  web:\n    environment: {B: "3", C: "${QUOTED}"}\n    ports: ["7000:70"]\n    volumes: [{type: volume, source: data, target: /www}]\n    command: [echo, hi]\n');
    const p = await loadProject({ cwd: dir, files: [a, b], env: { ...env, FROM_SHELL: 'shell' } });
    assert.equal(p.name, normalizeProjectName(dir.split('/').pop()!));
    const web = p.services.web!;
    assert.equal(web.image, 'web:2', 'the shell wins over .env');
    assert.deepEqual(web.environment, { A: '1', B: '3', FROM_SHELL: 'shell', C: 'a b' });
    assert.deepEqual(web.ports.map((x) => `${x.host_ip ?? ''}|${x.published}:${x.target}/${x.protocol}`), ['|8080:80/tcp', '127.0.0.1|9000:90/udp', '127.0.0.1|9001:91/udp', '|7000:70/tcp']);
    assert.deepEqual(web.volumes, [
      { type: 'volume', source: 'data', target: '/www', read_only: false },
      { type: 'volume', source: 'data', target: '/data', read_only: false },
    ]);
    assert.deepEqual(web.command, ['echo', 'hi']);
    assert.deepEqual(web.healthcheck, { test: ['CMD-SHELL', 'wget -q -O- localhost'], interval: 90e9, retries: 3 });
    assert.deepEqual(Object.keys(web.networks), ['default']);
    assert.equal(p.networks.default!.name, `${p.name}_default`);
    assert.equal(p.volumes.data!.name, `${p.name}_data`);
    const printed = renderYaml(projectDoc(p));
    assert.match(printed, /interval: 1m30s/);
    assert.match(printed, /name: \S+_default/);
    await rm(join(dir, '.env'));
  });

  test('extends in the same file and from another file, with its paths', async () => {
    await write('base/common.yaml', 'services:\n  base:\n    build: ./ctx\n    environment: {LEVEL: base, KEEP: yes}\n    labels: [a=1]\n');
    const f = await write('extends.yaml', [
      'name: ext',
      'services:',
      '  mid:',
      '    extends: {file: base/common.yaml, service: base}',
      '    environment: {LEVEL: mid}',
      '  top:',
      '    extends: mid',
      '    labels: {b: "2"}',
      '    command: ["true"]',
    ].join('\n'));
    const p = await loadProject({ cwd: dir, files: [f], env });
    const top = p.services.top!;
    assert.equal(p.name, 'ext');
    assert.equal(top.build!.context, join(dir, 'base', 'ctx'), 'relative to the extended file');
    assert.deepEqual(top.environment, { LEVEL: 'mid', KEEP: 'yes' });
    assert.deepEqual(top.labels, { a: '1', b: '2' });
    assert.notEqual(configHash(top), configHash(p.services.mid!));
  });

  test('include brings in another project\'s services; profiles; depends_on closure', async () => {
    await write('db/compose.yaml', 'services:\n  db:\n    image: busybox\n    volumes: [./state:/state]\n');
    const f = await write('inc.yaml', [
      'include: [db/compose.yaml]',
      'services:',
      '  app:',
      '    image: busybox',
      '    depends_on: {db: {condition: service_healthy}}',
      '  debug:',
      '    image: busybox',
      '    profiles: [dev]',
    ].join('\n'));
    const p = await loadProject({ cwd: dir, files: [f], projectName: 'inc', env });
    assert.deepEqual(Object.keys(p.services).sort(), ['app', 'db']);
    assert.deepEqual(p.disabled, ['debug']);
    assert.equal(p.services.db!.volumes[0]!.source, join(dir, 'db', 'state'));
    assert.equal(p.services.app!.depends_on.db!.condition, 'service_healthy');
    const dev = await loadProject({ cwd: dir, files: [f], projectName: 'inc', env, profiles: ['dev'] });
    assert.ok(dev.services.debug);
  });

  test('bad input names the file, the line and the key', async () => {
    const bad = async (text: string, re: RegExp, opts: { projectName?: string } = {}) => {
      const f = await write('bad.yaml', text);
      await assert.rejects(loadProject({ cwd: dir, files: [f], env, ...opts }), (err: Error) => {
        assert.match(err.message, re);
        return true;
      });
    };
    await bad('services:\n  web:\n    image: busybox\n    imagee: busybox\n', /^bad\.yaml:4: services\.web\.imagee: additional property "imagee" is not allowed$/);
    await bad('services:\n  web:\n    image: busybox\n    ports:\n      - "80:80"\n      - "x:80"\n', /^bad\.yaml:6: services\.web\.ports\.1: invalid port "x:80"/);
    await bad('services:\n  web:\n    image: busybox\n    deploy:\n      replicas: two\n', /^bad\.yaml:5: services\.web\.deploy\.replicas: must be a non-negative integer$/);
    await bad('services:\n  web:\n    image: busybox\n    volumes: [data:/data]\n', /^bad\.yaml:4: services\.web\.volumes\.0: service "web" refers to undefined volume "data"$/);
    await bad('services:\n  web:\n    image: ${NOPE:?set NOPE}\n', /^bad\.yaml:3: services\.web\.image: required variable NOPE is missing a value: set NOPE$/);
    await bad('services:\n  web:\n    image: busybox\n   bad: [\n', /^bad\.yaml:\d+: /);
    await bad('services:\n  web:\n    healthcheck:\n      interval: soon\n    image: busybox\n', /^bad\.yaml:4: services\.web\.healthcheck\.interval: invalid duration "soon"/);
    await bad('services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n', /^dependency cycle detected: a -> b -> c -> a$/);
    await bad('services:\n  a:\n    image: busybox\n', /"Bad!" is not a valid project name/, { projectName: 'Bad!' });
    await bad('services:\n  a:\n    command: ["true"]\n', /^bad\.yaml:2: services\.a: service "a" has neither an image nor a build context specified$/);
  });
});
