// CreateContainer, StartContainer, StopContainer, RemoveContainer.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function lifecycleHandlers(svc: Services): HandlerSet {
  return {
    CreateContainer: async (req, ctx) => ({ container_id: await svc.containers.create(req, ctx) }),
    StartContainer: async (req, ctx) => {
      await svc.containers.start(req.container_id, ctx);
      return {};
    },
    StopContainer: async (req, ctx) => {
      await svc.containers.stop(req.container_id, Number(req.timeout), ctx);
      return {};
    },
    RemoveContainer: async (req, ctx) => {
      await svc.containers.remove(req.container_id, ctx);
      return {};
    },
  };
}
