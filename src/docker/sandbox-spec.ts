// PodSandboxConfig -> Docker create options of the pod's pause container. Pure translation:
// the service decides the image, the Docker runtime, the network mode and the clamped OOM
// score; this module only maps fields (security-profiles.ts reads a Localhost seccomp profile).
import type { ContainerCreateOptions, HostConfig } from './engine.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceMode__Output } from '../generated/runtime/v1/NamespaceMode.js';
import { invalidArgument } from '../errors.js';
import { LABEL_SHIM_PREFIX, LABEL_TYPE, TYPE_SANDBOX, toDockerLabels } from './labels.js';
import { sandboxName } from './naming.js';
import { profileSecurityOpts } from './security-profiles.js';
import { podSysctls } from './sysctls.js';

/**
 * The pod's PID namespace mode as the kubelet asked it (POD, CONTAINER or NODE). Docker cannot
 * tell POD from CONTAINER (both leave the pause container's PidMode empty), and workload
 * containers must know whether to join the pause's PID namespace, so it lives in a label and
 * survives shim restarts.
 */
export const LABEL_PID_MODE = `${LABEL_SHIM_PREFIX}pid-mode`;
/** The CRI runtime_handler of the pod (empty: Docker's default runtime), reported back as given. */
export const LABEL_RUNTIME_HANDLER = `${LABEL_SHIM_PREFIX}runtime-handler`;

/**
 * Set on the pause container of a privileged pod. The pause container itself runs unprivileged
 * (it needs nothing); the label is what lets the pod's containers be privileged.
 */
export const LABEL_PRIVILEGED = `${LABEL_SHIM_PREFIX}privileged`;

/** True when the pod may hold privileged containers (older shims made the pause container privileged). */
export function sandboxAllowsPrivileged(pause: { Config?: { Labels?: Record<string, string> | null }; HostConfig?: { Privileged?: boolean } }): boolean {
  return pause.Config?.Labels?.[LABEL_PRIVILEGED] === 'true' || pause.HostConfig?.Privileged === true;
}

/** What dockershim gave pause containers: killed last. Clamped to what the host allows. */
export const PAUSE_OOM_SCORE_ADJ = -998;

export interface SandboxSpecOptions {
  /** Image of the pause container (id or reference). */
  image: string;
  /** Docker network mode for a pod that does not use the host network ("bridge", "none"). */
  podNetworkMode: string;
  /** CRI runtime_handler, already checked to name a Docker runtime (HostConfig.Runtime); empty: Docker's default. */
  runtimeHandler: string;
  oomScoreAdj: number;
  /** Cgroup parent in the form Docker's cgroup driver accepts. */
  cgroupParent: string;
}

/** Which namespaces the pod shares with the node; proto3 defaults (POD) when absent. */
export function namespaceModes(config: PodSandboxConfig__Output): {
  network: NamespaceMode__Output;
  pid: NamespaceMode__Output;
  ipc: NamespaceMode__Output;
} {
  const ns = config.linux?.security_context?.namespace_options;
  return { network: ns?.network ?? 'POD', pid: ns?.pid ?? 'POD', ipc: ns?.ipc ?? 'POD' };
}

/**
 * Docker's systemd cgroup driver only takes a slice name ("kubepods-besteffort-pod1.slice"),
 * while the kubelet sends the full path ("/kubepods.slice/kubepods-besteffort.slice/..."):
 * the last element names the slice and systemd derives the hierarchy from it.
 */
export function cgroupParentFor(parent: string, driver: 'systemd' | 'cgroupfs'): string {
  if (driver !== 'systemd' || parent === '') return parent;
  const base = parent.split('/').filter(Boolean).pop() ?? '';
  if (!base.endsWith('.slice')) {
    throw invalidArgument(`config.linux.cgroup_parent "${parent}" is not a systemd slice (Docker uses the systemd cgroup driver)`);
  }
  return base;
}

function runAsUser(config: PodSandboxConfig__Output): string | undefined {
  const sc = config.linux?.security_context;
  if (!sc?.run_as_user) return undefined;
  return sc.run_as_group ? `${sc.run_as_user.value}:${sc.run_as_group.value}` : String(sc.run_as_user.value);
}

const DOCKER_PROTOCOL = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

/** Docker's "<port>/<proto>" key and lowercase protocol of a CRI port mapping. */
export function dockerPort(pm: { protocol: keyof typeof DOCKER_PROTOCOL; container_port: number }): {
  key: string;
  protocol: (typeof DOCKER_PROTOCOL)[keyof typeof DOCKER_PROTOCOL];
} {
  const protocol = DOCKER_PROTOCOL[pm.protocol];
  return { key: `${pm.container_port}/${protocol}`, protocol };
}

/** ExposedPorts and PortBindings of the pod's port mappings (bindings only with a host port). */
export function portBindings(config: PodSandboxConfig__Output): {
  exposed: Record<string, object>;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
} {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  config.port_mappings.forEach((pm, i) => {
    if (!Number.isInteger(pm.container_port) || pm.container_port <= 0 || pm.container_port > 65535) {
      throw invalidArgument(`config.port_mappings[${i}].container_port ${pm.container_port} is not a port number`);
    }
    if (pm.host_port < 0 || pm.host_port > 65535) {
      throw invalidArgument(`config.port_mappings[${i}].host_port ${pm.host_port} is not a port number`);
    }
    const { key } = dockerPort(pm);
    exposed[key] = {};
    // A mapping without a host port only documents the port: it is reached on the pod IP
    // (dockershim skipped it too; Docker would otherwise pick a random host port).
    if (pm.host_port === 0) return;
    (bindings[key] ??= []).push({ HostIp: pm.host_ip, HostPort: String(pm.host_port) });
  });
  return { exposed, bindings };
}

/** Docker create options of the pause container of a pod. */
export function sandboxCreateOptions(config: PodSandboxConfig__Output, opts: SandboxSpecOptions): ContainerCreateOptions {
  const meta = config.metadata!;
  const modes = namespaceModes(config);
  const hostNetwork = modes.network === 'NODE';
  const sc = config.linux?.security_context;
  const { exposed, bindings } = portBindings(config);
  const internal: Record<string, string> = { [LABEL_TYPE]: TYPE_SANDBOX, [LABEL_PID_MODE]: modes.pid };
  if (opts.runtimeHandler) internal[LABEL_RUNTIME_HANDLER] = opts.runtimeHandler;
  if (sc?.privileged) internal[LABEL_PRIVILEGED] = 'true';

  const hostConfig: HostConfig = {
    NetworkMode: hostNetwork ? 'host' : opts.podNetworkMode,
    // Docker refuses port bindings in host mode; the ports are the node's there anyway.
    PortBindings: hostNetwork ? {} : bindings,
    // Workload containers join with `container:<pause id>`, which Docker allows only for a shareable IPC.
    IpcMode: modes.ipc === 'NODE' ? 'host' : 'shareable',
    PidMode: modes.pid === 'NODE' ? 'host' : '',
    CgroupParent: opts.cgroupParent,
    Sysctls: podSysctls(config.linux?.sysctls ?? {}, modes),
    OomScoreAdj: opts.oomScoreAdj,
    // The pause container of a privileged pod needs no privilege, and Docker's could not start
    // on a host whose bounding set lacks capabilities.
    Privileged: false,
    ReadonlyRootfs: sc?.readonly_rootfs ?? false,
    GroupAdd: (sc?.supplemental_groups ?? []).map(String),
    // An unset seccomp profile keeps Docker's default for the pause container (it runs no pod
    // code); the CRI's "unset is unconfined" is for the workload containers.
    SecurityOpt: profileSecurityOpts(sc ?? {}, 'config.linux.security_context', 'RuntimeDefault'),
  };
  if (opts.runtimeHandler) hostConfig.Runtime = opts.runtimeHandler;

  const create: ContainerCreateOptions = {
    name: sandboxName({ name: meta.name, namespace: meta.namespace, uid: meta.uid, attempt: meta.attempt }),
    Image: opts.image,
    Labels: toDockerLabels(config.labels, config.annotations, internal),
    ExposedPorts: exposed,
    HostConfig: hostConfig,
  };
  if (config.hostname) create.Hostname = config.hostname;
  const user = runAsUser(config);
  if (user) create.User = user;
  return create;
}
