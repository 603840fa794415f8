// Runtime-wide facts: version, readiness, cgroup driver, the pod CIDR the kubelet hands down.
import type { CallOptions, Engine } from '../docker/engine.js';
import type { VersionResponse } from '../generated/runtime/v1/VersionResponse.js';
import type { StatusResponse } from '../generated/runtime/v1/StatusResponse.js';
import type { RuntimeCondition } from '../generated/runtime/v1/RuntimeCondition.js';
import type { RuntimeConfigResponse } from '../generated/runtime/v1/RuntimeConfigResponse.js';
import type { RuntimeHandler } from '../generated/runtime/v1/RuntimeHandler.js';
import { toCriError } from '../errors.js';
import type { NetworkManager } from '../network/types.js';

export const RUNTIME_NAME = 'docker';
export const CRI_API_VERSION = 'v1';
/** The kubelet checks this field, historically "0.1.0", before it trusts the runtime. */
const KUBE_API_VERSION = '0.1.0';
/**
 * The kubelet asks for Status every few seconds; Docker's runtimes change only on a daemon
 * reload: Status takes the shared `docker info` while it is younger than this.
 */
const HANDLERS_TTL_MS = 30_000;

/**
 * RuntimeClass handlers: "" (Docker's default runtime) and every runtime Docker is configured with.
 * None supports the kubelet's user namespaces (Docker has only daemon-wide userns-remap) or
 * recursive read-only mounts (not requested through Docker's API by this shim).
 */
export function handlersOf(dockerRuntimes: string[]): RuntimeHandler[] {
  const features = { recursive_read_only_mounts: false, user_namespaces: false };
  return ['', ...dockerRuntimes.filter((n) => n !== '').sort()].map((name) => ({ name, features }));
}

export class RuntimeService {
  private podCidr = '';

  constructor(
    private readonly docker: Engine,
    private readonly network: NetworkManager,
  ) {}

  async version(call?: CallOptions): Promise<VersionResponse> {
    const v = await this.docker.version(call);
    return {
      version: KUBE_API_VERSION,
      runtime_name: RUNTIME_NAME,
      runtime_version: v.Version,
      runtime_api_version: CRI_API_VERSION,
    };
  }

  async status(verbose: boolean, call?: CallOptions): Promise<StatusResponse> {
    const conditions: RuntimeCondition[] = [];
    let runtimeReady: RuntimeCondition = { type: 'RuntimeReady', status: true, reason: '', message: '' };
    try {
      await this.docker.ping(call);
    } catch (err) {
      runtimeReady = { type: 'RuntimeReady', status: false, reason: 'DockerDaemonNotReady', message: toCriError(err, 'docker ping').message };
    }
    conditions.push(runtimeReady);
    // Docker's bridge is ready whenever dockerd is; CNI also needs a valid config and its plugins.
    const network = runtimeReady.status ? await this.network.status() : undefined;
    conditions.push(
      network
        ? { type: 'NetworkReady', status: network.ready, reason: network.reason, message: network.message }
        : { type: 'NetworkReady', status: false, reason: 'DockerDaemonNotReady', message: 'dockerd is not answering' },
    );
    const info: Record<string, string> = {};
    if (verbose) info.config = JSON.stringify({ podCidr: this.podCidr, networkPlugin: this.network.name });
    const handlers = runtimeReady.status ? await this.dockerHandlers() : [];
    // SupplementalGroupsPolicy Strict cannot be honoured: Docker always adds the image's /etc/group groups.
    return {
      status: { conditions },
      info,
      runtime_handlers: handlers,
      features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
    };
  }

  private dockerHandlers(): Promise<RuntimeHandler[]> {
    return this.docker
      .info({ maxAgeMs: HANDLERS_TTL_MS })
      .then((i) => handlersOf(Object.keys(i.Runtimes ?? {})))
      .catch(() => []);
  }

  async runtimeConfig(call?: CallOptions): Promise<RuntimeConfigResponse> {
    const info = await this.docker.info(call);
    const driver = info.CgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS';
    return { linux: { cgroup_driver: driver } };
  }

  updatePodCidr(cidr: string): void {
    this.podCidr = cidr;
  }

  get currentPodCidr(): string {
    return this.podCidr;
  }
}
