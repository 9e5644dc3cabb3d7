import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageInspect, ImageSummary } from '../images/types.js';
import { imageInspectFor, imageSummariesFor, inspectConfig } from './image-versions.js';

const inspect: ImageInspect = {
  Id: 'sha256:' + 'a'.repeat(64),
  RepoTags: ['web:1.0'],
  RepoDigests: [],
  Parent: '',
  Comment: '',
  Created: '2024-01-02T03:04:05Z',
  Author: '',
  Config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { team: 'core' }, Volumes: {}, User: '' },
  Architecture: 'amd64',
  Os: 'linux',
  Size: 42,
  GraphDriver: { Name: 'overlay2', Data: null },
  RootFS: { Type: 'layers', Layers: [] },
  Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
};

void test('image inspect as API 1.51 shows it: the OCI fields that are set, no fields of older versions but ContainerConfig', () => {
  const out = imageInspectFor(inspect, '1.51');
  assert.deepEqual(out.Config, { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { team: 'core' } });
  assert.equal('VirtualSize' in out, false);
  assert.equal('Container' in out, false);
  assert.deepEqual(out.ContainerConfig, out.Config, 'kept for docker-compose 1.29, which reads it');
});

void test('image inspect as API 1.43 shows it: Docker container config shape, VirtualSize, the classic builder fields in Docker order', () => {
  const out = imageInspectFor(inspect, '1.43');
  const cfg = out.Config as Record<string, unknown>;
  assert.equal(cfg.Hostname, '');
  assert.deepEqual(cfg.Cmd, ['sh']);
  assert.equal(cfg.Entrypoint, null);
  assert.equal(out.VirtualSize, 42);
  assert.equal(out.DockerVersion, '');
  assert.equal(out.Container, '');
  assert.deepEqual((out.ContainerConfig as { Cmd: unknown }).Cmd, ['sh']);
  assert.deepEqual(Object.keys(out).slice(0, 10), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author']);
});

void test('API 1.44 has VirtualSize gone but the classic builder fields still there', () => {
  const out = imageInspectFor(inspect, '1.44');
  assert.equal('VirtualSize' in out, false);
  assert.equal(out.Container, '');
});

void test('an empty config below 1.50 keeps its empty defaults; from 1.50 it is empty', () => {
  assert.deepEqual(inspectConfig(null, '1.51'), {});
  assert.equal(inspectConfig(null, '1.49').WorkingDir, '');
});

void test('image list before API 1.44: a dangling image shows <none>, every summary a VirtualSize', () => {
  const summary: ImageSummary = { Id: 'sha256:' + 'b'.repeat(64), ParentId: '', RepoTags: [], RepoDigests: [], Created: 1, Size: 7, SharedSize: -1, Labels: {}, Containers: -1 };
  const tagged: ImageSummary = { ...summary, RepoTags: ['x:1'] };
  assert.deepEqual(imageSummariesFor([summary, tagged], '1.51'), [summary, tagged]);
  const [old, oldTagged] = imageSummariesFor([summary, tagged], '1.43');
  assert.deepEqual(old!.RepoTags, ['<none>:<none>']);
  assert.deepEqual(old!.RepoDigests, ['<none>@<none>']);
  assert.equal(old!.VirtualSize, 7);
  assert.deepEqual(oldTagged!.RepoTags, ['x:1']);
});
