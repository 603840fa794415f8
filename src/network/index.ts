// Picks the pod network from the flags: CNI plugins (cri-dockerd's default) or, with an empty
// or no-op --network-plugin, Docker's own bridge.
import { requestTimeoutMs, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { CniNetworkManager } from './cni/manager.js';
import { DockerBridgeNetwork } from './docker-bridge.js';
import type { NetworkManager } from './types.js';

export type { NetworkManager, NetworkCondition, PodNetworkContext, PodNetworkResult } from './types.js';

/** `podCidr` answers the pod CIDR in force now (UpdateRuntimeConfig, else --pod-cidr). */
export function createNetworkManager(config: Config, podCidr: () => string, logger: Logger): NetworkManager {
  if (config.networkPlugin !== 'cni') return new DockerBridgeNetwork();
  return new CniNetworkManager({
    confDir: config.cniConfDir,
    binDirs: config.cniBinDir.split(',').map((d) => d.trim()).filter(Boolean),
    cacheDir: config.cniCacheDir,
    podCidr,
    dualStack: config.ipv6DualStack,
    // The kubelet gives up on a RunPodSandbox after its own runtime request timeout (2m by
    // default): the plugins get the same budget, so their failure is the one reported.
    timeoutMs: requestTimeoutMs(config),
    logger: logger.child({ network: 'cni' }),
  });
}
