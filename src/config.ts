// Command-line flags. Names follow cri-dockerd so an operator can swap binaries without
// touching the systemd unit; unknown flags are an error, never silently ignored.

import { isIPv4, isIPv6 } from 'node:net';
import { ConfigFileError, readConfigFile, type FlagValueKind } from './config-file.js';

export interface Config {
  containerRuntimeEndpoint: string;
  dockerEndpoint: string;
  podInfraContainerImage: string;
  rootDirectory: string;
  runtimeRequestTimeoutMs: number;
  logLevel: string;
  /** host:port for /metrics, /healthz and the loopback-only /debug endpoints; '' = off. Normalised by parseArgs. */
  metricsBindAddr: string;
  /** A pull that reports no progress for this long is cancelled; 0 = never. */
  imagePullProgressDeadlineMs: number;
  /** cgroup the shim moves itself into at start; '' = stay where started. */
  runtimeCgroups: string;
  /** host:port of the Exec/Attach/PortForward streaming server; port 0 = ephemeral. Normalised by parseArgs. */
  streamingBindAddr: string;
  /** "cni", or "" / "no-op" for Docker's own bridge (cri-dockerd's no-op plugin). */
  networkPlugin: string;
  /** Comma-separated directories searched for CNI plugin binaries. */
  cniBinDir: string;
  cniConfDir: string;
  cniCacheDir: string;
  /** Accepted as cri-dockerd does; CNI plugins take the MTU from their own config. 0 = default. */
  networkPluginMtu: number;
  /** promiscuous-bridge, hairpin-veth or none; as in cri-dockerd, CNI's bridge config decides hairpin. */
  hairpinMode: string;
  /** Pod CIDR until the kubelet sends one with UpdateRuntimeConfig (standalone use). */
  podCidr: string;
  /** Report a pod's second address family in PodSandboxStatus.additional_ips. */
  ipv6DualStack: boolean;
}

type FlagKind = FlagValueKind;

export const NETWORK_PLUGINS = ['cni', '', 'no-op', 'kubernetes.io/no-op'];
const HAIRPIN_MODES = ['promiscuous-bridge', 'hairpin-veth', 'none'];

interface FlagSpec {
  names: string[];
  key: keyof Config | 'version' | 'help' | 'config';
  kind: FlagKind;
  usage: string;
}

export const DEFAULTS: Config = {
  containerRuntimeEndpoint: 'unix:///var/run/docker-cri-shim.sock',
  dockerEndpoint: 'unix:///var/run/docker.sock',
  podInfraContainerImage: 'registry.k8s.io/pause:3.10',
  rootDirectory: '/var/lib/docker-cri-shim',
  runtimeRequestTimeoutMs: 2 * 60 * 1000,
  logLevel: 'info',
  metricsBindAddr: '',
  imagePullProgressDeadlineMs: 60 * 1000,
  runtimeCgroups: '',
  streamingBindAddr: '127.0.0.1:0',
  networkPlugin: 'cni',
  cniBinDir: '/opt/cni/bin',
  cniConfDir: '/etc/cni/net.d',
  cniCacheDir: '/var/lib/cni/cache',
  networkPluginMtu: 0,
  hairpinMode: 'none',
  podCidr: '',
  ipv6DualStack: false,
};

const FLAGS: FlagSpec[] = [
  { names: ['container-runtime-endpoint'], key: 'containerRuntimeEndpoint', kind: 'string', usage: 'CRI socket to serve (unix:///path)' },
  { names: ['docker-endpoint'], key: 'dockerEndpoint', kind: 'string', usage: 'Docker Engine API endpoint (unix:///path or tcp://host:port)' },
  { names: ['pod-infra-container-image'], key: 'podInfraContainerImage', kind: 'string', usage: 'image of the pause container of every pod' },
  { names: ['root-directory', 'cri-dockerd-root-directory'], key: 'rootDirectory', kind: 'string', usage: 'state directory (sandbox checkpoints)' },
  { names: ['runtime-request-timeout'], key: 'runtimeRequestTimeoutMs', kind: 'duration', usage: 'deadline of one Docker request, queue wait included, e.g. 2m0s (0 = 1m59s, as cri-dockerd)' },
  { names: ['log-level'], key: 'logLevel', kind: 'string', usage: 'trace, debug, info, warn, error or fatal' },
  { names: ['metrics-bind-addr'], key: 'metricsBindAddr', kind: 'string', usage: 'serve Prometheus /metrics and /healthz on host:port ("9100" and ":9100" = 127.0.0.1:9100; a host alone = an ephemeral port, logged); off when empty' },
  { names: ['image-pull-progress-deadline'], key: 'imagePullProgressDeadlineMs', kind: 'duration', usage: 'cancel a pull that makes no progress for this long (0 = never)' },
  { names: ['runtime-cgroups'], key: 'runtimeCgroups', kind: 'string', usage: 'absolute cgroup path to move the shim into at start, e.g. /system.slice/docker-cri-shim' },
  { names: ['streaming-bind-addr'], key: 'streamingBindAddr', kind: 'string', usage: 'address of the exec/attach/port-forward streaming server: IP (ephemeral port, as cri-dockerd), IP:port, [v6]:port, :port (all interfaces); port 0 = ephemeral' },
  { names: ['network-plugin'], key: 'networkPlugin', kind: 'string', usage: 'cni, or empty (--network-plugin=) for Docker\'s own bridge network' },
  { names: ['cni-bin-dir'], key: 'cniBinDir', kind: 'string', usage: 'comma-separated directories of CNI plugin binaries' },
  { names: ['cni-conf-dir'], key: 'cniConfDir', kind: 'string', usage: 'directory of CNI network configs; the first valid file by name is used' },
  { names: ['cni-cache-dir'], key: 'cniCacheDir', kind: 'string', usage: 'directory of the CNI result cache (what DEL needs after a restart)' },
  { names: ['network-plugin-mtu'], key: 'networkPluginMtu', kind: 'int', usage: 'accepted for cri-dockerd compatibility; CNI plugins set the MTU from their config' },
  { names: ['hairpin-mode'], key: 'hairpinMode', kind: 'string', usage: 'promiscuous-bridge, hairpin-veth or none; under CNI the plugin config decides' },
  { names: ['pod-cidr'], key: 'podCidr', kind: 'string', usage: 'pod CIDR (comma-separated for dual stack) until the kubelet sends one' },
  { names: ['ipv6-dual-stack'], key: 'ipv6DualStack', kind: 'bool', usage: 'report both address families of a pod' },
  { names: ['config'], key: 'config', kind: 'string', usage: 'YAML or JSON file of flag-name: value; command-line flags override it' },
  { names: ['version'], key: 'version', kind: 'bool', usage: 'print the version and exit' },
  { names: ['help', 'h'], key: 'help', kind: 'bool', usage: 'print this help and exit' },
];

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

export class UsageError extends Error {}

export type ParsedArgs =
  | { action: 'run'; config: Config }
  | { action: 'version' }
  | { action: 'help' };

/**
 * --runtime-request-timeout 0: cri-dockerd's libdocker then applies its default timeout of
 * short-running Docker operations (2m - 1s); 0 never means "no time at all".
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2 * 60_000 - 1_000;

/** The deadline of one Docker request or network operation that --runtime-request-timeout means. */
export function requestTimeoutMs(config: Pick<Config, 'runtimeRequestTimeoutMs'>): number {
  return config.runtimeRequestTimeoutMs > 0 ? config.runtimeRequestTimeoutMs : DEFAULT_REQUEST_TIMEOUT_MS;
}

/** Parses Go-style durations as cri-dockerd accepts them: "2m0s", "90s", "1h30m", "500ms". */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0].length;
  }
  if (text === '0') return 0;
  if (matched === 0 || matched !== text.length) throw new UsageError(`invalid duration "${text}" (examples: 2m0s, 30s, 500ms)`);
  return total;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * A listen address flag in every form cri-dockerd takes, in its meaning: "IP:port",
 * "[v6]:port", an IP without a port (cri-dockerd's --streaming-bind-addr 127.0.0.1: port 0,
 * an ephemeral port the shim logs and puts in its URLs), an unbracketed IPv6 address (the
 * same), and beyond it ":port" and a bare port (on `anyHost`), and host names.
 */
export function parseListenAddress(flag: string, text: string, anyHost: string): ListenAddress {
  const bad = (why: string) => new UsageError(`--${flag} "${text}": ${why} (forms: 127.0.0.1, 127.0.0.1:10010, [::1]:10010, ::1, :10010, 10010)`);
  const portOf = (p: string): number => {
    if (!/^\d{1,5}$/.test(p) || Number(p) > 65535) throw bad(`port "${p}" is not a number from 0 to 65535`);
    return Number(p);
  };
  const t = text.trim();
  if (t === '') throw bad('empty address');
  if (/^\d+$/.test(t)) return { host: anyHost, port: portOf(t) };
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (bracketed) {
    // Brackets are for IPv6 only: anything else would be accepted here and refused once written out.
    if (!isIPv6(bracketed[1])) throw bad(`"[${bracketed[1]}]" is not a bracketed IPv6 address`);
    return { host: bracketed[1], port: bracketed[2] === undefined ? 0 : portOf(bracketed[2]) };
  }
  // Two colons or more, unbracketed: an IPv6 address alone (as Go's netip.ParseAddr reads it).
  if ((t.match(/:/g) ?? []).length > 1) {
    if (!isIPv6(t)) throw bad('not an IPv6 address (put a port after [addr]:)');
    return { host: t, port: 0 };
  }
  const colon = t.indexOf(':');
  const host = colon < 0 ? t : t.slice(0, colon);
  const port = colon < 0 ? 0 : portOf(t.slice(colon + 1));
  if (host === '') return { host: anyHost, port };
  if (!isIPv4(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw bad(`"${host}" is not an IP address or host name`);
  }
  return { host, port };
}

/** "host:port" with IPv6 bracketed, the form the parsed flag is kept in. */
export function formatListenAddress(a: ListenAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

export function usage(): string {
  const lines = ['Usage: docker-cri-shim [flags]', '', 'Flags:'];
  for (const f of FLAGS) {
    const names = f.names.map((n) => `--${n}`).join(', ');
    const def = f.key in DEFAULTS && formatDefault(f) !== '' ? ` (default ${formatDefault(f)})` : '';
    lines.push(`  ${names}${f.kind === 'bool' ? '' : ' value'}\n      ${f.usage}${def}`);
  }
  return lines.join('\n');
}

function formatDefault(f: FlagSpec): string {
  const v = DEFAULTS[f.key as keyof Config];
  return f.kind === 'duration' ? `${Number(v) / 1000}s` : String(v);
}

/** The value of the last --config on the command line, if any. */
function configFileArg(argv: string[]): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?config(?:=(.*))?$/s.exec(argv[i]);
    if (m) path = m[1] ?? argv[++i];
  }
  return path;
}

export async function parseArgs(argv: string[]): Promise<ParsedArgs> {
  const config: Config = { ...DEFAULTS };
  const byName = new Map<string, FlagSpec>();
  for (const f of FLAGS) for (const n of f.names) byName.set(n, f);
  const assign = (spec: FlagSpec, value: string) => {
    if (spec.kind === 'duration') (config[spec.key as 'runtimeRequestTimeoutMs'] as number) = parseDuration(value);
    else if (spec.kind === 'bool') (config[spec.key as 'ipv6DualStack'] as boolean) = value === 'true';
    else if (spec.kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new UsageError(`flag --${spec.names[0]} takes a whole number, not "${value}"`);
      (config[spec.key as 'networkPluginMtu'] as number) = Number(value);
    } else (config[spec.key as 'dockerEndpoint'] as string) = value;
  };
  // The file first, so every flag on the command line overrides it.
  const configPath = configFileArg(argv);
  if (configPath !== undefined) {
    const settable = new Map<string, FlagValueKind>();
    for (const [n, f] of byName) if (f.key in DEFAULTS) settable.set(n, f.kind);
    try {
      for (const s of await readConfigFile(configPath, settable)) assign(byName.get(s.name)!, s.value);
    } catch (err) {
      if (err instanceof ConfigFileError) throw new UsageError(err.message);
      if (err instanceof UsageError) throw new UsageError(`config file ${configPath}: ${err.message}`);
      throw err;
    }
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const spec = byName.get(m[1]);
    if (!spec) throw new UsageError(`unknown flag --${m[1]}`);
    let value = m[2];
    if (spec.kind === 'bool') {
      if (value !== undefined && value !== 'true' && value !== 'false') {
        throw new UsageError(`flag --${m[1]} takes true or false, not "${value}"`);
      }
      if (spec.key in DEFAULTS) {
        assign(spec, value ?? 'true');
        continue;
      }
      if (value === 'false') continue;
      if (spec.key === 'version') return { action: 'version' };
      if (spec.key === 'help') return { action: 'help' };
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag --${m[1]} needs a value`);
      value = argv[++i];
    }
    if (spec.key !== 'config') assign(spec, value);
  }
  if (!LOG_LEVELS.has(config.logLevel)) {
    throw new UsageError(`--log-level must be one of ${[...LOG_LEVELS].join(', ')}, not "${config.logLevel}"`);
  }
  if (!config.containerRuntimeEndpoint.startsWith('unix://') && config.containerRuntimeEndpoint !== 'fd://') {
    throw new UsageError(`--container-runtime-endpoint must be a unix:// address or fd:// (systemd socket activation), not "${config.containerRuntimeEndpoint}"`);
  }
  if (!NETWORK_PLUGINS.includes(config.networkPlugin)) {
    throw new UsageError(`--network-plugin must be cni or empty (Docker's bridge), not "${config.networkPlugin}"`);
  }
  if (!HAIRPIN_MODES.includes(config.hairpinMode)) {
    throw new UsageError(`--hairpin-mode must be one of ${HAIRPIN_MODES.join(', ')}, not "${config.hairpinMode}"`);
  }
  // Empty is cri-dockerd's "not specified": the default address.
  config.streamingBindAddr = formatListenAddress(parseListenAddress('streaming-bind-addr', config.streamingBindAddr || DEFAULTS.streamingBindAddr, '0.0.0.0'));
  if (config.metricsBindAddr !== '') {
    // No host: loopback, since /metrics tells a lot about the node's pods.
    config.metricsBindAddr = formatListenAddress(parseListenAddress('metrics-bind-addr', config.metricsBindAddr, '127.0.0.1'));
  }
  if (config.networkPluginMtu < 0) throw new UsageError(`--network-plugin-mtu must not be negative, not ${config.networkPluginMtu}`);
  return { action: 'run', config };
}
