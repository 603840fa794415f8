// GetContainerEvents (the kubelet's evented PLEG, crictl events).
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';

export function eventsHandlers(svc: Services): HandlerSet {
  return {
    GetContainerEvents: (_req, stream, ctx) => svc.events.stream(stream, ctx.signal),
  };
}
