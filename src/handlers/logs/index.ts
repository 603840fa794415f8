// ReopenContainerLog.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function logHandlers(svc: Services): HandlerSet {
  return {
    ReopenContainerLog: async (req) => {
      await svc.logReopen.reopen(req.container_id);
      return {};
    },
  };
}
