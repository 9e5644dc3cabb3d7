import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchSocket, startDaemon, type Daemon } from './harness.js';

/** Every endpoint of API v1.51 answers: what pier does not serve says so as Docker does outside a swarm. */
describe('the API surface', () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  test('swarm endpoints answer 503 as on a node outside a swarm; plugins list empty; the rest 501 with its name', async () => {
    const leave = await fetchSocket(d.socket, 'POST', '/v1.51/swarm/leave?force=true');
    assert.equal(leave.status, 503);
    assert.match(leave.body, /This node is not part of a swarm/);
    for (const path of ['/v1.51/swarm', '/v1.51/services', '/v1.51/nodes', '/v1.51/tasks', '/v1.51/secrets', '/v1.51/configs/abc']) {
      const r = await fetchSocket(d.socket, 'GET', path);
      assert.equal(r.status, 503, path);
      assert.match(r.body, /This node is not a swarm manager/, path);
    }
    const plugins = await fetchSocket(d.socket, 'GET', '/v1.51/plugins');
    assert.equal(plugins.status, 200);
    assert.deepEqual(JSON.parse(plugins.body), []);
    assert.equal((await fetchSocket(d.socket, 'GET', '/v1.51/plugins/vieux/sshfs:latest/json')).status, 404);
    const search = await fetchSocket(d.socket, 'GET', '/v1.51/images/search?term=busybox');
    assert.equal(search.status, 501);
    assert.match(search.body, /image search \(GET \/images\/search\) is not served by pier/);
    // A path outside the API stays unknown.
    assert.equal((await fetchSocket(d.socket, 'GET', '/v1.51/nosuch')).status, 404);
    // docker swarm leave through the CLI reads the same answer.
    const cli = await d.docker(['swarm', 'leave', '--force']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /This node is not part of a swarm/);
  });
});
