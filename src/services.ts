// Wiring: every long-lived part of the shim, built once in main and handed to the handlers.
import type { Config } from './config.js';
import type { DockerClient } from './docker/client.js';
import type { Logger } from './logger.js';
import type { ContainerIndex } from './store/container-index.js';
import { RuntimeService } from './service/runtime.js';
import { ImageService } from './service/image.js';
import { SandboxService } from './service/sandbox.js';
import { CheckpointStore } from './store/checkpoint.js';
import { StatsService } from './service/stats.js';

export interface Services {
  config: Config;
  logger: Logger;
  docker: DockerClient;
  index: ContainerIndex;
  runtime: RuntimeService;
  images: ImageService;
  sandboxes: SandboxService;
  stats: StatsService;
}

export function buildServices(config: Config, logger: Logger, docker: DockerClient, index: ContainerIndex): Services {
  const runtime = new RuntimeService(docker);
  const images = new ImageService(docker);
  const sandboxes = new SandboxService({ config, docker, index, images, checkpoints: new CheckpointStore(config.rootDirectory), logger });
  const stats = new StatsService(docker, index);
  return { config, logger, docker, index, runtime, images, sandboxes, stats };
}
