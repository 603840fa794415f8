// Resource fields of the CRI that Docker's API has no place for, checked the same way at create
// and at update: a request Docker would silently drop is an InvalidArgument naming the field.
import { invalidArgument } from '../errors.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';

/**
 * Docker has no hugetlb limits. A zero limit passes: the kubelet sends one for every page size
 * the node has that the pod does not ask for, and "no hugepages" is what the container gets.
 */
export function refuseHugepageLimits(r: Pick<LinuxContainerResources__Output, 'hugepage_limits'>, where: string): void {
  for (const h of r.hugepage_limits ?? []) {
    if (Number(h.limit ?? 0) > 0) {
      throw invalidArgument(`${where}.hugepage_limits[${h.page_size}]: Docker cannot limit hugepages; remove the hugepages request`);
    }
  }
}

/** Docker's create has no cgroup v2 unified map; UpdateContainerResources writes one into a running container. */
export function refuseUnifiedAtCreate(r: Pick<LinuxContainerResources__Output, 'unified'>, where: string): void {
  const key = Object.keys(r.unified ?? {})[0];
  if (key !== undefined) {
    throw invalidArgument(`${where}.unified["${key}"]: Docker cannot set cgroup v2 unified resources when creating a container`);
  }
}
