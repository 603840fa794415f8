// What one endpoint did in one round: latencies per "workload/RPC", errors by gRPC code,
// pods per second per workload, and the cost of its processes from /proc.
import type { ProcessCost } from './procwatch.js';

export interface Throughput {
  pods: number;
  seconds: number;
}

export interface PollingCost {
  seconds: number;
  cpuSeconds: number;
  rssStartBytes: number;
  rssEndBytes: number;
}

export class Recorder {
  readonly latencies = new Map<string, number[]>();
  readonly errors = new Map<string, Map<string, number>>();
  readonly throughput = new Map<string, Throughput>();
  /** Items in the last answer of a List per "workload/RPC": endpoints holding more answer more. */
  readonly items = new Map<string, number>();
  /** The first message seen for each "key CODE", so a failing run says why. */
  readonly errorSamples = new Map<string, string>();
  cost: ProcessCost | undefined;
  /** The watched processes over the steady workload's polling phase alone (no pod setup or teardown). */
  polling: PollingCost | undefined;

  latency(key: string, ms: number): void {
    let list = this.latencies.get(key);
    if (!list) this.latencies.set(key, (list = []));
    list.push(ms);
  }

  error(key: string, code: string, message?: string): void {
    if (message && !this.errorSamples.has(`${key} ${code}`)) this.errorSamples.set(`${key} ${code}`, message);
    let byCode = this.errors.get(key);
    if (!byCode) this.errors.set(key, (byCode = new Map()));
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }

  answered(key: string, items: number): void {
    this.items.set(key, items);
  }

  pods(workload: string, pods: number, seconds: number): void {
    this.throughput.set(workload, { pods, seconds });
  }
}
