// UpdateContainerResources, UpdatePodSandboxResources.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function resourcesHandlers(svc: Services): HandlerSet {
  return {
    UpdateContainerResources: async (req, ctx) => {
      await svc.resources.updateContainer(req, ctx);
      return {};
    },
    UpdatePodSandboxResources: async (req, ctx) => {
      await svc.resources.updateSandbox(req, ctx);
      return {};
    },
  };
}
