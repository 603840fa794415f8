#!/usr/bin/env -S node --max-semi-space-size=2
// docker-cri-shim: a CRI (runtime.v1) server on Docker Engine.
// First: sizes libuv's thread pool before anything starts it.
import './thread-pool.js';
import { parseArgs, usage, UsageError, type Config } from './config.js';
import { Diagnostics } from './diagnostics/index.js';
import { DockerodeEngine } from './docker/dockerode-engine.js';
import { createLogger } from './logger.js';
import type { MetricsServer } from './metrics/http.js';
import { joinRuntimeCgroup } from './runtime-cgroups.js';
import { CriServer } from './handlers/grpc-server.js';
import { allHandlers } from './handlers/index.js';
import { buildServices } from './wiring.js';
import { ContainerIndex } from './store/container-index.js';
import { notify } from './systemd.js';
import { VERSION, gitCommit } from './version.js';

export async function run(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  if (config.runtimeCgroups) {
    logger.info({ cgroups: await joinRuntimeCgroup(config.runtimeCgroups) }, 'moved into --runtime-cgroups');
  }
  const docker = new DockerodeEngine({ endpoint: config.dockerEndpoint, requestTimeoutMs: config.runtimeRequestTimeoutMs, logger });
  const index = new ContainerIndex(docker, logger);
  const services = buildServices(config, logger, docker, index);
  const server = new CriServer({ endpoint: config.containerRuntimeEndpoint, handlers: allHandlers(services), logger });

  const diagnostics = new Diagnostics(config.rootDirectory, logger);
  diagnostics.installSignalHandler();
  let metrics: MetricsServer | undefined;
  if (config.metricsBindAddr) {
    // Loaded only when asked for: prom-client and its registry are memory a shim without
    // --metrics-bind-addr never uses.
    const [{ attach: attachMetrics }, { MetricsServer }] = await Promise.all([import('./metrics/index.js'), import('./metrics/http.js')]);
    attachMetrics({ server, docker, index, images: services.images, streaming: services.streaming, version: VERSION, commit: gitCommit() });
    metrics = new MetricsServer({
      bindAddr: config.metricsBindAddr,
      ping: () => docker.ping(),
      diagnostics,
      logger,
    });
    // Before the CRI socket: a taken metrics address fails start-up before anyone connects.
    await metrics.start();
  }

  // An address the streaming server cannot have is a start-up error, as a taken metrics address is.
  await services.streaming.start();
  // dockerd may be down at start: the shim serves anyway (Status says so) and catches up.
  index.start();
  services.images.store.start();
  await server.start();
  logger.info({ version: VERSION, docker: config.dockerEndpoint }, 'docker-cri-shim started');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Pods keep running: the shim owns no pod process and removes nothing here.
    notify('STOPPING=1', logger)
      .then(() => Promise.all([server.stop(), metrics?.stop(), services.streaming.close()]))
      .then(() => {
        index.stop();
        services.images.store.stop();
        logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // After the handlers: systemd may send SIGTERM as soon as it hears READY=1.
  await notify('READY=1', logger);
}

async function main(argv: string[]): Promise<void> {
  // A subcommand, not a flag: the bench has its own flags and never starts a server.
  if (argv[0] === 'bench') {
    import('./bench/cli.js')
      .then((bench) => bench.benchMain(argv.slice(1)))
      .then((code) => process.exit(code))
      .catch((err: unknown) => {
        process.stderr.write(`docker-cri-shim bench: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      });
    return;
  }
  let parsed;
  try {
    parsed = await parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`docker-cri-shim: ${err.message}\nUsage: docker-cri-shim [flags]; see --help\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.action === 'version') {
    process.stdout.write(`docker-cri-shim ${VERSION} (commit ${gitCommit()})\n`);
    return;
  }
  if (parsed.action === 'help') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  await run(parsed.config);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`docker-cri-shim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
