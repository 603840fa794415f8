// CreateContainer, StartContainer, StopContainer, RemoveContainer.
import type { Services } from '../../services.js';
import type { HandlerSet } from '../cri-types.js';

export function lifecycleHandlers(svc: Services): HandlerSet {
  return {
    CreateContainer: async (req) => ({ container_id: await svc.containers.create(req) }),
    StartContainer: async (req) => {
      await svc.containers.start(req.container_id);
      return {};
    },
    StopContainer: async (req) => {
      await svc.containers.stop(req.container_id, Number(req.timeout));
      return {};
    },
    RemoveContainer: async (req) => {
      await svc.containers.remove(req.container_id);
      return {};
    },
  };
}
