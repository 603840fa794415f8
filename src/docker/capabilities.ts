// CRI capability lists -> Docker CapAdd/CapDrop. Kubernetes writes "NET_ADMIN", Docker's API
// "CAP_NET_ADMIN"; "ALL" in add is expanded to the capabilities the shim's own bounding set
// has (as containerd does), because Docker 20.10 would ask runc for every capability it knows
// and fail on hosts whose root lacks some (these VMs lack CAP_SYS_RESOURCE).
import { invalidArgument } from '../errors.js';
import { capabilitiesFromMask, hostLimits, type HostLimits } from './host-limits.js';

const ALL = 'ALL';
const NAME = /^[A-Z_0-9]+$/;

/** "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" all mean CAP_NET_ADMIN; "ALL" stays "ALL". */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === ALL) return ALL;
  if (!NAME.test(upper) || upper === 'CAP_') throw invalidArgument(`${field}: "${name}" is not a capability name`);
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/**
 * Docker CapAdd/CapDrop for the CRI add/drop lists. A capability both added and dropped is
 * dropped only when the drop is "ALL" (Kubernetes: drop ALL then add back what is listed).
 */
export function dockerCapabilities(
  add: readonly string[],
  drop: readonly string[],
  boundingSet: readonly string[],
): { CapAdd: string[]; CapDrop: string[] } {
  const adds = add.map((c, i) => normalizeCapability(c, `capabilities.add_capabilities[${i}]`));
  const drops = drop.map((c, i) => normalizeCapability(c, `capabilities.drop_capabilities[${i}]`));
  const dropSet = new Set(drops);
  let capAdd = adds.includes(ALL) ? [...boundingSet] : adds;
  // An explicit single drop wins over "add ALL": what is left is ALL minus the drops.
  if (adds.includes(ALL)) capAdd = capAdd.filter((c) => !dropSet.has(c));
  return { CapAdd: [...new Set(capAdd)], CapDrop: [...new Set(drops)] };
}

/**
 * Capabilities the kernel has (bits 0..cap_last_cap) that the bounding set lacks. Docker 20.10
 * gives a privileged container every capability the kernel has, so runc fails to start one
 * whenever this list is not empty.
 */
export function missingForPrivileged(boundingSet: readonly string[], capLastCap: number): string[] {
  const full = ((1n << BigInt(capLastCap + 1)) - 1n).toString(16);
  const have = new Set(boundingSet);
  return capabilitiesFromMask(full).filter((c) => !have.has(c));
}

/** The capabilities that are in CapAdd only because "ALL" was asked for (not named one by one). */
export function capabilitiesFromAll(
  caps: { add_capabilities: readonly string[] } | null | undefined,
  boundingSet: readonly string[],
): Set<string> {
  const adds = (caps?.add_capabilities ?? []).map((c, i) => normalizeCapability(c, `capabilities.add_capabilities[${i}]`));
  if (!adds.includes(ALL)) return new Set();
  return new Set(boundingSet.filter((c) => !adds.includes(c)));
}

/**
 * Capabilities Docker's privileged mode would ask runc for that root's bounding set here lacks
 * (Docker 20.10 grants every capability the kernel has); empty when privileged can work, or
 * when the kernel's last capability is unknown.
 */
export function privilegedMissing(limits: HostLimits = hostLimits()): string[] {
  if (limits.capLastCap < 0) return [];
  return missingForPrivileged(limits.boundingSet, limits.capLastCap);
}
