// UpdateContainerResources, UpdatePodSandboxResources.
import type { Services } from '../../services.js';
import type { HandlerSet } from '../cri-types.js';

export function resourcesHandlers(svc: Services): HandlerSet {
  return {
    UpdateContainerResources: async (req) => {
      await svc.resources.updateContainer(req);
      return {};
    },
    UpdatePodSandboxResources: async (req) => {
      await svc.resources.updateSandbox(req);
      return {};
    },
  };
}
