// Docker labels are the shim's database: they say which containers are ours, what kind, which
// pod they belong to; CRI labels and annotations are kept in them so they round-trip exactly.

export const LABEL_TYPE = 'io.kubernetes.docker.type';
export const TYPE_SANDBOX = 'podsandbox';
export const TYPE_CONTAINER = 'container';
export const LABEL_SANDBOX_ID = 'io.kubernetes.sandbox.id';
export const LABEL_LOG_PATH = 'io.kubernetes.container.logpath';
/** Marks labels written by this shim (not by the kubelet) so they are stripped on the way out. */
export const LABEL_SHIM_PREFIX = 'io.kubernetes.docker-cri-shim.';
const ANNOTATION_PREFIX = 'annotation.';

const INTERNAL_LABELS = new Set([LABEL_TYPE, LABEL_SANDBOX_ID, LABEL_LOG_PATH]);

/** Docker labels for a CRI object: CRI labels as-is, annotations prefixed, ours on top. */
export function toDockerLabels(
  criLabels: Record<string, string> | undefined,
  criAnnotations: Record<string, string> | undefined,
  internal: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(criLabels ?? {})) out[k] = v;
  for (const [k, v] of Object.entries(criAnnotations ?? {})) out[ANNOTATION_PREFIX + k] = v;
  Object.assign(out, internal);
  return out;
}

/** Splits Docker labels back into the CRI labels and annotations exactly as they were given. */
export function fromDockerLabels(labels: Record<string, string> | null | undefined): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const out = { labels: {} as Record<string, string>, annotations: {} as Record<string, string> };
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (INTERNAL_LABELS.has(k) || k.startsWith(LABEL_SHIM_PREFIX)) continue;
    if (k.startsWith(ANNOTATION_PREFIX)) out.annotations[k.slice(ANNOTATION_PREFIX.length)] = v;
    else out.labels[k] = v;
  }
  return out;
}

/** True when every key=value of the selector is present in the CRI labels. */
export function matchesSelector(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}
