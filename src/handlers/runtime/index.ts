// Version, Status, RuntimeConfig, UpdateRuntimeConfig.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function runtimeHandlers(svc: Services): HandlerSet {
  return {
    Version: (_req, ctx) => svc.runtime.version(ctx),
    Status: (req, ctx) => svc.runtime.status(req.verbose, ctx),
    RuntimeConfig: (_req, ctx) => svc.runtime.runtimeConfig(ctx),
    UpdateRuntimeConfig: async (req) => {
      svc.runtime.updatePodCidr(req.runtime_config?.network_config?.pod_cidr ?? '');
      return {};
    },
  };
}
