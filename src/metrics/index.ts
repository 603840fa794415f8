// Prometheus metrics of the shim, all named docker_cri_shim_*. Nothing below imports this
// module: the CRI server, the Docker gateway, the container index, the image service (pull
// stalls) and the streaming server (sessions) are observed through their hooks in attach().
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../docker/engine.js';
import { Code } from '../errors.js';
import type { CriServer } from '../handlers/grpc-server.js';
import type { ImageService } from '../services/image.js';
import type { StreamingService } from '../services/streaming.js';
import type { ContainerIndex } from '../store/container-index.js';

const PREFIX = 'docker_cri_shim_';

export const registry = new Registry();

// Buckets from 1 ms to ~1 min: List/Status calls sit at the bottom, pulls and stops at the top.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const rpcRequests = new Counter({
  name: `${PREFIX}rpc_requests_total`,
  help: 'CRI RPCs handled, by method and gRPC status code.',
  labelNames: ['method', 'code'] as const,
  registers: [registry],
});

const rpcErrors = new Counter({
  name: `${PREFIX}rpc_errors_total`,
  help: 'CRI RPCs that ended with a status other than OK, by method and gRPC status code.',
  labelNames: ['method', 'code'] as const,
  registers: [registry],
});

const rpcDuration = new Histogram({
  name: `${PREFIX}rpc_duration_seconds`,
  help: 'Time to answer a CRI RPC (streaming RPCs: until the stream ends), by method.',
  labelNames: ['method'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

const dockerRequests = new Counter({
  name: `${PREFIX}docker_requests_total`,
  help: 'Docker Engine API requests, by operation and result (ok or error).',
  labelNames: ['operation', 'result'] as const,
  registers: [registry],
});

const dockerDuration = new Histogram({
  name: `${PREFIX}docker_request_duration_seconds`,
  help: 'Docker Engine API request time including the wait in the shim\'s request queue, by operation.',
  labelNames: ['operation'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

const eventStreamDisconnects = new Counter({
  name: `${PREFIX}docker_event_stream_disconnects_total`,
  help: 'Times the Docker event stream broke (the shim reconnects and resyncs).',
  registers: [registry],
});

/** Open CRI streaming RPCs by method, read at scrape time; set by attach(). */
let criStreams: (() => Map<string, number>) | undefined;

/**
 * Streaming sessions open, by kind. The CRI's server-streaming RPCs (GetContainerEvents, ...)
 * are counted at scrape time; the exec/attach/port-forward server inc()s and dec()s its kinds.
 */
const streamingSessions = new Gauge({
  name: `${PREFIX}streaming_sessions`,
  help: 'Streaming sessions open, by kind (CRI streaming RPC name, or exec, attach, portforward).',
  labelNames: ['kind'] as const,
  registers: [registry],
  collect() {
    for (const [kind, open] of criStreams?.() ?? []) this.set({ kind }, open);
  },
});

/** Pulls cancelled by --image-pull-progress-deadline. */
const imagePullStalls = new Counter({
  name: `${PREFIX}image_pull_stalled_total`,
  help: 'Image pulls cancelled because they made no progress within --image-pull-progress-deadline.',
  registers: [registry],
});

const buildInfo = new Gauge({
  name: `${PREFIX}build_info`,
  help: 'Always 1; the labels name the running version and commit.',
  labelNames: ['version', 'commit'] as const,
  registers: [registry],
});

export interface MetricSources {
  server: CriServer;
  docker: Engine;
  index: ContainerIndex;
  images: Pick<ImageService, 'onPullStall'>;
  streaming: Pick<StreamingService, 'onSession'>;
  version: string;
  commit: string;
}

/** Hooks the metrics into the running parts; called once at start when metrics are on. */
export function attach({ server, docker, index, images, streaming, version, commit }: MetricSources): void {
  // Node process metrics start here, not at import: a shim without --metrics-bind-addr pays nothing.
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  buildInfo.set({ version, commit }, 1);
  criStreams = () => server.openStreams();
  server.onRpc((method, code, ms) => {
    const codeName = Code[code];
    rpcRequests.inc({ method, code: codeName });
    if (code !== Code.OK) rpcErrors.inc({ method, code: codeName });
    rpcDuration.observe({ method }, ms / 1000);
  });
  images.onPullStall(() => imagePullStalls.inc());
  streaming.onSession((kind, delta) => (delta > 0 ? streamingSessions.inc({ kind }) : streamingSessions.dec({ kind })));
  docker.onCall((operation, ms, ok) => {
    dockerRequests.inc({ operation, result: ok ? 'ok' : 'error' });
    dockerDuration.observe({ operation }, ms / 1000);
  });
  new Gauge({
    name: `${PREFIX}rpc_in_flight`,
    help: 'CRI RPCs being handled right now.',
    registers: [registry],
    collect() {
      this.set(server.inFlight);
    },
  });
  new Gauge({
    name: `${PREFIX}docker_requests_in_flight`,
    help: 'Docker Engine API requests under way (state=running) or waiting in the shim\'s bounded queue (state=queued).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { running, queued } = docker.requestsInFlight;
      this.set({ state: 'running' }, running);
      this.set({ state: 'queued' }, queued);
    },
  });
  new Gauge({
    name: `${PREFIX}docker_event_stream_up`,
    help: '1 while the Docker event stream is connected and the container index is complete, else 0.',
    registers: [registry],
    collect() {
      this.set(index.isLive ? 1 : 0);
    },
  });
  index.on('disconnected', () => eventStreamDisconnects.inc());
}
