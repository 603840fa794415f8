// The container domain's RPCs.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';
import { lifecycleHandlers } from './lifecycle.js';
import { queryHandlers } from './query.js';

export function containerHandlers(svc: Services): HandlerSet {
  return { ...lifecycleHandlers(svc), ...queryHandlers(svc) };
}
