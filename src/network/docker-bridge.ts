// No network plugin (--network-plugin empty or no-op): Docker's default bridge networks the
// pod, publishes its host ports and assigns its address, which the sandbox service reads from
// Docker's inspect record. Nothing to set up or tear down here.
import type { NetworkCondition, NetworkManager, PodNetworkResult } from './types.js';

export class DockerBridgeNetwork implements NetworkManager {
  readonly name = 'docker-bridge';
  readonly podNetworkMode = 'bridge';
  readonly dockerPublishesPorts = true;

  /** Ready whenever dockerd is; the runtime condition already says when it is not. */
  async status(): Promise<NetworkCondition> {
    return { ready: true, reason: '', message: '' };
  }

  async setUpPod(): Promise<PodNetworkResult> {
    return { ips: [] };
  }

  async tearDownPod(): Promise<void> {}

  /** Docker releases a bridge endpoint with its container: nothing is left to release. */
  async releaseOrphans(): Promise<void> {}

  /** Undefined: the address is Docker's, in the pause container's inspect record. */
  async podIps(): Promise<string[] | undefined> {
    return undefined;
  }

  async checkPod(): Promise<void> {}
}
