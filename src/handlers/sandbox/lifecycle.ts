// RunPodSandbox, StopPodSandbox, RemovePodSandbox.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function sandboxLifecycleHandlers(svc: Services): HandlerSet {
  return {
    RunPodSandbox: async (req, ctx) => ({ pod_sandbox_id: await svc.sandboxes.run(req, ctx) }),
    StopPodSandbox: async (req, ctx) => {
      await svc.sandboxes.stop(req.pod_sandbox_id, ctx);
      return {};
    },
    RemovePodSandbox: async (req, ctx) => {
      await svc.sandboxes.remove(req.pod_sandbox_id, ctx);
      return {};
    },
  };
}
