import { EngineError, notImplemented } from '../../errors.js';
import type { Router } from '../router.js';

/**
 * The endpoints of API v1.51 that pier does not serve, answered as Docker answers on a node
 * that is not in a swarm, so that clients get a clear status and message instead of "page
 * not found" (docker-py calls `POST /swarm/leave?force=true` in its
 * teardowns, docker-compose asks `GET /swarm` to learn whether it runs in a swarm):
 *
 * - swarm, nodes, services, tasks, secrets and configs: 503 with Docker's messages;
 * - the rest (`/images/search`, `/containers/{id}/attach/ws`, `/session`): 501 naming the endpoint.
 *
 * Register these after every served route: a route pier serves wins over them.
 */
export function registerUnservedRoutes(r: Router): void {
  const notManager = (): Promise<void> =>
    Promise.reject(new EngineError('unavailable', 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'));
  const notInSwarm = (): Promise<void> => Promise.reject(new EngineError('unavailable', 'This node is not part of a swarm'));
  const unserved = (what: string) => (): Promise<void> => Promise.reject(notImplemented(`${what} is not served by pier`));

  r.get('/swarm', notManager);
  r.post('/swarm/leave', notInSwarm);
  r.post('/swarm/update', notManager);
  r.get('/swarm/unlockkey', notManager);
  r.post('/swarm/unlock', notInSwarm);
  r.post('/swarm/init', unserved('swarm mode (POST /swarm/init): pier runs multi-container applications with `pier compose`'));
  r.post('/swarm/join', unserved('swarm mode (POST /swarm/join): pier runs multi-container applications with `pier compose`'));
  for (const kind of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    r.get(`/${kind}`, notManager);
    r.get(`/${kind}/{id}`, notManager);
    r.delete(`/${kind}/{id}`, notManager);
    r.post(`/${kind}/{id}/update`, notManager);
    r.post(`/${kind}/create`, notManager);
  }
  r.get('/services/{id}/logs', notManager);
  r.get('/tasks/{id}/logs', notManager);

  r.get('/images/search', unserved('image search (GET /images/search)'));
  r.get('/containers/{id}/attach/ws', unserved('attach over a websocket (GET /containers/{id}/attach/ws)'));
  r.post('/session', unserved('BuildKit sessions (POST /session): pier builds with the classic builder API'));
}
