// ContainerConfig (+ the pod's pause container) -> Docker create options of a workload
// container. Pure translation: the service resolves the image, checks host paths, clamps the
// OOM score and knows the host's capability bounding set; this module only maps fields. What
// Docker cannot express is planned for the container's start (cgroup files) or carried as a
// warning; only malformed input is an InvalidArgument naming the field.
import type { ContainerCreateOptions, ContainerRecord, HostConfig } from './engine.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { MountPropagation__Output } from '../generated/runtime/v1/MountPropagation.js';
import type { NamespaceMode__Output } from '../generated/runtime/v1/NamespaceMode.js';
import { invalidArgument } from '../errors.js';
import { dockerCapabilities } from './capabilities.js';
import { LABEL_LOG_PATH, LABEL_SANDBOX_ID, LABEL_SHIM_PREFIX, LABEL_TYPE, TYPE_CONTAINER, toDockerLabels } from './labels.js';
import { containerName, parseName } from './naming.js';
import { sandboxNamespaces } from './sandbox-status.js';
import type { DockerLogConfig } from './log-config.js';
import { cgroupPlan, type CgroupPlan, type CgroupWrite } from './resource-limits.js';
import { emulatedPrivileged, type PrivilegedHost } from './privileged.js';
import { pathSettings, profileSecurityOpts } from './security-profiles.js';

/** image_ref (repo@sha256:... or the image id) fixed at create time, so List needs no image inspect. */
export const LABEL_IMAGE_REF = `${LABEL_SHIM_PREFIX}image-ref`;
/** The image name reported in ContainerStatus.image: a tag of the image when the kubelet gave its id. */
export const LABEL_IMAGE_NAME = `${LABEL_SHIM_PREFIX}image`;
/** ImageSpec.user_specified_image as the kubelet gave it (the pod spec's image). */
export const LABEL_USER_IMAGE = `${LABEL_SHIM_PREFIX}user-specified-image`;
/** Cgroup files to write when the container starts (JSON CgroupWrite[]): what Docker cannot set. */
export const LABEL_CGROUP_WRITES = `${LABEL_SHIM_PREFIX}cgroup-writes`;
/** Request fields this host could not honour at create (JSON string[]), shown in verbose status. */
export const LABEL_WARNINGS = `${LABEL_SHIM_PREFIX}warnings`;

function jsonListLabel<T>(labels: Record<string, string> | null | undefined, key: string): T[] {
  const text = labels?.[key];
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return []; // a label someone else edited: nothing to apply
  }
}

/** The cgroup writes a container carries for its start. */
export const cgroupWritesOf = (labels: Record<string, string> | null | undefined): CgroupWrite[] =>
  jsonListLabel<CgroupWrite>(labels, LABEL_CGROUP_WRITES).filter((w) => typeof w?.file === 'string' && typeof w.value === 'string');
/** The create-time warnings a container carries. */
export const createWarningsOf = (labels: Record<string, string> | null | undefined): string[] =>
  jsonListLabel<unknown>(labels, LABEL_WARNINGS).filter((w): w is string => typeof w === 'string');

const NO_TAG = '<none>:<none>';

/** What Docker says of the image a container is created from (the fields these functions read). */
export interface ImageFacts {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
}

/** The digest reference of the repository the spec names, else any digest, else the image id. */
export function imageRefFor(spec: string, image: ImageFacts): string {
  const digests = image.RepoDigests ?? [];
  const repo = spec.split('@')[0].replace(/:[^/:]+$/, '');
  return digests.find((d) => d.split('@')[0] === repo || d.split('@')[0].endsWith(`/${repo}`)) ?? digests[0] ?? image.Id;
}

/**
 * The image name to report. The kubelet creates containers from the image id PullImage gave
 * it; like containerd (and dockershim before it) we report a tag of that image then, which is
 * what people read in `kubectl describe`. A name given as the spec is reported as given.
 */
export function imageNameFor(spec: string, image: ImageFacts): string {
  const hex = spec.replace(/^sha256:/, '');
  const isId = /^[0-9a-f]{12,64}$/.test(hex) && image.Id.replace(/^sha256:/, '').startsWith(hex);
  if (!isId) return spec;
  return (image.RepoTags ?? []).find((t) => t !== NO_TAG) ?? spec;
}

export interface ContainerSpecOptions {
  /** Inspect record of the pod's pause container. */
  sandbox: ContainerRecord;
  /** What Docker has of the image (id, tags, digests). */
  image: ImageFacts;
  /** Full CRI log path (log_directory + log_path), or "" when the kubelet gave none. */
  logPath: string;
  /** The shim's capability bounding set (CAP_ names): what "ALL" means here. */
  boundingSet: readonly string[];
  /** How a privileged container gets its rights on this host. */
  privileged: PrivilegedHost;
  /** The host's cgroup version: where `unified` and hugepage limits can apply. */
  cgroupVersion: 'v1' | 'v2';
  /** Clamps an oom_score_adj to what this host allows. */
  clampOomScoreAdj: (wanted: number) => number;
  /** Docker's LogConfig for the container (its own copy of the output, capped), when set. */
  logConfig?: DockerLogConfig;
}

/** Checks the request fields every create needs, naming the bad field. */
export function validateContainerConfig(config: ContainerConfig__Output | null): asserts config is ContainerConfig__Output {
  if (!config) throw invalidArgument('config is missing');
  if (!config.metadata) throw invalidArgument('config.metadata is missing');
  if (!config.metadata.name) throw invalidArgument('config.metadata.name is empty');
  if (config.metadata.name.includes('_')) throw invalidArgument(`config.metadata.name "${config.metadata.name}" contains "_"`);
  if (!config.image?.image) throw invalidArgument('config.image.image is empty');
  config.envs.forEach((kv, i) => {
    if (!kv.key) throw invalidArgument(`config.envs[${i}].key is empty`);
  });
  config.mounts.forEach((m, i) => validateMount(m, `config.mounts[${i}]`));
  config.devices.forEach((d, i) => {
    if (!d.host_path || !d.container_path) throw invalidArgument(`config.devices[${i}] needs host_path and container_path`);
  });
}

function validateMount(m: Mount__Output, field: string): void {
  if (m.image) throw invalidArgument(`${field}: image volumes are not supported by Docker`);
  if (!m.host_path) throw invalidArgument(`${field}.host_path is empty`);
  if (!m.container_path.startsWith('/')) throw invalidArgument(`${field}.container_path "${m.container_path}" is not absolute`);
  if (m.host_path.includes(':') || m.container_path.includes(':')) {
    throw invalidArgument(`${field}: paths with ":" cannot be bind-mounted through Docker ("${m.host_path}")`);
  }
  if (m.recursive_read_only) {
    if (!m.readonly) throw invalidArgument(`${field}: recursive_read_only needs readonly`);
    throw invalidArgument(`${field}: recursive read-only mounts are not supported by this runtime`);
  }
  if (m.uidMappings.length > 0 || m.gidMappings.length > 0) throw invalidArgument(`${field}: id-mapped mounts are not supported`);
}

const PROPAGATION_OPT: Record<MountPropagation__Output, string> = {
  PROPAGATION_PRIVATE: 'rprivate',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

/** Docker bind string "host:container:opts" (Binds keep the CRI order and SELinux relabel). */
export function bindOf(m: Mount__Output): string {
  const opts = [m.readonly ? 'ro' : 'rw', PROPAGATION_OPT[m.propagation] ?? 'rprivate'];
  if (m.selinux_relabel) opts.push('Z');
  return `${m.host_path}:${m.container_path}:${opts.join(',')}`;
}

/** Docker user string: uid or name, with ":gid" when a group is asked for. */
export function userOf(sc: LinuxContainerSecurityContext__Output | null | undefined): string | undefined {
  if (!sc) return undefined;
  const user = sc.run_as_user ? String(sc.run_as_user.value) : sc.run_as_username || undefined;
  if (sc.run_as_group && user === undefined) {
    throw invalidArgument('config.linux.security_context.run_as_group is set without run_as_user or run_as_username');
  }
  return user !== undefined && sc.run_as_group ? `${user}:${sc.run_as_group.value}` : user;
}

/** Docker's modes for the container's namespaces: always the pod's network and IPC, PID as asked. */
export function namespaceModes(
  config: ContainerConfig__Output,
  sandbox: ContainerRecord,
): Pick<HostConfig, 'NetworkMode' | 'IpcMode' | 'PidMode' | 'UTSMode'> {
  const joined = `container:${sandbox.Id}`;
  const pod = sandboxNamespaces(sandbox);
  const own = config.linux?.security_context?.namespace_options;
  // sandboxNamespaces() is typed with the wider request enum but always holds the names.
  const network = own ? own.network : (pod.network as NamespaceMode__Output);
  const ipc = own ? own.ipc : (pod.ipc as NamespaceMode__Output);
  const pid = own ? own.pid : (pod.pid as NamespaceMode__Output);
  let pidMode = '';
  if (pid === 'NODE') pidMode = 'host';
  else if (pid === 'POD') pidMode = joined;
  else if (pid === 'TARGET') {
    if (!own?.target_id) throw invalidArgument('config.linux.security_context.namespace_options.target_id is empty for pid TARGET');
    pidMode = `container:${own.target_id}`;
  }
  return {
    NetworkMode: joined,
    // A host-IPC pause container has no /dev/shm of its own for Docker to share.
    IpcMode: ipc === 'NODE' || pod.ipc === 'NODE' ? 'host' : joined,
    PidMode: pidMode,
    // Joining a host-network pod means the node's hostname too (dockershim did the same).
    UTSMode: network === 'NODE' ? 'host' : '',
  };
}

const num = (v: string | undefined): number => (v ? Number(v) : 0);

/**
 * CPU, memory and cpuset limits; swap equals memory unless asked (Kubernetes runs without swap),
 * and memory.swap.max of `unified` wins where a memory limit lets Docker express it. What Docker
 * has no field for (the rest of `unified`, hugepage limits) comes back as a plan for start.
 */
export function resourceSettings(
  r: LinuxContainerResources__Output | null | undefined,
  clampOomScoreAdj: (wanted: number) => number,
  cgroupVersion: 'v1' | 'v2',
): { host: Partial<HostConfig>; plan: CgroupPlan } {
  if (!r) return { host: {}, plan: { writes: [], warnings: [] } };
  const memory = num(r.memory_limit_in_bytes);
  const swap = num(r.memory_swap_limit_in_bytes);
  const plan = cgroupPlan(r, 'config.linux.resources', cgroupVersion, memory);
  const host: Partial<HostConfig> = {
    CpuShares: num(r.cpu_shares),
    CpuQuota: num(r.cpu_quota),
    CpuPeriod: num(r.cpu_period),
    Memory: memory,
    MemorySwap: plan.memorySwap ?? (swap > 0 ? swap : memory),
    CpusetCpus: r.cpuset_cpus,
    CpusetMems: r.cpuset_mems,
  };
  if (r.oom_score_adj) host.OomScoreAdj = clampOomScoreAdj(Number(r.oom_score_adj));
  return { host, plan };
}

/**
 * Everything the security context turns into: user, groups, capabilities, privileged mode,
 * read-only rootfs and Docker security options. One function, so the security profile work
 * (seccomp, AppArmor, SELinux, masked paths) extends it in one place.
 */
export function securitySettings(
  sc: LinuxContainerSecurityContext__Output | null | undefined,
  boundingSet: readonly string[],
): { user: string | undefined; host: Partial<HostConfig> } {
  const user = userOf(sc);
  // With no security context too: the CRI's defaults are seccomp unconfined and no masked paths.
  const where = 'config.linux.security_context';
  const profiles = profileSecurityOpts(sc ?? {}, where);
  const paths = pathSettings(sc?.masked_paths ?? [], sc?.readonly_paths ?? [], where);
  if (!sc) return { user, host: { SecurityOpt: profiles, ...paths } };
  const securityOpt: string[] = [];
  if (sc.no_new_privs) securityOpt.push('no-new-privileges');
  securityOpt.push(...profiles);
  const caps = dockerCapabilities(sc.capabilities?.add_capabilities ?? [], sc.capabilities?.drop_capabilities ?? [], boundingSet);
  return {
    user,
    host: {
      Privileged: sc.privileged,
      ReadonlyRootfs: sc.readonly_rootfs,
      GroupAdd: sc.supplemental_groups.map(String),
      CapAdd: caps.CapAdd,
      CapDrop: caps.CapDrop,
      SecurityOpt: securityOpt,
      ...paths,
    },
  };
}

/** Pod name, namespace and uid: from the request, else from the pause container's name. */
function podOf(sandboxConfig: PodSandboxConfig__Output | null, sandbox: ContainerRecord): { name: string; namespace: string; uid: string } {
  const meta = sandboxConfig?.metadata;
  if (meta?.name) return { name: meta.name, namespace: meta.namespace, uid: meta.uid };
  const parsed = parseName(sandbox.Name);
  if (!parsed) throw invalidArgument(`pod sandbox ${sandbox.Id} has no k8s_ name and sandbox_config.metadata is missing`);
  return { name: parsed.podName, namespace: parsed.podNamespace, uid: parsed.podUid };
}

/** Docker create options of a workload container (name included). */
export function containerCreateOptions(
  config: ContainerConfig__Output,
  sandboxConfig: PodSandboxConfig__Output | null,
  opts: ContainerSpecOptions,
): ContainerCreateOptions {
  validateContainerConfig(config);
  const meta = config.metadata!;
  const linux = config.linux;
  const security = securitySettings(linux?.security_context, opts.boundingSet);
  const resources = resourceSettings(linux?.resources, opts.clampOomScoreAdj, opts.cgroupVersion);
  const internal: Record<string, string> = {
    [LABEL_TYPE]: TYPE_CONTAINER,
    [LABEL_SANDBOX_ID]: opts.sandbox.Id,
    [LABEL_LOG_PATH]: opts.logPath,
    [LABEL_IMAGE_REF]: imageRefFor(config.image!.image, opts.image),
    [LABEL_IMAGE_NAME]: imageNameFor(config.image!.image, opts.image),
  };
  if (config.image!.user_specified_image) internal[LABEL_USER_IMAGE] = config.image!.user_specified_image;
  if (resources.plan.writes.length > 0) internal[LABEL_CGROUP_WRITES] = JSON.stringify(resources.plan.writes);
  if (resources.plan.warnings.length > 0) internal[LABEL_WARNINGS] = JSON.stringify(resources.plan.warnings);
  const devices = config.devices.map((d) => ({
    PathOnHost: d.host_path,
    PathInContainer: d.container_path,
    CgroupPermissions: d.permissions || 'rwm',
  }));
  const sc = linux?.security_context;
  const emulated =
    sc?.privileged && !opts.privileged.dockerCanGrant
      ? emulatedPrivileged(sc, { ...opts.privileged, boundingSet: opts.boundingSet }, { devices, mountTargets: config.mounts.map((m) => m.container_path) }, 'config.linux.security_context')
      : undefined;
  const hostConfig: HostConfig = {
    ...namespaceModes(config, opts.sandbox),
    CgroupParent: opts.sandbox.HostConfig?.CgroupParent ?? '',
    ...resources.host,
    ...security.host,
    ...emulated,
    Binds: config.mounts.map(bindOf),
    Devices: emulated?.Devices ?? devices,
    // RuntimeClass: every container of a pod runs under its pause container's runtime.
    ...(opts.sandbox.HostConfig?.Runtime ? { Runtime: opts.sandbox.HostConfig.Runtime } : {}),
    ...(opts.logConfig ? { LogConfig: opts.logConfig } : {}),
  };
  const create: ContainerCreateOptions = {
    name: containerName({ name: meta.name, attempt: meta.attempt }, podOf(sandboxConfig, opts.sandbox)),
    Image: config.image!.image,
    Env: config.envs.map((kv) => `${kv.key}=${Buffer.isBuffer(kv.value) ? kv.value.toString('utf8') : String(kv.value)}`),
    Labels: toDockerLabels(config.labels, config.annotations, internal),
    Tty: config.tty,
    OpenStdin: config.stdin,
    StdinOnce: config.stdin_once,
    HostConfig: hostConfig,
  };
  // Kubernetes semantics: command replaces ENTRYPOINT (and drops the image's CMD), args
  // replaces CMD. An empty list must stay unset, or Docker would clear the image's value.
  if (config.command.length > 0) create.Entrypoint = config.command;
  if (config.args.length > 0) create.Cmd = config.args;
  if (config.working_dir) create.WorkingDir = config.working_dir;
  if (security.user !== undefined) create.User = security.user;
  if (config.stop_signal && config.stop_signal !== 'RUNTIME_DEFAULT') create.StopSignal = config.stop_signal;
  return create;
}
