// Pod sandbox RPCs against the real dockerd, checked in what Docker really holds.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import { expectCode } from '../helpers/cri-client.js';
import { startRegistry } from '../helpers/registry.js';
import { BUSYBOX, PAUSE, startShim, type RunningShim } from '../helpers/shim.js';
import { expectLogShows } from '../helpers/log-wait.js';

const RUN = randomBytes(4).toString('hex');
/** A workload that exits on SIGTERM (a bare `sleep` as PID 1 ignores it and waits for SIGKILL). */
const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP_PARENT = `cri-shim-test-${RUN}`;
const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'];
let seq = 0;

interface Inspect {
  Id: string;
  Name: string;
  Created: string;
  State: { Running: boolean; Status: string; Pid: number };
  ResolvConfPath: string;
  Config: { Hostname: string; Labels: Record<string, string>; ExposedPorts?: Record<string, object> };
  HostConfig: {
    NetworkMode: string;
    PidMode: string;
    IpcMode: string;
    CgroupParent: string;
    Sysctls?: Record<string, string>;
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
    OomScoreAdj: number;
    Runtime: string;
    Privileged: boolean;
  };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function inspect(id: string): Inspect {
  return (JSON.parse(docker('inspect', id)) as Inspect[])[0];
}

function exists(idOrName: string): boolean {
  try {
    docker('inspect', '--format', '{{.Id}}', idOrName);
    return true;
  } catch {
    return false;
  }
}

function meta(tag: string) {
  seq += 1;
  return { name: `sb-${tag}-${RUN}-${seq}`, namespace: `ns-${RUN}`, uid: `uid-${RUN}-${seq}`, attempt: 0 };
}

function podConfig(tag: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return { metadata: meta(tag), ...extra };
}

describe('pod sandboxes against dockerd', () => {
  let shim: RunningShim;
  const created = new Set<string>();

  async function run(config: PodSandboxConfig, runtime_handler = ''): Promise<string> {
    const { pod_sandbox_id } = await shim.client.rt('RunPodSandbox', { config, runtime_handler });
    created.add(pod_sandbox_id);
    return pod_sandbox_id;
  }

  beforeAll(async () => {
    shim = await startShim();
  });

  afterAll(async () => {
    for (const id of created) {
      try {
        docker('rm', '-f', id);
      } catch {
        // already removed by the test
      }
    }
    const leftovers = docker('ps', '-aq', '--filter', `label=test-run=${RUN}`);
    if (leftovers) docker('rm', '-f', ...leftovers.split('\n'));
    // The cgroup parent the cgroup test made (runc removes only the containers' own cgroups).
    for (const dir of [CGROUP_ROOT, ...readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c))]) {
      try {
        rmdirSync(join(dir, CGROUP_PARENT));
      } catch {
        // not in this hierarchy
      }
    }
    await shim?.stop();
  });

  it('runs a pause container with the k8s_POD_ name, our labels and exact CRI labels/annotations', async () => {
    const labels = { app: 'web', 'io.kubernetes.pod.name': 'x', 'empty-value': '', 'test-run': RUN };
    const annotations = { 'kubernetes.io/config.seen': '2026-01-01T00:00:00Z', 'a.b/c': 'multi\nline', 'annotation.nested': 'n' };
    const config = podConfig('names', { labels, annotations });
    config.metadata!.attempt = 3;
    const id = await run(config);
    const c = inspect(id);
    const m = config.metadata!;
    expect(c.Name).toBe(`/k8s_POD_${m.name}_${m.namespace}_${m.uid}_3`);
    expect(c.Config.Labels['io.kubernetes.docker.type']).toBe('podsandbox');
    expect(c.Config.Labels['io.kubernetes.docker-cri-shim.pid-mode']).toBe('POD');
    expect(c.Config.Labels['annotation.a.b/c']).toBe('multi\nline');
    expect(c.Config.Labels.app).toBe('web');
    expect(c.State.Running).toBe(true);
    expect(c.HostConfig.IpcMode).toBe('shareable');
    expect(c.HostConfig.NetworkMode).toBe('bridge');

    const { status: st, timestamp, info } = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false });
    expect(st!.id).toBe(id);
    expect(st!.metadata).toEqual({ ...m, attempt: 3 });
    expect(st!.state).toBe('SANDBOX_READY');
    expect(st!.labels).toEqual(labels);
    expect(st!.annotations).toEqual(annotations);
    expect(info).toEqual({});
    // created_at in nanoseconds, Docker's time to the nanosecond digit.
    const frac = /\.(\d+)Z$/.exec(c.Created)?.[1] ?? '';
    expect(st!.created_at).toBe(String(BigInt(Date.parse(c.Created.replace(/\.\d+Z$/, 'Z'))) * 1_000_000n + BigInt(frac.padEnd(9, '0'))));
    expect(Math.abs(Number(BigInt(timestamp) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
    expect(st!.linux?.namespaces?.options).toMatchObject({ network: 'POD', pid: 'POD', ipc: 'POD' });

    const listed = await shim.client.rt('ListPodSandbox', { filter: { id, label_selector: {} } });
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0].labels).toEqual(labels);
    expect(listed.items[0].annotations).toEqual(annotations);
    expect(listed.items[0].metadata).toEqual(st!.metadata);
    expect(listed.items[0].created_at).toBe(st!.created_at);
  });

  it('reports the pod IP Docker gave the pause container, and verbose info', async () => {
    const id = await run(podConfig('ip'));
    const ip = inspect(id).NetworkSettings.Networks.bridge.IPAddress;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const res = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    expect(res.status!.network!.ip).toBe(ip);
    const info = JSON.parse(res.info.info) as { pid: number; networkMode: string; checkpoint: { name: string } };
    expect(info.pid).toBe(inspect(id).State.Pid);
    expect(info.networkMode).toBe('bridge');
    expect(info.checkpoint.name).toContain('sb-ip-');
  });

  it('sets the hostname and writes the DNS config into the resolv.conf every pod container sees', async () => {
    const dns = { servers: ['10.10.10.10', '10.10.10.11'], searches: ['svc.cluster.local', 'example.com'], options: ['ndots:5', 'timeout:2'] };
    const id = await run(podConfig('dns', { hostname: `host-${RUN}`, dns_config: dns }));
    const c = inspect(id);
    expect(c.Config.Hostname).toBe(`host-${RUN}`);
    const expected = 'nameserver 10.10.10.10\nnameserver 10.10.10.11\nsearch svc.cluster.local example.com\noptions ndots:5 timeout:2\n';
    expect(readFileSync(c.ResolvConfPath, 'utf8')).toBe(expected);
    // A container joining the pod's network (as workload containers do) sees the same file.
    const seen = docker('run', '--rm', '--label', `test-run=${RUN}`, '--network', `container:${id}`, BUSYBOX, 'sh', '-c', 'cat /etc/resolv.conf; hostname');
    expect(seen).toBe(`${expected}host-${RUN}`);
  });

  it('writes the DNS config for host-network pods too', async () => {
    const dns = { servers: ['10.20.30.40'], searches: ['cluster.local'], options: ['ndots:2'] };
    const id = await run(
      podConfig('hostdns', { dns_config: dns, linux: { security_context: { namespace_options: { network: 'NODE' } } } }),
    );
    const c = inspect(id);
    expect(readFileSync(c.ResolvConfPath, 'utf8')).toBe('nameserver 10.20.30.40\nsearch cluster.local\noptions ndots:2\n');
    const seen = docker('run', '--rm', '--label', `test-run=${RUN}`, '--network', `container:${id}`, BUSYBOX, 'cat', '/etc/resolv.conf');
    expect(seen).toContain('nameserver 10.20.30.40');
  });

  it('maps ports to Docker port bindings (TCP/UDP/SCTP, host IP, container-only ports exposed)', async () => {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const id = await run(
      podConfig('ports', {
        port_mappings: [
          { protocol: 'TCP', container_port: 80, host_port: base },
          { protocol: 'UDP', container_port: 53, host_port: base + 1, host_ip: '127.0.0.1' },
          { protocol: 'SCTP', container_port: 9999 },
          { protocol: 'TCP', container_port: 8080 },
        ],
      }),
    );
    const c = inspect(id);
    expect(Object.keys(c.Config.ExposedPorts ?? {}).sort()).toEqual(['53/udp', '80/tcp', '8080/tcp', '9999/sctp']);
    expect(c.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: String(base) }],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: String(base + 1) }],
    });
    const checkpoint = JSON.parse(readFileSync(join(shim.rootDir, 'sandbox', id), 'utf8')) as {
      data: { port_mappings: Array<{ protocol: string; container_port: number }> };
    };
    expect(checkpoint.data.port_mappings.map((p) => `${p.container_port}/${p.protocol}`)).toEqual(['80/tcp', '53/udp', '9999/sctp', '8080/tcp']);
  });

  it('uses the host network, PID and IPC namespaces for NODE', async () => {
    const id = await run(
      podConfig('host', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } } }),
    );
    const c = inspect(id);
    expect(c.HostConfig.NetworkMode).toBe('host');
    expect(c.HostConfig.PidMode).toBe('host');
    expect(c.HostConfig.IpcMode).toBe('host');
    const st = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false })).status!;
    expect(st.linux?.namespaces?.options).toMatchObject({ network: 'NODE', pid: 'NODE', ipc: 'NODE' });
    expect(st.network!.ip).toBe('');
    expect(st.state).toBe('SANDBOX_READY');
  });

  it('stores the pod PID namespace mode for workload containers (POD shared, CONTAINER private)', async () => {
    const shared = await run(podConfig('pidpod', { linux: { security_context: { namespace_options: { pid: 'POD' } } } }));
    // As the kubelet sends it for every pod with hostUsers (the default): the host's user namespace.
    const own = await run(
      podConfig('pidctr', { linux: { security_context: { namespace_options: { pid: 'CONTAINER', userns_options: { mode: 'NODE' } } } } }),
    );
    expect(inspect(shared).Config.Labels['io.kubernetes.docker-cri-shim.pid-mode']).toBe('POD');
    expect(inspect(own).Config.Labels['io.kubernetes.docker-cri-shim.pid-mode']).toBe('CONTAINER');
    expect(inspect(own).HostConfig.PidMode).toBe('');
    const st = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: own, verbose: false })).status!;
    expect(st.linux?.namespaces?.options?.pid).toBe('CONTAINER');
  });

  it('applies the cgroup parent and sysctls', async () => {
    const parent = `/${CGROUP_PARENT}`;
    const id = await run(podConfig('cg', { linux: { cgroup_parent: parent, sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '0' } } }));
    const c = inspect(id);
    expect(c.HostConfig.CgroupParent).toBe(parent);
    expect(c.HostConfig.Sysctls).toEqual({ 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '0' });
    // Read the values inside the pod's namespaces.
    const pid = String(c.State.Pid);
    expect(execFileSync('nsenter', ['-t', pid, '-i', 'cat', '/proc/sys/kernel/shm_rmid_forced'], { encoding: 'utf8' }).trim()).toBe('1');
    expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`${parent}/${id}`);
  });

  it('refuses sysctls the pod cannot set, naming them, before anything is created', async () => {
    const cases: Array<[string, PodSandboxConfig['linux'], RegExp]> = [
      ['node-wide', { sysctls: { 'vm.swappiness': '10' } }, /"vm\.swappiness" is not a namespaced sysctl/],
      ['pid-max', { sysctls: { 'kernel.pid_max': '65536' } }, /"kernel\.pid_max" is not a namespaced sysctl/],
      ['hostnet', { sysctls: { 'net.core.somaxconn': '1024' }, security_context: { namespace_options: { network: 'NODE' } } }, /"net\.core\.somaxconn" is in the network namespace/],
      ['hostuts', { sysctls: { 'kernel.domainname': 'x' }, security_context: { namespace_options: { network: 'NODE' } } }, /"kernel\.domainname" is in the UTS namespace/],
      ['hostipc', { sysctls: { 'kernel.shmmax': '1000000' }, security_context: { namespace_options: { ipc: 'NODE' } } }, /"kernel\.shmmax" is in the IPC namespace/],
    ];
    const before = readdirSync(join(shim.rootDir, 'sandbox')).sort();
    for (const [tag, linux, message] of cases) {
      const config = podConfig(tag, { linux });
      const m = config.metadata!;
      const e = await expectCode(shim.client.rt('RunPodSandbox', { config }), status.INVALID_ARGUMENT);
      expect(e.details).toMatch(message);
      expect(exists(`k8s_POD_${m.name}_${m.namespace}_${m.uid}_0`)).toBe(false);
    }
    expect(readdirSync(join(shim.rootDir, 'sandbox')).sort()).toEqual(before);
    // The same sysctls are fine where the pod has the namespace: host IPC with a net.* one.
    const ok = await run(podConfig('ipc-net', { linux: { sysctls: { 'net.core.somaxconn': '1024' }, security_context: { namespace_options: { ipc: 'NODE' } } } }));
    expect(inspect(ok).HostConfig.Sysctls).toEqual({ 'net.core.somaxconn': '1024' });
  });

  it('accepts a runtime handler Docker knows, rejects an unknown one naming the available ones', async () => {
    const id = await run(podConfig('rh'), 'runc');
    expect(inspect(id).HostConfig.Runtime).toBe('runc');
    const st = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false })).status!;
    expect(st.runtime_handler).toBe('runc');
    const e = await expectCode(shim.client.rt('RunPodSandbox', { config: podConfig('rhbad'), runtime_handler: 'kata-nope' }), status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/kata-nope.*runc/);
  });

  it('clamps the pause container OOM score adjustment to what the host allows', async () => {
    const id = await run(podConfig('oom'));
    const adj = inspect(id).HostConfig.OomScoreAdj;
    const canLower = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    const hasSysResource = (BigInt(`0x${canLower}`) >> 24n) & 1n;
    expect(adj).toBe(hasSysResource ? -998 : Math.max(-998, Number(readFileSync('/proc/self/oom_score_adj', 'utf8'))));
    if (!hasSysResource) await expectLogShows(() => shim.logs(), 'clamping');
  });

  it('runs a privileged pod on any host: the pause container needs no privilege, the pod allows privileged containers', async () => {
    const id = await run(podConfig('priv', { linux: { security_context: { privileged: true } } }));
    const pause = inspect(id);
    expect(pause.State.Running).toBe(true);
    expect(pause.HostConfig.Privileged).toBe(false);
    expect(pause.Config.Labels['io.kubernetes.docker-cri-shim.privileged']).toBe('true');
    const st = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false })).status!;
    expect(st.state).toBe('SANDBOX_READY');
    // The internal label is not a CRI label.
    expect(Object.keys(st.labels)).not.toContain('io.kubernetes.docker-cri-shim.privileged');
  });

  it('writes the checkpoint before networking and removes it with the sandbox', async () => {
    const config = podConfig('ckpt');
    const id = await run(config);
    const path = join(shim.rootDir, 'sandbox', id);
    const cp = JSON.parse(readFileSync(path, 'utf8')) as { name: string; namespace: string; data: { host_network: boolean } };
    expect(cp).toMatchObject({ name: config.metadata!.name, namespace: config.metadata!.namespace, data: { host_network: false } });
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    expect(existsSync(path)).toBe(true);
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect(existsSync(path)).toBe(false);
    expect(exists(id)).toBe(false);
  });

  it('lists and streams with id, prefix, state and label selector filters', async () => {
    const group = `g-${RUN}`;
    const a = await run(podConfig('la', { labels: { group, which: 'a' } }));
    const b = await run(podConfig('lb', { labels: { group, which: 'b' } }));
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: b });
    const ids = async (filter: object) =>
      (await shim.client.rt('ListPodSandbox', { filter })).items.map((p) => p.id).sort();
    expect(await ids({ label_selector: { group } })).toEqual([a, b].sort());
    expect(await ids({ id: a })).toEqual([a]);
    expect(await ids({ id: a.slice(0, 12) })).toEqual([a]);
    expect(await ids({ label_selector: { group, which: 'b' } })).toEqual([b]);
    expect(await ids({ label_selector: { group }, state: { state: 'SANDBOX_READY' } })).toEqual([a]);
    expect(await ids({ label_selector: { group }, state: { state: 'SANDBOX_NOTREADY' } })).toEqual([b]);
    expect(await ids({ id: 'f'.repeat(64) })).toEqual([]);
    expect(await ids({ id: 'non-existent-id' })).toEqual([]);
    const all = (await shim.client.rt('ListPodSandbox', {})).items.map((p) => p.id);
    expect(all).toEqual(expect.arrayContaining([a, b]));

    const chunks = await shim.client.rtStream('StreamPodSandboxes', { filter: { label_selector: { group } } });
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.flatMap((c) => c.pod_sandboxes.map((p) => p.id)).sort()).toEqual([a, b].sort());
    expect(await shim.client.rtStream('StreamPodSandboxes', { filter: { id: 'f'.repeat(64) } })).toEqual([]);
  });

  it('stop stops and remove removes every container of the pod; both are idempotent', async () => {
    const config = podConfig('idem');
    const id = await run(config);
    const m = config.metadata!;
    const workload = docker(
      'run', '-d', '--label', `test-run=${RUN}`, '--label', 'io.kubernetes.docker.type=container',
      '--label', `io.kubernetes.sandbox.id=${id}`, '--name', `k8s_app_${m.name}_${m.namespace}_${m.uid}_0`,
      '--network', `container:${id}`, BUSYBOX, ...SLEEPER,
    );
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    expect(inspect(workload).State.Running).toBe(false);
    expect(inspect(id).State.Running).toBe(false);
    const st = (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false })).status!;
    expect(st.state).toBe('SANDBOX_NOTREADY');
    expect(st.network!.ip).toBe('');
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect(exists(workload)).toBe(false);
    expect(exists(id)).toBe(false);
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    // Unknown ids, as the kubelet and critest send them (full ids, UUIDs).
    for (const unknown of [randomBytes(32).toString('hex'), '5f0c1a52-8a57-4b8f-9d5e-0a0b0c0d0e0f']) {
      await shim.client.rt('StopPodSandbox', { pod_sandbox_id: unknown });
      await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: unknown });
    }
    await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false }), status.NOT_FOUND);
  });

  it('removes a running pod with its running containers in one call', async () => {
    const config = podConfig('rmrun');
    const id = await run(config);
    const workload = docker(
      'run', '-d', '--label', `test-run=${RUN}`, '--label', 'io.kubernetes.docker.type=container',
      '--label', `io.kubernetes.sandbox.id=${id}`, '--network', `container:${id}`, BUSYBOX, ...SLEEPER,
    );
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect(exists(workload)).toBe(false);
    expect(exists(id)).toBe(false);
  });

  it('answers bad input with InvalidArgument naming the field, unknown ids with NotFound', async () => {
    let e = await expectCode(shim.client.rt('RunPodSandbox', { config: {} }), status.INVALID_ARGUMENT);
    expect(e.details).toContain('config.metadata');
    e = await expectCode(shim.client.rt('RunPodSandbox', {}), status.INVALID_ARGUMENT);
    expect(e.details).toContain('config');
    for (const field of ['name', 'namespace', 'uid'] as const) {
      const m = meta('bad');
      e = await expectCode(shim.client.rt('RunPodSandbox', { config: { metadata: { ...m, [field]: '' } } }), status.INVALID_ARGUMENT);
      expect(e.details).toContain(`config.metadata.${field}`);
    }
    e = await expectCode(
      shim.client.rt('RunPodSandbox', { config: { metadata: { ...meta('bad'), name: 'has_underscore' } } }),
      status.INVALID_ARGUMENT,
    );
    expect(e.details).toContain('config.metadata.name');
    e = await expectCode(
      shim.client.rt('RunPodSandbox', {
        config: podConfig('userns', { linux: { security_context: { namespace_options: { userns_options: { mode: 'POD' } } } } }),
      }),
      status.INVALID_ARGUMENT,
    );
    expect(e.details).toContain('userns_options');
    e = await expectCode(
      shim.client.rt('RunPodSandbox', {
        config: podConfig('target', { linux: { security_context: { namespace_options: { pid: 'TARGET' } } } }),
      }),
      status.INVALID_ARGUMENT,
    );
    expect(e.details).toContain('namespace_options.pid');
    e = await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: 'f'.repeat(64), verbose: false }), status.NOT_FOUND);
    expect(e.details).toContain('f'.repeat(64));
    await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: '', verbose: false }), status.INVALID_ARGUMENT);
    await expectCode(shim.client.rt('StopPodSandbox', { pod_sandbox_id: '' }), status.INVALID_ARGUMENT);
  });

  it('answers NotFound for an ambiguous id prefix', async () => {
    // Two pods whose ids share a first hex digit: try a few until the prefix is shared.
    const ids: string[] = [];
    let prefix = '';
    while (!prefix && ids.length < 20) {
      ids.push(await run(podConfig('amb')));
      const firsts = new Map<string, number>();
      for (const id of ids) firsts.set(id[0], (firsts.get(id[0]) ?? 0) + 1);
      prefix = [...firsts].find(([, n]) => n > 1)?.[0] ?? '';
    }
    const e = await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: prefix, verbose: false }), status.NOT_FOUND);
    expect(e.details).toContain('ambiguous');
    await expectCode(shim.client.rt('StopPodSandbox', { pod_sandbox_id: prefix }), status.NOT_FOUND);
    for (const id of ids) await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('leaves nothing behind when the pause container fails to start', async () => {
    // Namespaced (so it passes the shim's check) but unknown to the kernel: runc fails the start.
    const config = podConfig('half', { linux: { sysctls: { 'net.ipv4.no_such_sysctl_here': '1' } } });
    const m = config.metadata!;
    const before = readdirSync(join(shim.rootDir, 'sandbox')).sort();
    // Docker answers runc's "no such file" with 400, mapped to InvalidArgument.
    const e = await expectCode(shim.client.rt('RunPodSandbox', { config }), status.INVALID_ARGUMENT);
    expect(e.details).toContain('net/ipv4/no_such_sysctl_here');
    expect(exists(`k8s_POD_${m.name}_${m.namespace}_${m.uid}_0`)).toBe(false);
    expect(readdirSync(join(shim.rootDir, 'sandbox')).sort()).toEqual(before);
  });

  it('replaces a leftover exited container of the same name; a running one is AlreadyExists', async () => {
    const config = podConfig('left');
    const m = config.metadata!;
    const name = `k8s_POD_${m.name}_${m.namespace}_${m.uid}_0`;
    const leftover = docker('create', '--label', `test-run=${RUN}`, '--label', 'io.kubernetes.docker.type=podsandbox', '--name', name, BUSYBOX, 'true');
    const id = await run(config);
    expect(id).not.toBe(leftover);
    expect(exists(leftover)).toBe(false);
    expect(inspect(name).Id).toBe(id);
    const e = await expectCode(shim.client.rt('RunPodSandbox', { config }), status.ALREADY_EXISTS);
    expect(e.details).toContain(name);
    expect(inspect(id).State.Running).toBe(true);
  });

  it('runs two concurrent RunPodSandbox calls for one pod one after the other', async () => {
    const config = podConfig('race');
    const results = await Promise.allSettled([
      shim.client.rt('RunPodSandbox', { config }),
      shim.client.rt('RunPodSandbox', { config }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    const id = ok[0].value.pod_sandbox_id;
    created.add(id);
    const failed = results.find((r) => r.status === 'rejected')!;
    expect((failed.reason as { code: number }).code).toBe(status.ALREADY_EXISTS);
    expect(inspect(id).State.Running).toBe(true);
  });

  it('pulls the pause image when Docker does not have it', async () => {
    const registry = await startRegistry();
    const image = `${registry.host}/cri-shim-pause-${RUN}:1`;
    registry.pushUnique(PAUSE, `cri-shim-pause-${RUN}:1`);
    expect(exists(image)).toBe(false);
    const other = await startShim({ args: [`--pod-infra-container-image=${image}`] });
    try {
      const { pod_sandbox_id: id } = await other.client.rt('RunPodSandbox', { config: podConfig('pull') });
      created.add(id);
      const c = inspect(id) as Inspect & { Config: { Image: string } };
      expect(c.State.Running).toBe(true);
      expect(c.Config.Image).toBe(image);
      await other.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    } finally {
      await other.stop();
      await registry.stop();
      try {
        docker('rmi', image);
      } catch {
        // the pull failed: nothing to remove
      }
    }
  });

  it('fails cleanly, naming the image, when the pause image cannot be had', async () => {
    const image = `docker-cri-shim-test/no-such-pause-${RUN}:latest`;
    const other = await startShim({ args: [`--pod-infra-container-image=${image}`] });
    try {
      const config = podConfig('noimg');
      const m = config.metadata!;
      const e = await other.client.rt('RunPodSandbox', { config }).then(
        () => undefined,
        (err: { code: number; details: string }) => err,
      );
      expect(e?.code).not.toBe(status.OK);
      expect(e?.details).toContain(image);
      expect(exists(`k8s_POD_${m.name}_${m.namespace}_${m.uid}_0`)).toBe(false);
      expect(existsSync(join(other.rootDir, 'sandbox')) ? readdirSync(join(other.rootDir, 'sandbox')) : []).toEqual([]);
    } finally {
      await other.stop();
    }
  });
});
