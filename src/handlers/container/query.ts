// ListContainers, StreamContainers, ContainerStatus.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

/** Containers per StreamContainers message: keeps each message far below gRPC's size limit. */
const STREAM_CHUNK = 100;

export function queryHandlers(svc: Services): HandlerSet {
  return {
    ListContainers: async (req, ctx) => ({ containers: await svc.containers.list(req.filter, ctx) }),
    StreamContainers: async (req, stream, ctx) => {
      const all = await svc.containers.list(req.filter, ctx);
      for (let i = 0; i < all.length; i += STREAM_CHUNK) stream.write({ containers: all.slice(i, i + STREAM_CHUNK) });
    },
    ContainerStatus: (req, ctx) => svc.containers.status(req.container_id, req.verbose, ctx),
  };
}
