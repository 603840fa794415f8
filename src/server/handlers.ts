// Assembles the handler sets of every domain. An RPC no domain implements answers
// UNIMPLEMENTED (the grpc-server does that), which is the code the kubelet falls back on.
import type { Services } from '../services.js';
import type { HandlerSet } from './cri-types.js';
import { runtimeHandlers } from './runtime/index.js';
import { sandboxHandlers } from './sandbox/index.js';
import { statsHandlers } from './stats/index.js';

export function allHandlers(svc: Services): HandlerSet {
  return {
    ...runtimeHandlers(svc),
    ...sandboxHandlers(svc),
    ...statsHandlers(svc),
  };
}
