// Exec, Attach, PortForward (URLs on the streaming server) and ExecSync.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function streamingHandlers(svc: Services): HandlerSet {
  return {
    Exec: async (req) => ({ url: await svc.streaming.exec(req) }),
    Attach: async (req) => ({ url: await svc.streaming.attach(req) }),
    PortForward: async (req) => ({ url: await svc.streaming.portForward(req) }),
    ExecSync: (req, ctx) => svc.streaming.execSync(req, ctx.signal),
  };
}
