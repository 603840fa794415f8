// Docker inspect record of a workload container -> CRI Container / ContainerStatus. All of it
// comes from the record (name, labels, State, HostConfig), so List calls cost no Docker request
// and answers are the same after a shim restart. The process user is the one exception: it
// is read by the service (from /proc or the image's files) and handed in.
import type { Container } from '../generated/runtime/v1/Container.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { ContainerState__Output } from '../generated/runtime/v1/ContainerState.js';
import type { ContainerUser } from '../generated/runtime/v1/ContainerUser.js';
import type { Mount } from '../generated/runtime/v1/Mount.js';
import type { MountPropagation__Output } from '../generated/runtime/v1/MountPropagation.js';
import type { LinuxContainerResources } from '../generated/runtime/v1/LinuxContainerResources.js';
import { Signal, type Signal__Output } from '../generated/runtime/v1/Signal.js';
import type { ContainerRecord } from './engine.js';
import { LABEL_IMAGE_NAME, LABEL_IMAGE_REF, LABEL_USER_IMAGE } from './container-spec.js';
import { fromDockerLabels, LABEL_LOG_PATH, LABEL_SANDBOX_ID } from './labels.js';
import { parseName } from './naming.js';
import { dockerTimeToNs } from './sandbox-status.js';

/**
 * created -> CREATED; running/paused/restarting -> RUNNING; exited/dead -> EXITED. A created
 * container whose start failed (Docker keeps it "created" with the error) is EXITED, as
 * containerd reports it, so the kubelet shows why instead of waiting on it.
 */
export function containerState(record: ContainerRecord): ContainerState__Output {
  switch (record.State?.Status) {
    case 'created':
      return record.State.Error ? 'CONTAINER_EXITED' : 'CONTAINER_CREATED';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'CONTAINER_RUNNING';
    case 'exited':
    case 'dead':
      return 'CONTAINER_EXITED';
    default:
      return 'CONTAINER_UNKNOWN';
  }
}

/** The image id Docker created the container from (sha256:...). */
export function imageIdOf(record: ContainerRecord): string {
  return record.Image ?? '';
}

/** The digest reference recorded at create time, else the image id. */
export function imageRefOf(record: ContainerRecord): string {
  return record.Config?.Labels?.[LABEL_IMAGE_REF] || imageIdOf(record);
}

/**
 * Per record: an index record is never changed in place (a change is a new record from a new
 * inspect), so a ListContainers builds each entry once per state change, not once per call.
 * Callers must not modify what they get.
 */
const containers = new WeakMap<ContainerRecord, Container | undefined>();

/** The CRI Container a List call returns; undefined for a record whose name is not ours. */
export function toContainer(record: ContainerRecord): Container | undefined {
  if (containers.has(record)) return containers.get(record);
  const built = buildContainer(record);
  containers.set(record, built);
  return built;
}

function buildContainer(record: ContainerRecord): Container | undefined {
  const parsed = parseName(record.Name);
  if (!parsed) return undefined;
  const { labels, annotations } = fromDockerLabels(record.Config?.Labels);
  return {
    id: record.Id,
    pod_sandbox_id: record.Config?.Labels?.[LABEL_SANDBOX_ID] ?? '',
    metadata: { name: parsed.containerName, attempt: parsed.attempt },
    image: {
      image: record.Config?.Labels?.[LABEL_IMAGE_NAME] || (record.Config?.Image ?? ''),
      user_specified_image: record.Config?.Labels?.[LABEL_USER_IMAGE] ?? '',
    },
    image_ref: imageRefOf(record),
    image_id: imageIdOf(record),
    state: containerState(record),
    created_at: dockerTimeToNs(record.Created),
    labels,
    annotations,
  };
}

/** Reason of an exited container as the kubelet expects it. */
export function exitReason(record: ContainerRecord): string {
  if (containerState(record) !== 'CONTAINER_EXITED') return '';
  if (record.State.Status === 'created') return 'StartError';
  if (record.State.OOMKilled) return 'OOMKilled';
  return record.State.ExitCode === 0 ? 'Completed' : 'Error';
}

export interface ParsedBind {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
  propagation: MountPropagation__Output;
  selinuxRelabel: boolean;
}

const PROPAGATION: Record<string, MountPropagation__Output> = {
  rslave: 'PROPAGATION_HOST_TO_CONTAINER',
  slave: 'PROPAGATION_HOST_TO_CONTAINER',
  rshared: 'PROPAGATION_BIDIRECTIONAL',
  shared: 'PROPAGATION_BIDIRECTIONAL',
};

/** Reads back a Docker bind string "host:container[:opts]". */
export function parseBind(bind: string): ParsedBind | undefined {
  const parts = bind.split(':');
  if (parts.length < 2) return undefined;
  const opts = parts.length > 2 ? parts[2].split(',') : [];
  let propagation: MountPropagation__Output = 'PROPAGATION_PRIVATE';
  for (const o of opts) propagation = PROPAGATION[o] ?? propagation;
  return {
    hostPath: parts[0],
    containerPath: parts[1],
    readonly: opts.includes('ro'),
    propagation,
    selinuxRelabel: opts.includes('z') || opts.includes('Z'),
  };
}

/** The container's bind mounts in the order they were asked for. */
export function mountsOf(record: ContainerRecord): Mount[] {
  const out: Mount[] = [];
  for (const bind of record.HostConfig?.Binds ?? []) {
    const b = parseBind(bind);
    if (!b) continue;
    out.push({
      host_path: b.hostPath,
      container_path: b.containerPath,
      readonly: b.readonly,
      propagation: b.propagation,
      selinux_relabel: b.selinuxRelabel,
    });
  }
  return out;
}

/** The Linux resources Docker applied (what UpdateContainerResources changes too). */
export function resourcesOf(record: ContainerRecord): LinuxContainerResources {
  const hc = record.HostConfig ?? {};
  return {
    cpu_period: hc.CpuPeriod ?? 0,
    cpu_quota: hc.CpuQuota ?? 0,
    cpu_shares: hc.CpuShares ?? 0,
    memory_limit_in_bytes: hc.Memory ?? 0,
    memory_swap_limit_in_bytes: hc.MemorySwap ?? 0,
    oom_score_adj: hc.OomScoreAdj ?? 0,
    cpuset_cpus: hc.CpusetCpus ?? '',
    cpuset_mems: hc.CpusetMems ?? '',
  };
}

function stopSignalOf(record: ContainerRecord): Signal__Output {
  const s = (record.Config as { StopSignal?: string } | undefined)?.StopSignal ?? '';
  return s in Signal ? (s as Signal__Output) : 'RUNTIME_DEFAULT';
}

/**
 * Newest first, by creation time: the order the kubelet's own listing gives (containerStatusByCreated)
 * and assumes when it reads `containers_statuses` of PodSandboxStatus under the evented PLEG,
 * unsorted: it takes the first status of a name as the latest attempt, so an older exited
 * attempt listed first makes it recreate a container that already runs.
 */
export function newestFirst(statuses: ContainerStatus[]): ContainerStatus[] {
  const ns = (s: ContainerStatus) => BigInt(String(s.created_at ?? '0'));
  return statuses.sort((a, b) => (ns(a) === ns(b) ? 0 : ns(a) > ns(b) ? -1 : 1));
}

/**
 * Per record, the statuses built from it by user and oom_score_adj (the service reads both from
 * the live process, so a running container has one or two variants): as toContainer, built once
 * per state change; callers must not modify them.
 */
const statuses = new WeakMap<ContainerRecord, Map<string, ContainerStatus | undefined>>();
const STATUS_VARIANTS = 4;

/**
 * The full ContainerStatus; `user` is what the service found for the process, `oomScoreAdj` the
 * process's live value when it differs from the record's (UpdateContainerResources wrote it).
 */
export function toContainerStatus(record: ContainerRecord, user: ContainerUser | null, oomScoreAdj?: number): ContainerStatus | undefined {
  const key = `${oomScoreAdj ?? ''}|${user ? JSON.stringify(user) : ''}`;
  let variants = statuses.get(record);
  if (!variants) statuses.set(record, (variants = new Map()));
  if (variants.has(key)) return variants.get(key);
  if (variants.size >= STATUS_VARIANTS) variants.clear();
  const built = buildContainerStatus(record, user, oomScoreAdj);
  variants.set(key, built);
  return built;
}

function buildContainerStatus(record: ContainerRecord, user: ContainerUser | null, oomScoreAdj: number | undefined): ContainerStatus | undefined {
  const c = toContainer(record);
  if (!c) return undefined;
  const state = record.State;
  const linux = resourcesOf(record);
  return {
    id: c.id,
    metadata: c.metadata,
    state: c.state,
    created_at: c.created_at,
    started_at: dockerTimeToNs(state?.StartedAt),
    finished_at: c.state === 'CONTAINER_EXITED' ? dockerTimeToNs(state?.FinishedAt) : '0',
    exit_code: state?.ExitCode ?? 0,
    image: c.image,
    image_ref: c.image_ref,
    image_id: c.image_id,
    reason: exitReason(record),
    message: state?.Error ?? '',
    labels: c.labels,
    annotations: c.annotations,
    mounts: mountsOf(record),
    log_path: record.Config?.Labels?.[LABEL_LOG_PATH] ?? '',
    resources: { linux: oomScoreAdj === undefined ? linux : { ...linux, oom_score_adj: oomScoreAdj } },
    user,
    stop_signal: stopSignalOf(record),
  };
}

/** The `verbose` info map: Docker's inspect record and the process id, as crictl inspect shows them. */
export function containerVerboseInfo(record: ContainerRecord, warnings: readonly string[] = []): Record<string, string> {
  const info: Record<string, unknown> = { sandboxID: record.Config?.Labels?.[LABEL_SANDBOX_ID] ?? '', pid: record.State?.Pid ?? 0 };
  // Request fields this host could not honour: the operator's answer to "why is my limit missing".
  if (warnings.length > 0) info.warnings = warnings;
  info.inspect = record;
  return { info: JSON.stringify(info) };
}

/** uid, gid and supplementary groups of a running process, from /proc/<pid>/status. */
export function userFromProcStatus(text: string): ContainerUser | null {
  const field = (re: RegExp) => re.exec(text)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  const uid = field(PROC_UID)[0];
  const gid = field(PROC_GID)[0];
  if (uid === undefined || gid === undefined) return null;
  return { linux: { uid, gid, supplemental_groups: field(PROC_GROUPS) } };
}

const PROC_UID = /^Uid:[ \t]*(.*)$/m;
const PROC_GID = /^Gid:[ \t]*(.*)$/m;
// Blanks only: an empty Groups line must not run on into the next one.
const PROC_GROUPS = /^Groups:[ \t]*(.*)$/m;

const NUMERIC_ID = /^\d+$/;

/** One /etc/passwd or /etc/group file, split into fields per line. */
function entries(file: string): string[][] {
  return file
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/**
 * The user a container's process gets, worked out as runc does from the Docker User string
 * ("name", "uid", "uid:gid", "name:group") and the container's /etc/passwd and /etc/group:
 * without an explicit group the process has the user's primary group plus every group that
 * lists the user; with one, just that group. Docker adds GroupAdd on top.
 */
export function userFromConfig(user: string, groupAdd: readonly string[], passwd: string, group: string): ContainerUser | null {
  const [u = '', g] = user.split(':');
  const users = entries(passwd);
  const groups = entries(group);
  const pw = NUMERIC_ID.test(u) ? users.find((e) => e[2] === u) : users.find((e) => e[0] === (u || 'root'));
  // The container writes these files: an id that is not a number (say "root::" with an empty
  // uid) must not reach the CRI's int64 fields, where it fails the whole ContainerStatus.
  const uid = NUMERIC_ID.test(u) ? u : pw?.[2];
  if (uid === undefined || !NUMERIC_ID.test(uid)) return null;
  let gid: string | undefined;
  let supplemental: string[];
  if (g !== undefined) {
    gid = NUMERIC_ID.test(g) ? g : groups.find((e) => e[0] === g)?.[2];
    if (gid === undefined || !NUMERIC_ID.test(gid)) return null;
    supplemental = [gid];
  } else {
    gid = pw?.[3] ?? '0';
    if (!NUMERIC_ID.test(gid)) return null;
    const name = pw?.[0];
    const member = name ? groups.filter((e) => (e[3] ?? '').split(',').includes(name)).map((e) => e[2]) : [];
    supplemental = [gid, ...member.filter((x) => NUMERIC_ID.test(x))];
  }
  const add = groupAdd.map((x) => (NUMERIC_ID.test(x) ? x : groups.find((e) => e[0] === x)?.[2])).filter((x): x is string => x !== undefined && NUMERIC_ID.test(x));
  return { linux: { uid, gid, supplemental_groups: [...new Set([...add, ...supplemental])] } };
}

/** Why a file could not be read out of a container within its cap. */
export class ContainerFileTooLarge extends Error {}

/**
 * The content of the first regular file in a tar stream (what Docker's archive API returns for
 * one path), read incrementally: reading stops (and the stream is closed) as soon as the file is
 * known to exceed `maxBytes`, or once more than `maxBytes` plus a little header room was read
 * without finding it, so a container cannot make the shim buffer a file of any size.
 */
export async function firstFileOfTar(tar: AsyncIterable<Buffer>, maxBytes: number, path = 'file'): Promise<string | undefined> {
  const budget = maxBytes + TAR_HEADER_ROOM;
  let pending: Buffer = Buffer.alloc(0);
  let read = 0;
  /** Bytes still to skip of an entry that is not the file (pax or long-name headers, links). */
  let skip = 0;
  /** Size of the regular file whose content is being collected, once its header was seen. */
  let want = -1;
  for await (const chunk of tar) {
    read += chunk.length;
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      if (want >= 0) {
        if (pending.length >= want) return pending.subarray(0, want).toString('utf8');
        break;
      }
      if (skip > 0) {
        const n = Math.min(skip, pending.length);
        skip -= n;
        pending = pending.subarray(n);
        if (skip > 0) break;
      }
      if (pending.length < 512) break;
      const header = pending.subarray(0, 512);
      if (header.every((b) => b === 0)) return undefined;
      const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${path}: malformed tar header from Docker`);
      const type = String.fromCharCode(header[156]);
      pending = pending.subarray(512);
      if (type === '0' || type === '\0') {
        if (size > maxBytes) throw new ContainerFileTooLarge(`${path} is ${size} bytes, over the ${maxBytes}-byte cap for files read out of containers`);
        want = size;
      } else {
        skip = Math.ceil(size / 512) * 512;
      }
    }
    if (read > budget) throw new ContainerFileTooLarge(`${path}: Docker's archive exceeds the ${maxBytes}-byte cap for files read out of containers`);
  }
  return undefined;
}

/** Room for tar headers (and pax records) around a capped file. */
const TAR_HEADER_ROOM = 64 * 1024;
