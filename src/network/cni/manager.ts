// Pod networking through CNI plugins: ADD into the pause container's network namespace, DEL
// on teardown (from the result cache, so it works after a restart or with the pod gone), CHECK
// on request. Plugins of a list run in order on ADD/CHECK and in reverse on DEL, each given
// the previous result and the capability arguments it declares (portMappings, dns, bandwidth,
// ipRanges), as libcni does.
import { access } from 'node:fs/promises';
import type { Logger } from '../../logger.js';
import { Code, CriError, deadlineExceeded, failedPrecondition } from '../../errors.js';
import { bandwidthFromAnnotations } from '../bandwidth.js';
import { SerialByKey } from '../../serial-by-key.js';
import { abortable } from '../../abortable.js';
import type { NetworkCondition, NetworkManager, PodNetworkContext, PodNetworkResult } from '../types.js';
import { ResultCache, encodeList, type CacheEntry } from './cache.js';
import { CniConfigSource, capabilitiesOf, parseNetworkConfig, type NetworkConfList, type PluginConf } from './config.js';
import { CniPluginError, invokePlugin, type CniCommand } from './exec.js';
import { convertResult, podIpsFromResult } from './result.js';

/** The interface name inside the pod, as every Kubernetes runtime uses. */
export const POD_IFNAME = 'eth0';

export interface CniManagerOptions {
  confDir: string;
  binDirs: string[];
  cacheDir: string;
  /** The pod CIDR(s) the kubelet handed down (UpdateRuntimeConfig) or --pod-cidr; comma-separated. */
  podCidr: () => string;
  /** Report the second address family too (--ipv6-dual-stack). */
  dualStack: boolean;
  /** Budget of one ADD, DEL or CHECK of the whole list. */
  timeoutMs: number;
  logger: Logger;
}

interface PortMappingArg {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP: string;
}

/** Backoff of a failed teardown's retries: doubling from the first delay up to the last. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

const supportsCheck = (v: string) => !['0.1.0', '0.2.0', '0.3.0', '0.3.1'].includes(v);

export class CniNetworkManager implements NetworkManager {
  readonly name = 'cni';
  /** The plugins set the namespace up; Docker must leave it empty (loopback only). */
  readonly podNetworkMode = 'none';
  readonly dockerPublishesPorts = false;
  readonly source: CniConfigSource;
  private readonly cache: ResultCache;
  /** Pod addresses by sandbox id; null: the pod has no CNI network (host network, Docker's). */
  private readonly ips = new Map<string, string[] | null>();
  /** Network calls of one sandbox run one at a time (a retried Stop racing a slow Run, say). */
  private readonly locks = new SerialByKey();
  /** The next retry of a failed teardown, per sandbox id. */
  private readonly retries = new Map<string, NodeJS.Timeout>();

  constructor(private readonly opts: CniManagerOptions) {
    this.source = new CniConfigSource(opts.confDir, opts.binDirs);
    this.cache = new ResultCache(opts.cacheDir);
  }

  async status(): Promise<NetworkCondition> {
    const { problem } = await this.usableNetwork();
    return problem === undefined
      ? { ready: true, reason: '', message: '' }
      : { ready: false, reason: 'NetworkPluginNotReady', message: `network plugin is not ready: ${problem}` };
  }

  /** The network list pods are set up on now, or why there is none. */
  private async usableNetwork(): Promise<{ list: NetworkConfList; problem?: undefined } | { list?: undefined; problem: string }> {
    const state = await this.source.load();
    if (!state.network) return { problem: `cni config uninitialized: no valid network config in ${this.opts.confDir} (${state.problems.join('; ')})` };
    if (capabilitiesOf(state.network).has('ipRanges') && this.opts.podCidr() === '') {
      return { problem: `cni config ${state.network.file} needs ipRanges but no pod CIDR is set (UpdateRuntimeConfig or --pod-cidr)` };
    }
    return { list: state.network };
  }

  async setUpPod(pod: PodNetworkContext, netnsPath: string): Promise<PodNetworkResult> {
    return this.locks.run(pod.sandboxId, async () => {
      const { list, problem } = await this.usableNetwork();
      if (problem !== undefined) throw failedPrecondition(`cannot network pod ${podName(pod)}: ${problem}`);
      const entry: CacheEntry = {
        kind: 'cniCacheV1',
        containerId: pod.sandboxId,
        config: encodeList(list),
        ifName: POD_IFNAME,
        networkName: list.name,
        netns: netnsPath,
        configFile: list.file,
        cniArgs: cniArgs(pod),
        capabilityArgs: this.capabilityArgs(pod),
      };
      // Written before the first plugin runs: a crash mid-ADD still leaves what DEL needs.
      await this.cache.write(entry);
      const deadline = Date.now() + this.opts.timeoutMs;
      let prev: unknown;
      try {
        for (const plugin of list.plugins) {
          const out = await this.run('ADD', list, plugin, entry, netnsPath, prev, deadline);
          if (out !== undefined) prev = convertResult(out, list.cniVersion, list.cniVersion);
        }
      } catch (err) {
        throw await this.undoFailedAdd(pod, list, entry, netnsPath, prev, err);
      }
      entry.result = prev;
      await this.cache.write(entry);
      const ips = podIpsFromResult(prev, list.cniVersion, POD_IFNAME);
      this.ips.set(pod.sandboxId, ips);
      this.opts.logger.info({ sandboxId: pod.sandboxId, network: list.name, ips }, 'pod network set up');
      return { ips: this.reported(ips) };
    });
  }

  /** Runs DEL for what the failed ADD may have done; the returned error explains both. */
  private async undoFailedAdd(pod: PodNetworkContext, list: NetworkConfList, entry: CacheEntry, netns: string, prev: unknown, err: unknown): Promise<CriError> {
    const addError = this.toCriError(err, pod, list);
    try {
      await this.delList(list, entry, netns, prev);
      await this.cache.remove(entry);
      return addError;
    } catch (delErr) {
      // The cache entry stays, so a later teardown of this sandbox id (the sandbox service's
      // undo, a StopPodSandbox) runs DEL again and releases what is left.
      const why = delErr instanceof Error ? delErr.message : String(delErr);
      this.opts.logger.error({ sandboxId: pod.sandboxId, err: why }, 'CNI DEL after a failed ADD failed too');
      // Nobody may ask again (the sandbox service removes the pause container and checkpoint
      // of a failed run): retry until the plugins release what they hold.
      this.retryTeardown(pod.sandboxId, 0);
      return new CriError(addError.code, `${addError.message}; the cleanup DEL failed too (retried in the background): ${why}`);
    }
  }

  async tearDownPod(pod: PodNetworkContext, netnsPath: string | undefined): Promise<void> {
    try {
      await this.locks.run(pod.sandboxId, () => this.release(pod.sandboxId, netnsPath));
    } catch (err) {
      // The caller may give up (a kubelet whose pod is gone): keep trying on our own as well.
      this.retryTeardown(pod.sandboxId, 0);
      throw err instanceof CriError ? err : this.toCriError(err, pod, undefined);
    }
  }

  /**
   * Runs DEL from the cache entry and removes it; a no-op without one (never set up, or
   * released already: DEL again could only repeat a release). Call under the sandbox's lock.
   */
  private async release(sandboxId: string, netnsPath: string | undefined): Promise<void> {
    const entry = await this.cache.find(sandboxId, POD_IFNAME);
    if (entry === undefined) {
      this.ips.delete(sandboxId);
      this.cancelRetry(sandboxId);
      return;
    }
    const list = this.cachedList(entry);
    const netns = netnsPath !== undefined && (await exists(netnsPath)) ? netnsPath : '';
    try {
      await this.delList(list, entry, netns, entry.result);
    } catch (err) {
      throw this.toCriError(err, podOfEntry(entry), list);
    }
    await this.cache.remove(entry);
    this.ips.delete(sandboxId);
    this.cancelRetry(sandboxId);
    this.opts.logger.info({ sandboxId, network: list.name }, 'pod network torn down');
  }

  /** Schedules the next DEL of a sandbox whose teardown failed, with doubling, bounded delays. */
  private retryTeardown(sandboxId: string, attempt: number): void {
    if (this.retries.has(sandboxId) && attempt === 0) return;
    const delay = Math.min(RETRY_FIRST_MS * 2 ** attempt, RETRY_MAX_MS);
    const timer = setTimeout(() => {
      this.retries.delete(sandboxId);
      this.locks.run(sandboxId, () => this.release(sandboxId, undefined)).then(
        () => undefined,
        (err: unknown) => {
          const why = err instanceof Error ? err.message : String(err);
          this.opts.logger.warn({ sandboxId, attempt: attempt + 1, err: why }, 'retried CNI teardown failed; trying again later');
          this.retryTeardown(sandboxId, attempt + 1);
        },
      );
    }, delay);
    // A pending retry never holds the process up at shutdown; the start-up sweep takes over.
    timer.unref();
    this.retries.set(sandboxId, timer);
  }

  private cancelRetry(sandboxId: string): void {
    clearTimeout(this.retries.get(sandboxId));
    this.retries.delete(sandboxId);
  }

  async releaseOrphans(isKnown: (sandboxId: string) => Promise<boolean>): Promise<void> {
    for (const entry of await this.cache.entries()) {
      // Only entries this shim wrote (configFile is ours; libcni's tools and other runtimes
      // leave it out), and only for sandboxes that no pause container or checkpoint speaks for.
      if (entry.configFile === undefined || entry.ifName !== POD_IFNAME || (await isKnown(entry.containerId))) continue;
      this.opts.logger.info({ sandboxId: entry.containerId, network: entry.networkName }, 'releasing the CNI network of a sandbox that is gone');
      this.retryTeardown(entry.containerId, 0);
    }
  }

  async podIps(sandboxId: string): Promise<string[] | undefined> {
    let ips = this.ips.get(sandboxId);
    if (ips === undefined) {
      const entry = await this.cache.find(sandboxId, POD_IFNAME);
      ips = entry?.result === undefined ? null : podIpsFromResult(entry.result, this.cachedList(entry).cniVersion, POD_IFNAME);
      // Remembered either way: a status call per second on a host-network pod reads no dir.
      this.ips.set(sandboxId, ips);
    }
    return ips === null ? undefined : this.reported(ips);
  }

  async checkPod(pod: PodNetworkContext, netnsPath: string, signal?: AbortSignal): Promise<void> {
    // A caller that gives up stops waiting for the pod's lock too; its CHECK then starts nothing.
    const checked = this.locks.run(pod.sandboxId, async () => {
      const entry = await this.cache.find(pod.sandboxId, POD_IFNAME);
      if (entry?.result === undefined) throw failedPrecondition(`pod ${podName(pod)} has no CNI network set up`);
      const list = this.cachedList(entry);
      if (!supportsCheck(list.cniVersion) || list.disableCheck) return;
      const deadline = Date.now() + this.opts.timeoutMs;
      try {
        for (const plugin of list.plugins) await this.run('CHECK', list, plugin, entry, netnsPath, entry.result, deadline, signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw this.toCriError(err, pod, list);
      }
    });
    checked.catch(() => undefined);
    await abortable(checked, signal);
  }

  private reported(ips: string[]): string[] {
    return this.opts.dualStack ? ips : ips.slice(0, 1);
  }

  private async delList(list: NetworkConfList, entry: CacheEntry, netns: string, result: unknown): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    // 0.3.x plugins take no prevResult on DEL; 0.4.0 and later get the ADD result.
    const prev = supportsCheck(list.cniVersion) ? result : undefined;
    // Every plugin gets its DEL even when one before it failed: a broken meta plugin must not
    // keep the IPAM plugin from releasing the address. DEL is idempotent, so the retry of the
    // whole list (the cache entry stays) repeats nothing harmful.
    let first: unknown;
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.run('DEL', list, plugin, entry, netns, prev, deadline);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  private async run(command: CniCommand, list: NetworkConfList, plugin: PluginConf, entry: CacheEntry, netns: string, prev: unknown, deadline: number, signal?: AbortSignal): Promise<unknown> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new CniPluginError(plugin.type, command, `not run: the ${this.opts.timeoutMs} ms budget of the network operation is spent`, undefined, true);
    const started = performance.now();
    try {
      return await invokePlugin({
        binDirs: this.opts.binDirs,
        type: plugin.type,
        command,
        containerId: entry.containerId,
        netns,
        ifName: entry.ifName,
        args: entry.cniArgs,
        config: pluginConfig(list, plugin, prev, entry.capabilityArgs),
        timeoutMs: remaining,
        signal,
      });
    } finally {
      this.opts.logger.debug(
        { sandboxId: entry.containerId, plugin: plugin.type, command, pluginMs: Math.round((performance.now() - started) * 100) / 100 },
        'CNI plugin ran',
      );
    }
  }

  private capabilityArgs(pod: PodNetworkContext): Record<string, unknown> {
    const portMappings: PortMappingArg[] = pod.portMappings
      .filter((pm) => pm.host_port > 0)
      .map((pm) => ({ hostPort: pm.host_port, containerPort: pm.container_port, protocol: pm.protocol.toLowerCase(), hostIP: pm.host_ip }));
    const args: Record<string, unknown> = { portMappings };
    const bandwidth = bandwidthFromAnnotations(pod.annotations);
    if (bandwidth) args.bandwidth = bandwidth;
    const cidrs = this.opts.podCidr().split(',').map((c) => c.trim()).filter(Boolean);
    if (cidrs.length > 0) args.ipRanges = cidrs.map((subnet) => [{ subnet }]);
    const dns = pod.dns;
    if (dns && (dns.servers.length || dns.searches.length || dns.options.length)) {
      args.dns = { servers: dns.servers, searches: dns.searches, options: dns.options };
    }
    return args;
  }

  private cachedList(entry: CacheEntry): NetworkConfList {
    const text = Buffer.from(entry.config, 'base64').toString('utf8');
    // Named after the file it came from, which may have changed since: the cached copy is what ran.
    return parseNetworkConfig(text, `${entry.configFile ?? entry.networkName} (as cached at ADD)`, true);
  }

  private toCriError(err: unknown, pod: Pick<PodNetworkContext, 'sandboxId' | 'name' | 'namespace'>, list: NetworkConfList | undefined): CriError {
    if (err instanceof CriError) return err;
    const where = list ? `network "${list.name}" (${list.file})` : 'the cached network';
    if (err instanceof CniPluginError) {
      const msg = `CNI ${err.command} for pod ${podName(pod)} (sandbox ${pod.sandboxId.slice(0, 12)}) on ${where}: plugin "${err.plugin}" failed: ${err.message}`;
      return err.timedOut ? deadlineExceeded(msg) : new CriError(Code.UNKNOWN, msg);
    }
    return new CriError(Code.UNKNOWN, `CNI for pod ${podName(pod)} on ${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Who a cache entry is about, from the CNI args it was set up with. */
function podOfEntry(entry: CacheEntry): Pick<PodNetworkContext, 'sandboxId' | 'name' | 'namespace'> {
  const arg = (k: string) => entry.cniArgs.find(([key]) => key === k)?.[1] ?? '';
  return { sandboxId: entry.containerId, name: arg('K8S_POD_NAME'), namespace: arg('K8S_POD_NAMESPACE') };
}

function podName(pod: Pick<PodNetworkContext, 'name' | 'namespace'>): string {
  return `${pod.namespace}/${pod.name}`;
}

function cniArgs(pod: PodNetworkContext): Array<[string, string]> {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.sandboxId],
    ['K8S_POD_UID', pod.uid],
  ];
}

/** One plugin's stdin: its config plus the list's name and version, prevResult and runtimeConfig. */
function pluginConfig(list: NetworkConfList, plugin: PluginConf, prev: unknown, capabilityArgs: Record<string, unknown>): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prev !== undefined) conf.prevResult = prev;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) {
    const existing = typeof plugin.runtimeConfig === 'object' && plugin.runtimeConfig !== null ? plugin.runtimeConfig : {};
    conf.runtimeConfig = { ...existing, ...runtimeConfig };
  }
  return conf;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
