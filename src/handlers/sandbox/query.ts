// PodSandboxStatus, ListPodSandbox and its streaming twin StreamPodSandboxes.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

/** Pods per StreamPodSandboxes message: far below gRPC's message size limit even with big labels. */
const STREAM_CHUNK = 100;

export function sandboxQueryHandlers(svc: Services): HandlerSet {
  return {
    PodSandboxStatus: (req, ctx) => svc.sandboxes.status(req.pod_sandbox_id, req.verbose, ctx),
    ListPodSandbox: async (req, ctx) => ({ items: await svc.sandboxes.list(req.filter, ctx) }),
    // Every pod in exactly one message; no message at all when nothing matches.
    StreamPodSandboxes: async (req, stream, ctx) => {
      const items = await svc.sandboxes.list(req.filter, ctx);
      for (let i = 0; i < items.length; i += STREAM_CHUNK) stream.write({ pod_sandboxes: items.slice(i, i + STREAM_CHUNK) });
    },
  };
}
