// Pod bandwidth limits from the annotations the kubelet documents
// (kubernetes.io/ingress-bandwidth, kubernetes.io/egress-bandwidth: Kubernetes quantities in
// bits per second), checked as the kubelet's bandwidth shaper checks them.
import { invalidArgument } from '../errors.js';

export const INGRESS_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_ANNOTATION = 'kubernetes.io/egress-bandwidth';

/** The CNI "bandwidth" capability argument (rates in bit/s, bursts in bits). */
export interface BandwidthArgs {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const MIN_RATE = 1e3;
const MAX_RATE = 1e15;
/** What dockershim and cri-dockerd pass as burst: large enough to mean "no burst limit". */
const BURST = 2 ** 31 - 1;

/** A Kubernetes quantity ("10M", "1Gi", "1.5e6") as a whole number, rounded up as Value() does. */
export function parseQuantity(text: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? 10 ** Number(m[2].slice(1)) : SUFFIX[m[3] ?? '']);
  return Number.isFinite(n) ? Math.ceil(n) : undefined;
}

function rate(annotations: Record<string, string>, key: string): number | undefined {
  const text = annotations[key];
  if (text === undefined) return undefined;
  const value = parseQuantity(text);
  if (value === undefined) throw invalidArgument(`annotation ${key}: "${text}" is not a quantity (e.g. 10M)`);
  if (value < MIN_RATE) throw invalidArgument(`annotation ${key}: ${text} is unreasonably small (< 1k)`);
  if (value > MAX_RATE) throw invalidArgument(`annotation ${key}: ${text} is unreasonably large (> 1P)`);
  return value;
}

/** The pod's limits, or undefined when it has none. */
export function bandwidthFromAnnotations(annotations: Record<string, string>): BandwidthArgs | undefined {
  const ingress = rate(annotations, INGRESS_ANNOTATION);
  const egress = rate(annotations, EGRESS_ANNOTATION);
  if (ingress === undefined && egress === undefined) return undefined;
  return {
    ...(ingress !== undefined ? { ingressRate: ingress, ingressBurst: BURST } : {}),
    ...(egress !== undefined ? { egressRate: egress, egressBurst: BURST } : {}),
  };
}
