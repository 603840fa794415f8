// Assembles the handler sets of every domain. An RPC no domain implements answers
// UNIMPLEMENTED (the grpc-server does that), which is the code the kubelet falls back on.
import type { Services } from '../wiring.js';
import type { HandlerSet } from './cri-types.js';
import { runtimeHandlers } from './runtime/index.js';
import { containerHandlers } from './container/index.js';
import { imageHandlers } from './image/index.js';
import { sandboxHandlers } from './sandbox/index.js';
import { statsHandlers } from './stats/index.js';
import { eventsHandlers } from './events/index.js';
import { resourcesHandlers } from './resources/index.js';
import { logHandlers } from './logs/index.js';
import { streamingHandlers } from './streaming/index.js';

export function allHandlers(svc: Services): HandlerSet {
  return {
    ...runtimeHandlers(svc),
    ...containerHandlers(svc),
    ...imageHandlers(svc),
    ...sandboxHandlers(svc),
    ...statsHandlers(svc),
    ...eventsHandlers(svc),
    ...resourcesHandlers(svc),
    ...logHandlers(svc),
    ...streamingHandlers(svc),
  };
}
