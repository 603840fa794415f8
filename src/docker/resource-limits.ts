// Resource fields of the CRI that Docker's API has no place for: cgroup v2 `unified` entries and
// hugepage limits. The kubelet sends both on every container of a cgroup v2 node
// (memory.oom.group "1", memory.swap.max "0", one hugepage limit per page size), so refusing
// them refuses every pod. They are planned here, the same way at create and at update:
//  - memory.swap.max goes through Docker where Docker can say it (MemorySwap = memory + swap,
//    which needs a memory limit), so runc applies it before the process runs;
//  - everything else is written into the container's cgroup files once it runs (CgroupWrite);
//  - what cannot apply on this host (unified on cgroup v1) is a warning, never a refusal.
// Only a malformed key or page size is InvalidArgument: it would name a file outside the cgroup.
import { invalidArgument } from '../errors.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';

/** One cgroup interface file to write into a running container's cgroup. */
export interface CgroupWrite {
  /** File name inside the container's cgroup directory (v2) or its controller's directory (v1). */
  file: string;
  value: string;
  /**
   * True for the zero hugepage limits the kubelet sends for page sizes a pod does not ask for:
   * the kubelet already caps the pod's cgroup at 0 there, so a host without the hugetlb
   * controller loses nothing and is not worth a warning.
   */
  optional?: boolean;
}

/** What the shim does with `unified` and `hugepage_limits` of one request. */
export interface CgroupPlan {
  /** Docker's MemorySwap when memory.swap.max can go through Docker (a memory limit is set). */
  memorySwap?: number;
  /** Files to write once the container runs. */
  writes: CgroupWrite[];
  /** What this host cannot honour, each naming the field; logged and shown in verbose status. */
  warnings: string[];
}

/** A cgroup interface file name: "<controller>.<name>", no path separators. */
const CGROUP_KEY = /^[a-z0-9_]+\.[a-z0-9_.]+$/;
/** Page sizes as the kubelet writes them (HugePageUnitSizeFromByteSize): 64KB, 2MB, 1GB. */
const PAGE_SIZE = /^[1-9][0-9]*[KMGTP]B$/;

const num = (v: string | number | undefined): number => Number(v ?? 0);

/**
 * Plans `unified` and `hugepage_limits` for a host of cgroup `version`. `memoryLimit` is the
 * memory limit Docker will hold (0: none), needed to turn memory.swap.max into MemorySwap.
 */
export function cgroupPlan(
  r: Pick<LinuxContainerResources__Output, 'unified' | 'hugepage_limits'>,
  where: string,
  version: 'v1' | 'v2',
  memoryLimit: number,
): CgroupPlan {
  const plan: CgroupPlan = { writes: [], warnings: [] };
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    const field = `${where}.unified["${key}"]`;
    if (!CGROUP_KEY.test(key)) throw invalidArgument(`${field}: not a cgroup v2 interface file name`);
    if (/[\n\0]/.test(value)) throw invalidArgument(`${field}: the value must be one line`);
    if (version === 'v1') {
      plan.warnings.push(`${field} = "${value}" not applied: unified resources need cgroup v2 and this host runs cgroup v1`);
      continue;
    }
    if (key === 'memory.swap.max' && memoryLimit > 0) {
      if (value === 'max') plan.memorySwap = -1;
      else if (/^[0-9]+$/.test(value)) plan.memorySwap = memoryLimit + Number(value);
      else throw invalidArgument(`${field}: "${value}" is neither a byte count nor "max"`);
      continue;
    }
    plan.writes.push({ file: key, value });
  }
  for (const [i, h] of (r.hugepage_limits ?? []).entries()) {
    if (!PAGE_SIZE.test(h.page_size)) throw invalidArgument(`${where}.hugepage_limits[${i}].page_size "${h.page_size}" is not a page size like 2MB`);
    const limit = num(h.limit);
    // v1 names the limit file hugetlb.<size>.limit_in_bytes, v2 hugetlb.<size>.max.
    const file = version === 'v2' ? `hugetlb.${h.page_size}.max` : `hugetlb.${h.page_size}.limit_in_bytes`;
    plan.writes.push({ file, value: String(limit), ...(limit === 0 ? { optional: true } : {}) });
  }
  return plan;
}
