import { isMainThread } from 'node:worker_threads';
import { Router } from '../api/router.js';
import { registerBuildRoutes } from '../api/routes/build.js';
import { registerArchiveRoutes } from '../api/routes/archive.js';
import { registerContainerStreamRoutes } from '../api/routes/container-streams.js';
import { registerContainerRoutes } from '../api/routes/containers.js';
import { registerExecRoutes } from '../api/routes/exec.js';
import { pullHandler, registerDistributionRoutes } from '../api/routes/distribution.js';
import { registerImageRoutes } from '../api/routes/images.js';
import { registerNetworkRoutes } from '../api/routes/networks.js';
import { registerPluginRoutes } from '../api/routes/plugins.js';
import { registerSystemRoutes } from '../api/routes/system.js';
import { registerUnservedRoutes } from '../api/routes/unserved.js';
import { registerVolumeRoutes } from '../api/routes/volumes.js';
import { EngineError } from '../errors.js';
import { log } from '../log.js';
import { loadConfig } from './config.js';
import { buildEngine } from './engine.js';
import { listen, unlisten } from './listen.js';
import { limitMallocArenas, releaseMemory, releaseMemoryWhenIdle } from './idle-memory.js';
import { whenUnpackWorkersGone } from '../distribution/unpack-pool.js';

/**
 * pierd's entry: read the configuration, build the engine's parts, reconcile what ran
 * while the daemon was away, and serve the API. SIGTERM closes the socket and leaves the
 * containers running (conmon watches them); the next pierd finds them again.
 */
async function main(): Promise<void> {
  limitMallocArenas();
  const config = await loadConfig(process.argv.slice(2));
  log.level = config.logLevel;

  const engine = await buildEngine(config);
  await engine.containers.daemon.reconcile();

  const router = new Router();
  registerSystemRoutes(router, engine.events, engine.facts);
  const c = engine.containers;
  registerContainerRoutes(router, { reader: c.reader, lifecycle: c.lifecycle });
  registerContainerStreamRoutes(router, { reader: c.reader, attach: c.attach, monitor: c.monitor, logs: c.logs });
  registerExecRoutes(router, c.exec);
  registerArchiveRoutes(router, c.archive);
  registerDistributionRoutes(router, { distribution: engine.distribution, images: engine.images });
  registerImageRoutes(router, engine.images, { pull: pullHandler(engine.distribution) });
  registerNetworkRoutes(router, { networks: engine.networks, containers: c.networking });
  registerVolumeRoutes(router, engine.volumes);
  registerPluginRoutes(router, engine.plugins);
  registerBuildRoutes(router, engine.builder, { images: engine.images, snapshots: engine.snapshots, containers: c });
  // Last: what pier does not serve answers as Docker does outside a swarm (routes above win).
  registerUnservedRoutes(router);

  const servers = await listen(config, router);
  for (const server of servers) releaseMemoryWhenIdle(server);
  whenUnpackWorkersGone(releaseMemory);
  log.info({ listeners: config.listeners.map((l) => (l.kind === 'unix' ? `unix://${l.path}` : `tcp://${l.host}:${l.port} (TLS, client certificates verified)`)), root: config.root, runtime: engine.runtime.name, why: engine.facts.runtime.why }, 'pierd is serving the Docker API');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down; containers keep running');
    engine.containers.daemon.shutdown();
    void unlisten(config, servers)
      .then(() => engine.runtime.drain())
      // With no container attached, the bridges and chains go too (the next start recreates them).
      .then(() => engine.networks.shutdown())
      .catch((err: unknown) => log.warn({ err }, 'network teardown at shutdown'))
      // What the last pulls wrote reaches the disk before the daemon goes.
      .then(() => engine.flushBehind.idle())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// The daemon runs on the main thread only; a worker thread that loads this module runs no daemon.
if (isMainThread) {
  main().catch((err: unknown) => {
    const message = err instanceof EngineError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`pierd: ${message}\n`);
    process.exit(1);
  });
}

