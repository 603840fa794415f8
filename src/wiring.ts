// Wiring: every long-lived part of the shim, built once in main and handed to the handlers.
import type { Config } from './config.js';
import type { Engine } from './docker/engine.js';
import type { Logger } from './logger.js';
import type { ContainerIndex } from './store/container-index.js';
import { RuntimeService } from './services/runtime.js';
import { ContainerService } from './services/container.js';
import { LogManager } from './logs/log-manager.js';
import { ImageService } from './services/image.js';
import { SandboxService } from './services/sandbox.js';
import { createNetworkManager, type NetworkManager } from './network/index.js';
import { CheckpointStore } from './store/checkpoint.js';
import { ContainerWarnings } from './store/container-warnings.js';
import { StatsService } from './services/stats.js';
import { EventsService } from './services/events.js';
import { ResourcesService } from './services/resources.js';
import { LogReopenService } from './services/log-reopen.js';
import { LogResumeService } from './services/log-resume.js';
import { StreamingService } from './services/streaming.js';

export interface Services {
  config: Config;
  logger: Logger;
  docker: Engine;
  index: ContainerIndex;
  runtime: RuntimeService;
  logs: LogManager;
  containers: ContainerService;
  images: ImageService;
  sandboxes: SandboxService;
  network: NetworkManager;
  stats: StatsService;
  events: EventsService;
  resources: ResourcesService;
  logReopen: LogReopenService;
  streaming: StreamingService;
}

export function buildServices(config: Config, logger: Logger, docker: Engine, index: ContainerIndex): Services {
  // One cache of `docker info` and `docker version`: dockerd may have been restarted, upgraded
  // or reconfigured while the event stream was down. The first sync at start-up is of the
  // daemon those facts were just read from; dropping them then raced the first calls.
  let synced = false;
  index.on('resynced', () => {
    if (synced) docker.forgetDaemonFacts();
    synced = true;
  });
  // The kubelet's UpdateRuntimeConfig wins over --pod-cidr, as in cri-dockerd.
  const network = createNetworkManager(config, () => runtime.currentPodCidr || config.podCidr, logger);
  const runtime = new RuntimeService(docker, network);
  const images = new ImageService(docker, logger, config.imagePullProgressDeadlineMs);
  const checkpoints = new CheckpointStore(config.rootDirectory);
  const sandboxes = new SandboxService({ config, docker, index, images, checkpoints, network, logger });
  const stats = new StatsService(docker, index);
  const logs = new LogManager(docker, logger);
  const warnings = new ContainerWarnings();
  const containers = new ContainerService(docker, index, images, logs, logger, stats.cgroups, warnings);
  const events = new EventsService(index, logger);
  const resources = new ResourcesService(docker, index, stats.cgroups, warnings, logger);
  const logReopen = new LogReopenService(index, logs);
  // Resumes the CRI log files of containers started before this process, once the index synced.
  new LogResumeService(index, logs, checkpoints, logger);
  const streaming = new StreamingService(config, docker, index, logger);
  return { config, logger, docker, index, runtime, logs, containers, images, sandboxes, network, stats, events, resources, logReopen, streaming };
}
