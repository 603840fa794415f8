// ContainerStats, PodSandboxStats, their List and Stream forms, ListMetricDescriptors and
// ListPodSandboxMetrics / StreamPodSandboxMetrics.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

/** Items per message of the Stream* forms: far below gRPC's message size limit at any pod size. */
const STREAM_CHUNK = 100;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += STREAM_CHUNK) out.push(items.slice(i, i + STREAM_CHUNK));
  return out;
}

export function statsHandlers(svc: Services): HandlerSet {
  return {
    ContainerStats: async (req, ctx) => ({ stats: await svc.stats.containerStats(req.container_id, ctx) }),
    ListContainerStats: async (req, ctx) => ({ stats: await svc.stats.listContainerStats(req.filter, ctx) }),
    StreamContainerStats: async (req, stream, ctx) => {
      for (const c of chunks(await svc.stats.listContainerStats(req.filter, ctx))) stream.write({ container_stats: c });
    },
    PodSandboxStats: async (req, ctx) => ({ stats: await svc.stats.podSandboxStats(req.pod_sandbox_id, ctx) }),
    ListPodSandboxStats: async (req, ctx) => ({ stats: await svc.stats.listPodSandboxStats(req.filter, ctx) }),
    StreamPodSandboxStats: async (req, stream, ctx) => {
      for (const c of chunks(await svc.stats.listPodSandboxStats(req.filter, ctx))) stream.write({ pod_sandbox_stats: c });
    },
    ListMetricDescriptors: async () => ({ descriptors: svc.stats.metricDescriptors() }),
    ListPodSandboxMetrics: async (_req, ctx) => ({ pod_metrics: await svc.stats.listPodSandboxMetrics(ctx) }),
    StreamPodSandboxMetrics: async (_req, stream, ctx) => {
      for (const c of chunks(await svc.stats.listPodSandboxMetrics(ctx))) stream.write({ pod_sandbox_metrics: c });
    },
  };
}
