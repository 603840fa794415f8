// Version, Status, RuntimeConfig, UpdateRuntimeConfig.
import type { Services } from '../../services.js';
import type { HandlerSet } from '../cri-types.js';

export function runtimeHandlers(svc: Services): HandlerSet {
  return {
    Version: () => svc.runtime.version(),
    Status: (req) => svc.runtime.status(req.verbose),
    RuntimeConfig: () => svc.runtime.runtimeConfig(),
    UpdateRuntimeConfig: async (req) => {
      svc.runtime.updatePodCidr(req.runtime_config?.network_config?.pod_cidr ?? '');
      return {};
    },
  };
}
