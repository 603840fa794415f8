// The sandbox, container and image services on a FakeEngine: their logic (ordering, cleanup after
// a failure half-way, idempotent removal, name conflicts) and the Engine's deadlines without
// dockerd. Requests are built through the wire format, as the gRPC server hands them over.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutMs } from '../../src/config.js';
import { Code, CriError } from '../../src/errors.js';
import { hostLimits } from '../../src/docker/host-limits.js';
import type { ContainerFilter__Output } from '../../src/generated/runtime/v1/ContainerFilter.js';
import type { CreateContainerRequest__Output } from '../../src/generated/runtime/v1/CreateContainerRequest.js';
import type { RunPodSandboxRequest__Output } from '../../src/generated/runtime/v1/RunPodSandboxRequest.js';
import { createLogger } from '../../src/logger.js';
import { LogManager } from '../../src/logs/log-manager.js';
import type { NetworkCondition, NetworkManager, PodNetworkContext, PodNetworkResult } from '../../src/network/types.js';
import { loadCri } from '../../src/proto.js';
import { ContainerService } from '../../src/services/container.js';
import { ImageService } from '../../src/services/image.js';
import { SandboxService } from '../../src/services/sandbox.js';
import { CriServer } from '../../src/handlers/grpc-server.js';
import { sandboxLifecycleHandlers } from '../../src/handlers/sandbox/lifecycle.js';
import type { Services } from '../../src/wiring.js';
import { CheckpointStore } from '../../src/store/checkpoint.js';
import { ContainerIndex } from '../../src/store/container-index.js';
import { ContainerWarnings } from '../../src/store/container-warnings.js';
import { CgroupReader } from '../../src/stats/cgroup.js';
import { CriClient, expectCode } from '../helpers/cri-client.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const PAUSE = 'fake/pause:latest';
const BUSYBOX = 'fake/busybox:latest';

/** Plugins that give every pod 10.0.0.N and remember what they set up. */
class FakeNetwork implements NetworkManager {
  readonly name = 'fake';
  readonly podNetworkMode = 'none';
  readonly dockerPublishesPorts = false;
  readonly up = new Map<string, string>();
  readonly tornDown: string[] = [];
  failSetUp = false;

  async status(): Promise<NetworkCondition> {
    return { ready: true, reason: '', message: '' };
  }
  async setUpPod(pod: PodNetworkContext): Promise<PodNetworkResult> {
    if (this.failSetUp) throw new Error('plugin "fake" failed: no addresses left');
    const ip = `10.0.0.${this.up.size + 2}`;
    this.up.set(pod.sandboxId, ip);
    return { ips: [ip] };
  }
  async tearDownPod(pod: PodNetworkContext): Promise<void> {
    this.tornDown.push(pod.sandboxId);
    this.up.delete(pod.sandboxId);
  }
  async podIps(sandboxId: string): Promise<string[] | undefined> {
    const ip = this.up.get(sandboxId);
    return ip ? [ip] : undefined;
  }
  async checkPod(): Promise<void> {}
  async releaseOrphans(): Promise<void> {}
}

const methods = loadCri().runtime.v1.RuntimeService.service;
function runRequest(name = 'web'): RunPodSandboxRequest__Output {
  const m = methods.RunPodSandbox;
  return m.requestDeserialize(m.requestSerialize({ config: { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 } } })) as RunPodSandboxRequest__Output;
}
function createRequest(sandboxId: string, name = 'app'): CreateContainerRequest__Output {
  const m = methods.CreateContainer;
  return m.requestDeserialize(
    m.requestSerialize({
      pod_sandbox_id: sandboxId,
      config: { metadata: { name, attempt: 0 }, image: { image: BUSYBOX } },
      sandbox_config: { metadata: { name: 'web', namespace: 'default', uid: 'uid-web', attempt: 0 } },
    }),
  ) as CreateContainerRequest__Output;
}

async function codeOf(p: Promise<unknown>): Promise<Code | 'OK'> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (err instanceof CriError) return err.code;
    throw err;
  }
}

const dirs: string[] = [];
const indexes: ContainerIndex[] = [];
afterEach(() => {
  for (const i of indexes.splice(0)) i.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world(opts: { timeoutMs?: number; concurrency?: number } = {}) {
  const engine = new FakeEngine(opts);
  engine.addImage(PAUSE);
  engine.addImage(BUSYBOX);
  const logger = createLogger('silent');
  const root = mkdtempSync(join(tmpdir(), 'cri-shim-fake-'));
  dirs.push(root);
  const index = new ContainerIndex(engine, logger);
  indexes.push(index);
  index.start();
  const network = new FakeNetwork();
  const checkpoints = new CheckpointStore(root);
  const images = new ImageService(engine, logger);
  const config = { ...DEFAULTS, rootDirectory: root, podInfraContainerImage: PAUSE };
  const sandboxes = new SandboxService({ config, docker: engine, index, images, checkpoints, network, logger });
  // A /proc with no processes: the fake containers' pids are nobody's cgroup on this host.
  const cgroups = new CgroupReader(root);
  const containers = new ContainerService(engine, index, images, new LogManager(engine, logger), logger, cgroups, new ContainerWarnings());
  return { engine, index, network, checkpoints, images, sandboxes, containers };
}

describe('SandboxService on a FakeEngine', () => {
  it('RunPodSandbox, StopPodSandbox, RemovePodSandbox: pause container, network and checkpoint come and go', async () => {
    const w = world();
    const id = await w.sandboxes.run(runRequest());
    expect(w.engine.find(id)?.State.Running).toBe(true);
    expect(w.network.up.get(id)).toBe('10.0.0.2');
    expect((await w.checkpoints.read(id))?.data.network?.ips).toEqual(['10.0.0.2']);
    const [listed] = await w.sandboxes.list(null);
    expect(listed).toMatchObject({ id, state: 'SANDBOX_READY' });
    expect((await w.sandboxes.status(id, false)).status?.network?.ip).toBe('10.0.0.2');

    const app = await w.containers.create(createRequest(id));
    await w.containers.start(app);
    await w.sandboxes.stop(id);
    expect(w.engine.find(id)?.State.Running).toBe(false);
    expect(w.engine.find(app)?.State.Running).toBe(false);
    expect(w.network.tornDown).toContain(id);
    expect((await w.sandboxes.list(null))[0].state).toBe('SANDBOX_NOTREADY');

    await w.sandboxes.remove(id);
    expect(w.engine.containers.size).toBe(0);
    expect(await w.checkpoints.read(id)).toBeUndefined();
    expect(await w.sandboxes.list(null)).toEqual([]);
    // Both are idempotent: a second Stop and Remove of the gone pod succeed.
    await w.sandboxes.stop(id);
    await w.sandboxes.remove(id);
  });

  it('a RunPodSandbox that fails half-way (the network plugin) leaves no container, checkpoint or network behind', async () => {
    const w = world();
    w.network.failSetUp = true;
    await expect(w.sandboxes.run(runRequest())).rejects.toThrow(/no addresses left/);
    expect(w.engine.containers.size).toBe(0);
    expect(await w.checkpoints.list()).toEqual([]);
    expect(w.network.up.size).toBe(0);
    expect(w.network.tornDown).toHaveLength(1);
    expect(w.engine.calls.filter((c) => c.startsWith('remove '))).toHaveLength(1);
  });

  it('a RunPodSandbox whose pause container fails to start leaves nothing behind', async () => {
    const w = world();
    w.engine.failNext('start', new CriError(Code.UNKNOWN, 'start container: OCI runtime create failed'));
    expect(await codeOf(w.sandboxes.run(runRequest()))).toBe(Code.UNKNOWN);
    expect(w.engine.containers.size).toBe(0);
    expect(await w.checkpoints.list()).toEqual([]);
  });

  it('a leftover exited pause container of the same name is removed with its pod; a running one is ALREADY_EXISTS', async () => {
    const w = world();
    const first = await w.sandboxes.run(runRequest());
    expect(await codeOf(w.sandboxes.run(runRequest()))).toBe(Code.ALREADY_EXISTS);
    await w.sandboxes.stop(first);
    const second = await w.sandboxes.run(runRequest());
    expect(second).not.toBe(first);
    expect(w.engine.find(first)).toBeUndefined();
    expect(await w.checkpoints.read(first)).toBeUndefined();
  });

  it('pulls the pause image when Docker has none (create answers no-image), then creates', async () => {
    const w = world();
    for (const [id, image] of w.engine.images) if (image.RepoTags?.includes(PAUSE)) w.engine.images.delete(id);
    const id = await w.sandboxes.run(runRequest());
    expect(w.engine.find(id)?.State.Running).toBe(true);
    expect(w.engine.calls.filter((c) => c.startsWith('createContainer'))).toHaveLength(2);
  });
});

describe('ContainerService on a FakeEngine', () => {
  it('CreateContainer: one created here and not started, or a running one, of the same name is ALREADY_EXISTS; an exited leftover is replaced', async () => {
    const w = world();
    const pod = await w.sandboxes.run(runRequest());
    const first = await w.containers.create(createRequest(pod));
    // Created by the first call and not started: that caller's container, not a leftover.
    const twin = await w.containers.create(createRequest(pod)).catch((e: unknown) => e);
    expect((twin as CriError).code).toBe(Code.ALREADY_EXISTS);
    expect((twin as CriError).message).toContain(first);
    expect(w.engine.find(first)).toBeDefined();
    await w.containers.start(first);
    const err = await w.containers.create(createRequest(pod)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(Code.ALREADY_EXISTS);
    expect((err as CriError).message).toMatch(/already exists and is running/);
    await w.containers.stop(first, 0);
    const second = await w.containers.create(createRequest(pod));
    expect(second).not.toBe(first);
    expect(w.engine.find(first)).toBeUndefined();
  });

  it('RemoveContainer and StopContainer of an absent container are OK, also after it was removed', async () => {
    const w = world();
    await w.containers.remove('f'.repeat(64));
    await w.containers.stop('f'.repeat(64), 10);
    const pod = await w.sandboxes.run(runRequest());
    const id = await w.containers.create(createRequest(pod));
    await w.containers.remove(id);
    expect(w.engine.find(id)).toBeUndefined();
    await w.containers.remove(id);
    // Gone in Docker behind the index's back (removed outside the shim): still OK.
    const other = await w.containers.create(createRequest(pod, 'other'));
    w.engine.containers.delete(other);
    await w.containers.remove(other);
  });
});

describe('capabilities from "ALL" that Docker does not know, on a FakeEngine', () => {
  it('concurrent creates that both sent one are both retried without it (the second used to fail INVALID_ARGUMENT)', async () => {
    const w = world();
    const bounding = hostLimits().boundingSet;
    const unknown = ['CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'].filter((c) => bounding.includes(c));
    // Without them in this host's bounding set, "ALL" never asks for them: nothing to test here.
    if (unknown.length === 0) return;
    for (const c of unknown) w.engine.unknownCapabilities.add(c);
    const pod = await w.sandboxes.run(runRequest());
    const m = methods.CreateContainer;
    const withAll = (name: string) =>
      m.requestDeserialize(
        m.requestSerialize({
          pod_sandbox_id: pod,
          config: { metadata: { name, attempt: 0 }, image: { image: BUSYBOX }, linux: { security_context: { capabilities: { add_capabilities: ['ALL'] } } } },
          sandbox_config: { metadata: { name: 'web', namespace: 'default', uid: 'uid-web', attempt: 0 } },
        }),
      ) as CreateContainerRequest__Output;
    const ids = await Promise.all(['one', 'two', 'three'].map((n) => w.containers.create(withAll(n))));
    const refused = w.engine.calls.filter((c) => c.startsWith('createContainer')).length - ids.length;
    expect(refused).toBeGreaterThanOrEqual(3);
    for (const id of ids) {
      const capAdd = (w.engine.find(id)!.HostConfig as { CapAdd?: string[] }).CapAdd ?? [];
      expect(capAdd.filter((c) => unknown.includes(c))).toEqual([]);
      expect(capAdd).toContain('CAP_SYS_ADMIN');
    }
    // Learnt once: a later create sends none of them and is not refused.
    const before = w.engine.calls.length;
    await w.containers.create(withAll('four'));
    expect(w.engine.calls.slice(before).filter((c) => c.startsWith('createContainer'))).toHaveLength(1);
  });
});

describe('ListContainers filtered by pod on a FakeEngine', () => {
  it('a full pod id and a unique prefix list that pod\'s containers alone, as an unfiltered list would show them', async () => {
    const w = world();
    const a = await w.sandboxes.run(runRequest('a'));
    const b = await w.sandboxes.run(runRequest('b'));
    const inA = await w.containers.create(createRequest(a));
    const inB = await w.containers.create(createRequest(b, 'other'));
    const all = await w.containers.list(null);
    expect(all.map((c) => c.id).sort()).toEqual([inA, inB].sort());
    const byFull = await w.containers.list({ pod_sandbox_id: a } as ContainerFilter__Output);
    expect(byFull).toEqual(all.filter((c) => c.id === inA));
    // A prefix (the fake's ids differ in their last digits, so this one may match both pods)
    // scans every record: what an unfiltered list shows with that prefix.
    const prefix = a.slice(0, 63);
    const byPrefix = await w.containers.list({ pod_sandbox_id: prefix } as ContainerFilter__Output);
    expect(byPrefix).toEqual(all.filter((c) => c.pod_sandbox_id.startsWith(prefix)));
    expect(byPrefix.map((c) => c.id)).toContain(inA);
    // Other filters still apply to the pod's containers.
    expect(await w.containers.list({ pod_sandbox_id: a, id: inB } as ContainerFilter__Output)).toEqual([]);
    expect(await w.containers.list({ pod_sandbox_id: 'f'.repeat(64) } as ContainerFilter__Output)).toEqual([]);
  });
});

describe('ImageService on a FakeEngine', () => {
  it('RemoveImage of an absent image is OK and asks Docker to remove nothing', async () => {
    const w = world();
    await w.images.remove('fake/nothing:here');
    expect(w.engine.calls.some((c) => c.startsWith('removeImage'))).toBe(false);
    expect(await w.images.status('fake/nothing:here', false)).toEqual({ image: null, info: {} });
  });

  it('RemoveImage removes an unused image; one a container uses is FAILED_PRECONDITION', async () => {
    const w = world();
    const extra = w.engine.addImage('fake/extra:1');
    await w.images.remove('fake/extra:1');
    expect(w.engine.images.has(extra.Id)).toBe(false);
    await w.sandboxes.run(runRequest());
    expect(await codeOf(w.images.remove(PAUSE))).toBe(Code.FAILED_PRECONDITION);
  });
});

describe('RemoveImage racing another removal on a FakeEngine', () => {
  it('a removal whose Docker call fails because another one won is success; a failure with the image still there is not', async () => {
    const w = world();
    const image = w.engine.addImage('fake/race:1');
    const removeImage = w.engine.removeImage.bind(w.engine);
    // The winner deletes the image just before the loser's request, which dockerd 20.10 then
    // answers with a 500 "unrecognized image ID" (UNKNOWN once through the gateway).
    w.engine.removeImage = async (name, call) => {
      w.engine.images.delete(image.Id);
      return removeImage(name, call);
    };
    w.engine.failNext('removeImage', new CriError(Code.UNKNOWN, `unrecognized image ID ${image.Id}`));
    await w.images.remove('fake/race:1');
    expect(w.engine.images.has(image.Id)).toBe(false);

    w.engine.removeImage = removeImage;
    const kept = w.engine.addImage('fake/kept:1');
    w.engine.failNext('removeImage', new CriError(Code.UNKNOWN, 'driver failed'));
    expect(await codeOf(w.images.remove('fake/kept:1'))).toBe(Code.UNKNOWN);
    expect(w.engine.images.has(kept.Id)).toBe(true);
  });

  it('five removals of one image at once (critest\'s spec) all succeed, each leaving ImageStatus empty', async () => {
    const w = world();
    const image = w.engine.addImage('fake/five:1');
    const removeImage = w.engine.removeImage.bind(w.engine);
    // dockerd mid-deletion: the image still listed, and a second DELETE then answered 500.
    let inFlight = 0;
    w.engine.removeImage = async (name, call) => {
      if (inFlight > 0) throw new CriError(Code.UNKNOWN, `unrecognized image ID ${image.Id}`);
      inFlight += 1;
      await new Promise((r) => setTimeout(r, 20));
      try {
        return await removeImage(name, call);
      } finally {
        inFlight -= 1;
      }
    };
    const removeThenStatus = async () => {
      await w.images.remove(image.Id);
      return (await w.images.status(image.Id, false)).image;
    };
    const results = await Promise.allSettled(Array.from({ length: 5 }, removeThenStatus));
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed'))).toEqual(Array(5).fill(null));
    expect(w.engine.images.has(image.Id)).toBe(false);
  });
});

describe('Docker deadlines through the gateway', () => {
  it('a Docker call that never answers ends the CRI call with DEADLINE_EXCEEDED at the deadline', async () => {
    const w = world({ timeoutMs: 200 });
    const pod = await w.sandboxes.run(runRequest());
    w.engine.hanging.add('createContainer');
    const t0 = performance.now();
    const err = await w.containers.create(createRequest(pod)).catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect((err as CriError).code).toBe(Code.DEADLINE_EXCEEDED);
    expect((err as CriError).message).toMatch(/dockerd did not answer within 0.2s/);
    // Bounded by the deadline (generous slack for a loaded machine), far below any default.
    expect(took).toBeLessThan(200 + 2_000);
    expect(w.engine.requestsInFlight).toEqual({ running: 0, queued: 0 });
  });

  it('the deadline includes the wait for a place in a full queue', async () => {
    const w = world({ timeoutMs: 200, concurrency: 1 });
    // The only place is taken by a request that holds it for 10 s.
    const blocker = w.engine.gate.run('block', 'block', () => new Promise(() => undefined), { timeoutMs: 10_000 }).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    expect(w.engine.requestsInFlight.running).toBe(1);
    const t0 = performance.now();
    expect(await codeOf(w.images.status(BUSYBOX, false))).toBe(Code.DEADLINE_EXCEEDED);
    expect(performance.now() - t0).toBeLessThan(200 + 2_000);
    // It never ran: it left the queue at its deadline.
    expect(w.engine.calls).toContain(`inspectImage ${BUSYBOX}`);
    expect(w.engine.requestsInFlight.queued).toBe(0);
    void blocker;
  });

  it('a cancelled CRI call cancels its Docker request and frees its place; cleanup after it still runs', async () => {
    const w = world();
    w.engine.hanging.add('start');
    const controller = new AbortController();
    const run = w.sandboxes.run(runRequest(), { signal: controller.signal });
    while (!w.engine.calls.some((c) => c.startsWith('start '))) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new CriError(Code.CANCELLED, 'the client cancelled the call'));
    expect(await codeOf(run)).toBe(Code.CANCELLED);
    expect(w.engine.requestsInFlight).toEqual({ running: 0, queued: 0 });
    // The undo does not use the cancelled signal: the pause container and checkpoint are gone.
    expect(w.engine.containers.size).toBe(0);
    expect(await w.checkpoints.list()).toEqual([]);
  });

  it('over gRPC: the client\'s deadline aborts the call, its Docker request is dropped, and RunPodSandbox cleans up', async () => {
    // The request timeout is long: only the client's 300 ms deadline can end the call this soon.
    const w = world({ timeoutMs: 60_000 });
    w.engine.hanging.add('start');
    const sock = join(dirs[0], 'cri.sock');
    const server = new CriServer({ endpoint: `unix://${sock}`, handlers: sandboxLifecycleHandlers({ sandboxes: w.sandboxes } as Services), logger: createLogger('silent') });
    await server.start();
    const client = new CriClient(sock);
    try {
      await expectCode(client.rt('RunPodSandbox', { config: { metadata: { name: 'web', namespace: 'default', uid: 'uid-web', attempt: 0 } } }, 300), status.DEADLINE_EXCEEDED);
      // The shim's side of the call ends too: the hanging start is abandoned and undone.
      const t0 = Date.now();
      // The undo removes the pause container, then the checkpoint: wait for the whole undo.
      const undone = async () => w.engine.requestsInFlight.running === 0 && w.engine.containers.size === 0 && (await w.checkpoints.list()).length === 0;
      while (!(await undone()) && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
      expect(w.engine.requestsInFlight).toEqual({ running: 0, queued: 0 });
      expect(w.engine.containers.size).toBe(0);
      expect(await w.checkpoints.list()).toEqual([]);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('--runtime-request-timeout 0 means cri-dockerd\'s default (2m - 1s), not zero', () => {
    expect(requestTimeoutMs({ runtimeRequestTimeoutMs: 0 })).toBe(DEFAULT_REQUEST_TIMEOUT_MS);
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBe(119_000);
    expect(requestTimeoutMs({ runtimeRequestTimeoutMs: 5_000 })).toBe(5_000);
  });
});

describe('Docker calls of each lifecycle RPC', () => {
  /** Until no Docker request runs or waits and the event feed has nothing left to inspect. */
  async function idle(w: ReturnType<typeof world>): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setTimeout(r, 1));
      quiet = w.engine.requestsInFlight.running + w.engine.requestsInFlight.queued === 0 ? quiet + 1 : 0;
    }
  }

  /** The Docker calls `rpc` makes, and those the events it caused make, until all is quiet. */
  async function callsOf(w: ReturnType<typeof world>, rpc: () => Promise<unknown>): Promise<string[]> {
    await idle(w);
    const from = w.engine.calls.length;
    await rpc();
    await idle(w);
    return w.engine.calls.slice(from);
  }

  it('each makes only the Docker calls that change something; the records come from the events those changes send', async () => {
    const w = world();
    w.images.store.start();
    const stopStore = () => w.images.store.stop();
    try {
      // Live stores: the index and the image store hold what Docker has.
      for (let i = 0; i < 400 && !(w.index.isLive && w.images.store.isLive); i++) await new Promise((r) => setTimeout(r, 5));
      expect(w.index.isLive && w.images.store.isLive).toBe(true);
      const pods: string[] = [];
      const all: string[][] = [];
      for (const name of ['one', 'two']) {
        const seen: Record<string, string[]> = {};
        let pod = '';
        seen.RunPodSandbox = await callsOf(w, async () => (pod = await w.sandboxes.run(runRequest(name))));
        pods.push(pod);
        let app = '';
        seen.CreateContainer = await callsOf(w, async () => (app = await w.containers.create(createRequest(pod))));
        seen.StartContainer = await callsOf(w, () => w.containers.start(app));
        seen.StopContainer = await callsOf(w, () => w.containers.stop(app, 10));
        seen.RemoveContainer = await callsOf(w, () => w.containers.remove(app));
        const side = await w.containers.create(createRequest(pod, 'side'));
        await w.containers.start(side);
        seen.StopPodSandbox = await callsOf(w, () => w.sandboxes.stop(pod));
        seen.RemovePodSandbox = await callsOf(w, () => w.sandboxes.remove(pod));
        // The ids as this pod's own: P the pause container, A the app, S the side container.
        const names = new Map([[pod, 'P'], [app, 'A'], [side, 'S']]);
        for (const [rpc, calls] of Object.entries(seen)) all.push([rpc, ...calls.map((c) => c.replace(/[0-9a-f]{64}/g, (id) => names.get(id) ?? id))]);
      }
      // The second pod's, in steady state: `docker info` was asked once, by the first CreateContainer.
      const second = all.slice(all.length / 2);
      // StopPodSandbox kills the side container while it tears the network down and stops the
      // pause container: each stop is followed by its own inspect, in whatever order they finish.
      const stopPod = second[5];
      expect(stopPod[0]).toBe('StopPodSandbox');
      for (const c of ['S', 'P']) expect(stopPod.indexOf(`inspect ${c}`)).toBeGreaterThan(stopPod.indexOf(`stop ${c}`));
      second[5] = [stopPod[0], ...stopPod.slice(1).sort()];
      expect(second).toEqual([
        // The inspect after each change is the index's, which the change's event (create, start) asked for.
        ['RunPodSandbox', 'createContainer k8s_POD_two_default_uid-two_0', 'inspect P', 'start P', 'inspect P'],
        // The pod and the image are read from memory.
        ['CreateContainer', 'createContainer k8s_app_web_default_uid-web_0', 'inspect A'],
        ['StartContainer', 'start A', 'inspect A'],
        // kill announces no change; die and stop in one go cost one inspect.
        ['StopContainer', 'stop A', 'inspect A'],
        // destroy drops the record: nothing to inspect.
        ['RemoveContainer', 'remove A'],
        ['StopPodSandbox', 'inspect P', 'inspect S', 'stop P', 'stop S'],
        ['RemovePodSandbox', 'remove S', 'remove P'],
      ]);
      expect(all.flat().filter((c) => c === 'info')).toHaveLength(1);
      expect(all[0].slice(1)).toEqual(second[0].slice(1).map((c) => c.replaceAll('two', 'one')));
      expect(all[5].slice(1).sort()).toEqual(second[5].slice(1));
      expect(w.engine.containers.size).toBe(0);
      expect(await w.checkpoints.list()).toEqual([]);
    } finally {
      stopStore();
    }
  });

  it('leaves nothing per container in the index once the pod is gone, also after a removal that raced an inspect', async () => {
    const w = world();
    for (let i = 0; i < 400 && !w.index.isLive; i++) await new Promise((r) => setTimeout(r, 5));
    const pod = await w.sandboxes.run(runRequest());
    const app = await w.containers.create(createRequest(pod));
    await w.containers.start(app);
    // An inspect under way when the container is removed: its answer (held back until then)
    // must not bring the container back, and nothing may stay behind for it once it landed.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const inspect = w.engine.inspect.bind(w.engine);
    w.engine.inspect = async (id, call) => {
      const answer = await inspect(id, call);
      await held;
      return answer;
    };
    const late = w.index.refresh(app);
    w.engine.inspect = inspect;
    await w.sandboxes.stop(pod);
    await w.sandboxes.remove(pod);
    release();
    await late;
    expect(w.index.get(app)).toBeUndefined();
    await idle(w);
    const internals = w.index as unknown as Record<'records' | 'applied' | 'inflight' | 'pending' | 'eventReads' | 'waiters', Map<string, unknown>>;
    for (const map of ['records', 'applied', 'inflight', 'pending', 'eventReads', 'waiters'] as const) expect([map, internals[map].size]).toEqual([map, 0]);
  });

  it('with the event stream down, each change is read back from Docker instead', async () => {
    const w = world();
    for (let i = 0; i < 400 && !w.index.isLive; i++) await new Promise((r) => setTimeout(r, 5));
    w.engine.quiet = true;
    w.engine.breakEvents();
    for (let i = 0; i < 400 && w.index.isLive; i++) await new Promise((r) => setTimeout(r, 1));
    const t0 = performance.now();
    const pod = await w.sandboxes.run(runRequest());
    const app = await w.containers.create(createRequest(pod));
    await w.containers.start(app);
    // Without events the records still say what Docker did; no call waited for an event.
    expect((await w.index.current(app, 'container', 'container')).State.Running).toBe(true);
    expect(w.engine.calls).toContain(`inspect ${app}`);
    await w.sandboxes.stop(pod);
    expect(w.index.get(app)?.State.Running).toBe(false);
    expect(w.index.get(pod)?.State.Running).toBe(false);
    await w.sandboxes.remove(pod);
    expect(w.engine.containers.size).toBe(0);
    // Far below the index's wait for an event (1 s per change) summed over the changes above.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});
