// The pod sandbox RPCs, backed by svc.sandboxes (src/services/sandbox.ts).
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';
import { sandboxLifecycleHandlers } from './lifecycle.js';
import { sandboxQueryHandlers } from './query.js';

export function sandboxHandlers(svc: Services): HandlerSet {
  return { ...sandboxLifecycleHandlers(svc), ...sandboxQueryHandlers(svc) };
}
