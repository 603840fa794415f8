// Pod sysctls checked against the namespace they live in, as the kubelet's sysctl admission
// does (Kubernetes component-helpers/node/util/sysctl, namespace.go). Docker hands them to runc,
// which fails only when the pause container starts, with an OCI error; a sysctl that is not
// namespaced, or whose namespace the pod shares with the node, is refused here, naming it,
// before anything is created.
import type { NamespaceMode__Output } from '../generated/runtime/v1/NamespaceMode.js';
import { invalidArgument } from '../errors.js';

export type SysctlNamespace = 'ipc' | 'net' | 'uts';

const BY_NAME: Record<string, SysctlNamespace> = {
  'kernel.sem': 'ipc',
  'kernel.hostname': 'uts',
  'kernel.domainname': 'uts',
};
const BY_PREFIX: Array<[string, SysctlNamespace]> = [
  ['kernel.shm', 'ipc'],
  ['kernel.msg', 'ipc'],
  ['fs.mqueue.', 'ipc'],
  ['net.', 'net'],
];

/**
 * The dotted form of a sysctl name. A name may use "/" as separator ("net/ipv4/ip_forward"),
 * in which case a "." is part of a component (an interface "eth0.100"), as in Kubernetes.
 */
export function normalizeSysctlName(name: string): string {
  const slash = name.indexOf('/');
  const dot = name.indexOf('.');
  if (slash < 0 || (dot >= 0 && dot < slash)) return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** The namespace a sysctl belongs to; undefined when it is not namespaced (node-wide). */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const n = normalizeSysctlName(name);
  return BY_NAME[n] ?? BY_PREFIX.find(([prefix]) => n.startsWith(prefix))?.[1];
}

/**
 * The pod's sysctls in dotted form, or InvalidArgument naming the first that the pod cannot
 * set: not namespaced, net.* or UTS ones on the host network (the containers of a host-network
 * pod get the node's UTS namespace, as in Kubernetes), IPC ones with the host IPC namespace.
 */
export function podSysctls(
  sysctls: Record<string, string>,
  modes: { network: NamespaceMode__Output; ipc: NamespaceMode__Output },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(sysctls)) {
    const field = `config.linux.sysctls "${name}"`;
    const ns = sysctlNamespace(name);
    if (ns === undefined) throw invalidArgument(`${field} is not a namespaced sysctl: a pod cannot set it (it would change the whole node)`);
    if ((ns === 'net' || ns === 'uts') && modes.network === 'NODE') {
      throw invalidArgument(`${field} is in the ${ns === 'net' ? 'network' : 'UTS'} namespace, which the containers of a host-network pod share with the node`);
    }
    if (ns === 'ipc' && modes.ipc === 'NODE') throw invalidArgument(`${field} is in the IPC namespace, which this pod shares with the node (host IPC)`);
    out[normalizeSysctlName(name)] = value;
  }
  return out;
}
