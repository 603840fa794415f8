// Container names `docker ps` users and tools grep for:
//   sandbox:   k8s_POD_<pod>_<namespace>_<uid>_<attempt>
//   container: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>
// Kubernetes names never contain "_", so a name splits into exactly six parts.

const PREFIX = 'k8s';
const SANDBOX_CONTAINER_NAME = 'POD';

export interface ParsedName {
  containerName: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  attempt: number;
}

export function sandboxName(pod: { name: string; namespace: string; uid: string; attempt: number }): string {
  return [PREFIX, SANDBOX_CONTAINER_NAME, pod.name, pod.namespace, pod.uid, pod.attempt].join('_');
}

export function containerName(
  container: { name: string; attempt: number },
  pod: { name: string; namespace: string; uid: string },
): string {
  return [PREFIX, container.name, pod.name, pod.namespace, pod.uid, container.attempt].join('_');
}

/** Parses a Docker name (with or without its leading "/"); undefined when it is not ours. */
export function parseName(dockerName: string): ParsedName | undefined {
  const parts = dockerName.replace(/^\//, '').split('_');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const attempt = Number(parts[5]);
  if (!Number.isInteger(attempt) || attempt < 0) return undefined;
  return { containerName: parts[1], podName: parts[2], podNamespace: parts[3], podUid: parts[4], attempt };
}
