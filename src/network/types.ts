// What the sandbox service asks of pod networking, whichever mode sets it up: Docker's own
// bridge (no plugin) or CNI plugins run into the pause container's network namespace.
import type { DNSConfig__Output } from '../generated/runtime/v1/DNSConfig.js';
import type { PortMapping__Output } from '../generated/runtime/v1/PortMapping.js';

/** The pod a network call is about; the same fields on set-up and tear-down. */
export interface PodNetworkContext {
  /** The pause container's id: the CNI container id. */
  sandboxId: string;
  name: string;
  namespace: string;
  uid: string;
  portMappings: PortMapping__Output[];
  dns?: DNSConfig__Output | null;
  /** The pod's CRI annotations (bandwidth limits are read from them). */
  annotations: Record<string, string>;
}

/** The pod's addresses as the plugin reported them, the primary family first. */
export interface PodNetworkResult {
  ips: string[];
}

/** The NetworkReady condition of Status. */
export interface NetworkCondition {
  ready: boolean;
  reason: string;
  message: string;
}

export interface NetworkManager {
  /** "cni" or "docker-bridge", for logs and the verbose Status. */
  readonly name: string;
  /** Docker NetworkMode of the pause container of a pod that does not use the host network. */
  readonly podNetworkMode: string;
  /** True when Docker publishes the pod's host ports itself (port bindings on the pause container). */
  readonly dockerPublishesPorts: boolean;
  /** Whether pods can be networked now (re-reads the configuration when it changed). */
  status(): Promise<NetworkCondition>;
  /** Networks a started pause container; netnsPath is its /proc/<pid>/ns/net. Undone on failure. */
  setUpPod(pod: PodNetworkContext, netnsPath: string): Promise<PodNetworkResult>;
  /**
   * Undoes setUpPod; idempotent, and works after a shim restart or with the pause container
   * gone (netnsPath undefined). Resolves only once the plugins have released the pod.
   */
  tearDownPod(pod: PodNetworkContext, netnsPath: string | undefined): Promise<void>;
  /**
   * At start-up: releases what this shim set up for sandboxes `isKnown` says are gone (a failed
   * teardown before a restart), retrying in the background until it succeeds.
   */
  releaseOrphans(isKnown: (sandboxId: string) => Promise<boolean>): Promise<void>;
  /** The pod's addresses from the last set-up, without running anything; undefined if unknown. */
  podIps(sandboxId: string): Promise<string[] | undefined>;
  /**
   * Asks the plugins whether the pod's network is still as set up (CNI CHECK); throws if not.
   * `signal`: the caller gave up; the check's plugins are killed (CHECK changes nothing).
   */
  checkPod(pod: PodNetworkContext, netnsPath: string, signal?: AbortSignal): Promise<void>;
}
