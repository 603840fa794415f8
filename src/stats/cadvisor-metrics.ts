// The cAdvisor-style metrics the kubelet serves on /metrics/cadvisor when the runtime supplies
// them (ListMetricDescriptors once, then ListPodSandboxMetrics per scrape). Names, help texts and
// label keys follow cAdvisor so existing dashboards and alerts keep working.
import type { Metric } from '../generated/runtime/v1/Metric.js';
import type { MetricDescriptor } from '../generated/runtime/v1/MetricDescriptor.js';
import type { CgroupSample, InterfaceCounters } from './cgroup-parse.js';

/** cAdvisor's per-container labels, in the order every metric's label_values follow. */
export const BASE_LABEL_KEYS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

export type BaseLabels = Record<(typeof BASE_LABEL_KEYS)[number], string>;

type Kind = 'COUNTER' | 'GAUGE';

interface Def {
  name: string;
  help: string;
  kind: Kind;
  extraKeys?: string[];
}

const CPU: Def[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', kind: 'COUNTER', extraKeys: ['cpu'] },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', kind: 'COUNTER' },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', kind: 'COUNTER' },
  { name: 'container_cpu_cfs_periods_total', help: 'Number of elapsed enforcement period intervals.', kind: 'COUNTER' },
  { name: 'container_cpu_cfs_throttled_periods_total', help: 'Number of throttled period intervals.', kind: 'COUNTER' },
  { name: 'container_cpu_cfs_throttled_seconds_total', help: 'Total time duration the container has been throttled.', kind: 'COUNTER' },
];
const MEMORY: Def[] = [
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed', kind: 'GAUGE' },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', kind: 'GAUGE' },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', kind: 'GAUGE' },
  { name: 'container_memory_cache', help: 'Number of bytes of page cache memory.', kind: 'GAUGE' },
  { name: 'container_memory_mapped_file', help: 'Size of memory mapped files in bytes.', kind: 'GAUGE' },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', kind: 'GAUGE' },
  { name: 'container_memory_failcnt', help: 'Number of memory usage hits limits', kind: 'COUNTER' },
  {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures.',
    kind: 'COUNTER',
    extraKeys: ['failure_type', 'scope'],
  },
  { name: 'container_oom_events_total', help: 'Count of out of memory events observed for the container', kind: 'COUNTER' },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', kind: 'GAUGE' },
];
const PROCESS: Def[] = [{ name: 'container_processes', help: 'Number of processes running inside the container.', kind: 'GAUGE' }];
const FS: Def[] = [
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', kind: 'GAUGE', extraKeys: ['device'] },
  { name: 'container_fs_inodes_total', help: 'Number of Inodes', kind: 'GAUGE', extraKeys: ['device'] },
];
const NETWORK: Def[] = [
  ['receive_bytes', 'Cumulative count of bytes received'],
  ['receive_packets', 'Cumulative count of packets received'],
  ['receive_packets_dropped', 'Cumulative count of packets dropped while receiving'],
  ['receive_errors', 'Cumulative count of errors encountered while receiving'],
  ['transmit_bytes', 'Cumulative count of bytes transmitted'],
  ['transmit_packets', 'Cumulative count of packets transmitted'],
  ['transmit_packets_dropped', 'Cumulative count of packets dropped while transmitting'],
  ['transmit_errors', 'Cumulative count of errors encountered while transmitting'],
].map(([n, help]) => ({ name: `container_network_${n}_total`, help, kind: 'COUNTER' as const, extraKeys: ['interface'] }));
const MISC: Def[] = [{ name: 'container_last_seen', help: 'Last time a container was seen by the exporter', kind: 'GAUGE' }];

const ALL = [...CPU, ...MEMORY, ...PROCESS, ...FS, ...NETWORK, ...MISC];
const BY_NAME = new Map(ALL.map((d) => [d.name, d]));

export function metricDescriptors(): MetricDescriptor[] {
  return ALL.map((d) => ({ name: d.name, help: d.help, label_keys: [...BASE_LABEL_KEYS, ...(d.extraKeys ?? [])] }));
}

/** Builds Metric messages for one container (or the pod's own cgroup) against fixed base labels. */
export class MetricWriter {
  readonly out: Metric[] = [];
  private readonly base: string[];

  constructor(labels: BaseLabels) {
    this.base = BASE_LABEL_KEYS.map((k) => labels[k]);
  }

  add(name: string, value: number, extra: string[] = []): void {
    const def = BY_NAME.get(name);
    if (!def) throw new Error(`metric ${name} has no descriptor`);
    // Timestamp 0: gathered live for this request, which is what the kubelet expects then.
    this.out.push({
      name,
      timestamp: 0,
      metric_type: def.kind,
      label_values: [...this.base, ...extra],
      value: { value: Math.max(0, Math.floor(value)) },
    });
  }

  cgroup(s: CgroupSample): void {
    const sec = (ns: number) => ns / 1e9;
    this.add('container_cpu_usage_seconds_total', sec(s.cpu.usageNs), ['total']);
    this.add('container_cpu_user_seconds_total', sec(s.cpu.userNs));
    this.add('container_cpu_system_seconds_total', sec(s.cpu.systemNs));
    this.add('container_cpu_cfs_periods_total', s.cpu.periods);
    this.add('container_cpu_cfs_throttled_periods_total', s.cpu.throttledPeriods);
    this.add('container_cpu_cfs_throttled_seconds_total', sec(s.cpu.throttledNs));
    const m = s.memory;
    this.add('container_memory_usage_bytes', m.usage);
    this.add('container_memory_working_set_bytes', m.workingSet);
    this.add('container_memory_rss', m.rss);
    this.add('container_memory_cache', m.cache);
    this.add('container_memory_mapped_file', m.mappedFile);
    this.add('container_memory_swap', m.swap);
    this.add('container_memory_failcnt', m.failcnt);
    this.add('container_memory_failures_total', m.pageFaults, ['pgfault', 'container']);
    this.add('container_memory_failures_total', m.majorPageFaults, ['pgmajfault', 'container']);
    this.add('container_oom_events_total', m.oomKills);
    // cAdvisor reports 0 for "no limit".
    this.add('container_spec_memory_limit_bytes', m.limit ?? 0);
    if (s.pids !== undefined) this.add('container_processes', s.pids);
  }

  network(interfaces: InterfaceCounters[]): void {
    for (const i of interfaces) {
      const l = [i.name];
      this.add('container_network_receive_bytes_total', i.rxBytes, l);
      this.add('container_network_receive_packets_total', i.rxPackets, l);
      this.add('container_network_receive_packets_dropped_total', i.rxDropped, l);
      this.add('container_network_receive_errors_total', i.rxErrors, l);
      this.add('container_network_transmit_bytes_total', i.txBytes, l);
      this.add('container_network_transmit_packets_total', i.txPackets, l);
      this.add('container_network_transmit_packets_dropped_total', i.txDropped, l);
      this.add('container_network_transmit_errors_total', i.txErrors, l);
    }
  }

  filesystem(device: string, bytes: number, inodes: number): void {
    this.add('container_fs_usage_bytes', bytes, [device]);
    this.add('container_fs_inodes_total', inodes, [device]);
  }

  lastSeen(atMs: number): void {
    this.add('container_last_seen', atMs / 1000);
  }
}
