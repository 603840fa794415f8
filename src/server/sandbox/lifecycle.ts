// RunPodSandbox, StopPodSandbox, RemovePodSandbox.
import type { Services } from '../../services.js';
import type { HandlerSet } from '../cri-types.js';

export function sandboxLifecycleHandlers(svc: Services): HandlerSet {
  return {
    RunPodSandbox: async (req) => ({ pod_sandbox_id: await svc.sandboxes.run(req) }),
    StopPodSandbox: async (req) => {
      await svc.sandboxes.stop(req.pod_sandbox_id);
      return {};
    },
    RemovePodSandbox: async (req) => {
      await svc.sandboxes.remove(req.pod_sandbox_id);
      return {};
    },
  };
}
