// Docker inspect record of a pause container -> CRI PodSandbox / PodSandboxStatus. Everything
// comes from the record (name, labels, HostConfig, NetworkSettings), so List and Status cost
// no Docker request beyond the index and survive shim restarts unchanged.
import type { PodSandbox } from '../generated/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import type { PodSandboxNetworkStatus } from '../generated/runtime/v1/PodSandboxNetworkStatus.js';
import type { PodSandboxState__Output } from '../generated/runtime/v1/PodSandboxState.js';
import type { NamespaceOption } from '../generated/runtime/v1/NamespaceOption.js';
import type { NamespaceMode__Output } from '../generated/runtime/v1/NamespaceMode.js';
import type { ContainerRecord } from './engine.js';
import { fromDockerLabels } from './labels.js';
import { parseName } from './naming.js';
import { LABEL_PID_MODE, LABEL_RUNTIME_HANDLER } from './sandbox-spec.js';

const NS_PER_SECOND = 1_000_000_000n;

/**
 * Nanoseconds since the epoch (as the decimal string protobuf int64 takes) of a Docker
 * RFC 3339 time such as "2026-11-25T13:27:02.123456789Z"; Date.parse alone would drop the
 * sub-millisecond digits. Docker's zero time ("0001-01-01T00:00:00Z") and garbage give "0".
 */
export function dockerTimeToNs(time: string | undefined): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time ?? '');
  if (!m) return '0';
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms) || ms <= 0) return '0';
  const fraction = BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
  return String(BigInt(ms / 1000) * NS_PER_SECOND + fraction);
}

/** Now, in nanoseconds since the epoch (millisecond precision). */
export function nowNs(): string {
  return String(BigInt(Date.now()) * 1_000_000n);
}

/** Ready while the pause container runs; a paused or restarting one is not serving the pod. */
export function sandboxState(record: ContainerRecord): PodSandboxState__Output {
  return record.State?.Running && !record.State.Paused && !record.State.Restarting ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

const PID_MODES = new Set<string>(['POD', 'CONTAINER', 'NODE', 'TARGET']);

/** The namespace options the pod was created with, read back from Docker's record and our label. */
export function sandboxNamespaces(record: ContainerRecord): Required<Pick<NamespaceOption, 'network' | 'pid' | 'ipc'>> {
  const hc = record.HostConfig ?? {};
  const label = record.Config?.Labels?.[LABEL_PID_MODE];
  const pid: NamespaceMode__Output =
    label && PID_MODES.has(label) ? (label as NamespaceMode__Output) : hc.PidMode === 'host' ? 'NODE' : 'POD';
  return {
    network: hc.NetworkMode === 'host' ? 'NODE' : 'POD',
    pid,
    ipc: hc.IpcMode === 'host' ? 'NODE' : 'POD',
  };
}

/** True when workload containers of this pod must join the pause container's PID namespace. */
export function sharesPodPid(record: ContainerRecord): boolean {
  return sandboxNamespaces(record).pid === 'POD';
}

/**
 * The pod IP Docker's bridge gave the pause container. Host-network pods have the node's
 * addresses (the kubelet uses the node IP for them), so none is reported; a stopped pod has none.
 */
export function sandboxIp(record: ContainerRecord): string {
  if (record.HostConfig?.NetworkMode === 'host' || !record.State?.Running) return '';
  for (const net of Object.values(record.NetworkSettings?.Networks ?? {})) if (net.IPAddress) return net.IPAddress;
  return '';
}

/** The CRI PodSandbox of a pause container's record; undefined when the name is not ours. */
export function toPodSandbox(record: ContainerRecord): PodSandbox | undefined {
  if (sandboxes.has(record)) return sandboxes.get(record);
  const built = buildPodSandbox(record);
  sandboxes.set(record, built);
  return built;
}

/** Per record, as toContainer: built once per state change; callers must not modify it. */
const sandboxes = new WeakMap<ContainerRecord, PodSandbox | undefined>();

function buildPodSandbox(record: ContainerRecord): PodSandbox | undefined {
  const parsed = parseName(record.Name);
  if (!parsed) return undefined;
  const { labels, annotations } = fromDockerLabels(record.Config?.Labels);
  return {
    id: record.Id,
    metadata: { name: parsed.podName, namespace: parsed.podNamespace, uid: parsed.podUid, attempt: parsed.attempt },
    state: sandboxState(record),
    created_at: dockerTimeToNs(record.Created),
    labels,
    annotations,
    runtime_handler: record.Config?.Labels?.[LABEL_RUNTIME_HANDLER] ?? '',
  };
}

/**
 * What a sandbox's checkpoint (src/store/checkpoint.ts) says of its pod: named here, below the
 * store, so that this layer imports nothing above it.
 */
export interface CheckpointedPod {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  data: { host_network: boolean };
}

/**
 * A sandbox whose pause container is gone (removed behind the shim) but whose checkpoint is
 * left, as cri-dockerd lists it: NOTREADY, so the kubelet stops and removes it, which releases
 * its network and the checkpoint. Created "0": older than any sandbox the pod has.
 */
export function checkpointPodSandbox(id: string, checkpoint: CheckpointedPod): PodSandbox {
  return {
    id,
    metadata: { name: checkpoint.name, namespace: checkpoint.namespace, uid: checkpoint.uid, attempt: checkpoint.attempt ?? 0 },
    state: 'SANDBOX_NOTREADY',
    created_at: '0',
    labels: {},
    annotations: {},
    runtime_handler: '',
  };
}

/** PodSandboxStatus of such a sandbox: no address, its namespaces as far as the checkpoint says. */
export function checkpointPodSandboxStatus(id: string, checkpoint: CheckpointedPod): PodSandboxStatus {
  const network = checkpoint.data.host_network ? 'NODE' : 'POD';
  return {
    ...checkpointPodSandbox(id, checkpoint),
    network: { ip: '', additional_ips: [] },
    linux: { namespaces: { options: { network, pid: 'POD', ipc: 'POD', target_id: '' } } },
  };
}

/** Per record, the status built from it by network status; as toPodSandbox, callers must not modify it. */
const sandboxStatuses = new WeakMap<ContainerRecord, { key: string; status: PodSandboxStatus | undefined }>();

/**
 * The CRI PodSandboxStatus of a pause container's record; undefined when the name is not ours.
 * `network` is what the pod network reports; by default the address on Docker's bridge.
 */
export function toPodSandboxStatus(
  record: ContainerRecord,
  network: PodSandboxNetworkStatus = { ip: sandboxIp(record), additional_ips: [] },
): PodSandboxStatus | undefined {
  const key = [network.ip ?? '', ...(network.additional_ips ?? []).map((a) => a.ip ?? '')].join(',');
  const known = sandboxStatuses.get(record);
  if (known?.key === key) return known.status;
  const sandbox = toPodSandbox(record);
  const status = sandbox && {
    ...sandbox,
    network,
    linux: { namespaces: { options: { ...sandboxNamespaces(record), target_id: '' } } },
  };
  sandboxStatuses.set(record, { key, status });
  return status;
}

/** The `verbose` info of PodSandboxStatus: what an operator debugging the pod wants from Docker. */
export function sandboxVerboseInfo(record: ContainerRecord, checkpoint: unknown): Record<string, string> {
  const hc = record.HostConfig ?? {};
  const info = {
    pid: record.State?.Pid ?? 0,
    processStatus: record.State?.Status ?? '',
    image: record.Config?.Image ?? '',
    imageId: record.Image,
    runtimeHandler: record.Config?.Labels?.[LABEL_RUNTIME_HANDLER] ?? '',
    dockerRuntime: hc.Runtime ?? '',
    containerName: record.Name.replace(/^\//, ''),
    hostname: record.Config?.Hostname ?? '',
    networkMode: hc.NetworkMode ?? '',
    ipcMode: hc.IpcMode ?? '',
    pidMode: hc.PidMode ?? '',
    cgroupParent: hc.CgroupParent ?? '',
    sysctls: (hc as { Sysctls?: Record<string, string> }).Sysctls ?? {},
    oomScoreAdj: hc.OomScoreAdj ?? 0,
    portBindings: hc.PortBindings ?? {},
    resolvConfPath: record.ResolvConfPath,
    hostsPath: record.HostsPath,
    checkpoint,
  };
  return { info: JSON.stringify(info) };
}
