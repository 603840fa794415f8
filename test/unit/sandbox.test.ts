// Pure translation pieces of the pod sandbox: create options, status from a record, host
// limits, resolv.conf text, checkpoint files.
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/logger.js';
import type { PodSandboxConfig__Output } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerRecord } from '../../src/store/container-index.js';
import { capabilitiesFromMask, clampOomScoreAdj, readHostLimits } from '../../src/docker/host-limits.js';
import { formatResolvConf, hasDnsConfig } from '../../src/docker/resolv-conf.js';
import { cgroupParentFor, portBindings, sandboxAllowsPrivileged, sandboxCreateOptions } from '../../src/docker/sandbox-spec.js';
import { hostDevices } from '../../src/docker/host-limits.js';
import { dockerTimeToNs, sandboxIp, toPodSandbox, toPodSandboxStatus } from '../../src/docker/sandbox-status.js';
import { normalizeSysctlName, podSysctls, sysctlNamespace } from '../../src/docker/sysctls.js';
import { CheckpointStore } from '../../src/store/checkpoint.js';

function config(extra: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 2 },
    hostname: '',
    log_directory: '',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: null,
    windows: null,
    ...extra,
  };
}

const specOpts = { image: 'pause:1', podNetworkMode: 'bridge', runtimeHandler: '', oomScoreAdj: 0, cgroupParent: '' };

describe('sandboxCreateOptions', () => {
  it('names, labels and namespaces the pause container', () => {
    const o = sandboxCreateOptions(config({ labels: { a: '1' }, annotations: { b: '2' }, hostname: 'h' }), specOpts);
    expect(o.name).toBe('k8s_POD_web_default_u1_2');
    expect(o.Hostname).toBe('h');
    expect(o.Labels).toEqual({
      a: '1',
      'annotation.b': '2',
      'io.kubernetes.docker.type': 'podsandbox',
      'io.kubernetes.docker-cri-shim.pid-mode': 'POD',
    });
    expect(o.HostConfig).toMatchObject({ NetworkMode: 'bridge', IpcMode: 'shareable', PidMode: '' });
    expect(o.HostConfig?.Runtime).toBeUndefined();
  });

  it('uses the host namespaces for NODE and keeps no port bindings on the host network', () => {
    const o = sandboxCreateOptions(
      config({
        port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' }],
        linux: {
          cgroup_parent: '',
          sysctls: {},
          overhead: null,
          resources: null,
          security_context: {
            namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE', target_id: '', userns_options: null },
            selinux_options: null,
            run_as_user: { value: '1000' },
            run_as_group: { value: '2000' },
            readonly_rootfs: true,
            supplemental_groups: ['3000'],
            privileged: false,
            seccomp_profile_path: '',
            seccomp: { profile_type: 'Unconfined', localhost_ref: '' },
            apparmor: null,
            supplemental_groups_policy: 'Merge',
          },
        },
      }),
      { ...specOpts, runtimeHandler: 'runc' },
    );
    expect(o.HostConfig).toMatchObject({
      NetworkMode: 'host',
      PidMode: 'host',
      IpcMode: 'host',
      PortBindings: {},
      Runtime: 'runc',
      ReadonlyRootfs: true,
      GroupAdd: ['3000'],
      SecurityOpt: ['seccomp=unconfined'],
    });
    expect(o.User).toBe('1000:2000');
    expect(o.Labels?.['io.kubernetes.docker-cri-shim.runtime-handler']).toBe('runc');
    expect(o.Labels?.['io.kubernetes.docker-cri-shim.pid-mode']).toBe('NODE');
  });

  it('runs the pause container of a privileged pod unprivileged, and marks the pod as allowing privileged containers', () => {
    const sc = { ...config().linux?.security_context, privileged: true };
    const o = sandboxCreateOptions(config({ linux: { ...config().linux!, security_context: sc as never } }), specOpts);
    expect(o.HostConfig?.Privileged).toBe(false);
    expect(o.Labels?.['io.kubernetes.docker-cri-shim.privileged']).toBe('true');
    expect(sandboxAllowsPrivileged({ Config: { Labels: o.Labels }, HostConfig: o.HostConfig })).toBe(true);
    const plain = sandboxCreateOptions(config(), specOpts);
    expect(plain.Labels?.['io.kubernetes.docker-cri-shim.privileged']).toBeUndefined();
    expect(sandboxAllowsPrivileged({ Config: { Labels: plain.Labels }, HostConfig: plain.HostConfig })).toBe(false);
    // Pods an older shim ran with a privileged pause container keep allowing them.
    expect(sandboxAllowsPrivileged({ Config: { Labels: {} }, HostConfig: { Privileged: true } })).toBe(true);
  });

  it('lists the host devices a privileged container gets: char and block devices, not pts, shm or console', () => {
    const devs = hostDevices();
    expect(devs).toEqual(expect.arrayContaining(['/dev/null', '/dev/zero', '/dev/full']));
    expect(devs.some((d) => d.startsWith('/dev/pts/') || d.startsWith('/dev/shm/') || d === '/dev/console')).toBe(false);
    // Symlinks (/dev/stdin, /dev/fd) and directories are not devices.
    expect(devs).not.toContain('/dev/stdin');
    expect(hostDevices('/nonexistent-dev')).toEqual([]);
  });

  it('binds ports with a host port, exposes all, rejects impossible ports', () => {
    const pm = (protocol: 'TCP' | 'UDP' | 'SCTP', container_port: number, host_port = 0, host_ip = '') => ({ protocol, container_port, host_port, host_ip });
    const { exposed, bindings } = portBindings(
      config({ port_mappings: [pm('TCP', 80, 8080), pm('TCP', 80, 8081, '127.0.0.1'), pm('UDP', 53), pm('SCTP', 9, 9)] }),
    );
    expect(exposed).toEqual({ '80/tcp': {}, '53/udp': {}, '9/sctp': {} });
    expect(bindings).toEqual({
      '80/tcp': [
        { HostIp: '', HostPort: '8080' },
        { HostIp: '127.0.0.1', HostPort: '8081' },
      ],
      '9/sctp': [{ HostIp: '', HostPort: '9' }],
    });
    expect(() => portBindings(config({ port_mappings: [pm('TCP', 0)] }))).toThrow(/port_mappings\[0\]\.container_port/);
    expect(() => portBindings(config({ port_mappings: [pm('TCP', 1, 70000)] }))).toThrow(/host_port/);
  });

  it('converts the kubelet cgroup path for the systemd driver only', () => {
    expect(cgroupParentFor('/kubepods/burstable/pod1', 'cgroupfs')).toBe('/kubepods/burstable/pod1');
    expect(cgroupParentFor('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice', 'systemd')).toBe(
      'kubepods-burstable-pod1.slice',
    );
    expect(() => cgroupParentFor('/kubepods/pod1', 'systemd')).toThrow(/systemd slice/);
    expect(cgroupParentFor('', 'systemd')).toBe('');
  });
});

describe('sysctls', () => {
  const pod = { network: 'POD', ipc: 'POD' } as const;

  it('classifies by Kubernetes\' namespaced list, dotted or slashed', () => {
    expect(sysctlNamespace('net.ipv4.ip_forward')).toBe('net');
    expect(sysctlNamespace('net/ipv4/conf/eth0.100/forwarding')).toBe('net');
    expect(normalizeSysctlName('net/ipv4/conf/eth0.100/forwarding')).toBe('net.ipv4.conf.eth0/100.forwarding');
    for (const n of ['kernel.shm_rmid_forced', 'kernel.shmmax', 'kernel.msgmax', 'kernel.sem', 'fs.mqueue.msg_max']) expect(sysctlNamespace(n)).toBe('ipc');
    expect(sysctlNamespace('kernel.hostname')).toBe('uts');
    expect(sysctlNamespace('kernel.domainname')).toBe('uts');
    for (const n of ['vm.swappiness', 'kernel.pid_max', 'kernel.semx', 'fs.file-max', 'kernel']) expect(sysctlNamespace(n)).toBeUndefined();
  });

  it('passes namespaced sysctls of a pod with its own namespaces, in dotted form', () => {
    expect(podSysctls({ 'net/ipv4/ip_forward': '1', 'kernel.sem': '1 2 3 4', 'kernel.hostname': 'h' }, pod)).toEqual({
      'net.ipv4.ip_forward': '1',
      'kernel.sem': '1 2 3 4',
      'kernel.hostname': 'h',
    });
  });

  it('refuses node-wide sysctls and those of a namespace shared with the node, naming them', () => {
    expect(() => podSysctls({ 'vm.swappiness': '1' }, pod)).toThrow(/"vm\.swappiness" is not a namespaced sysctl/);
    expect(() => podSysctls({ 'kernel.pid_max': '1' }, pod)).toThrow(/kernel\.pid_max/);
    const hostNet = { network: 'NODE', ipc: 'POD' } as const;
    expect(() => podSysctls({ 'net.ipv4.ip_forward': '1' }, hostNet)).toThrow(/"net\.ipv4\.ip_forward" is in the network namespace/);
    expect(() => podSysctls({ 'kernel.hostname': 'h' }, hostNet)).toThrow(/"kernel\.hostname" is in the UTS namespace/);
    expect(podSysctls({ 'kernel.shmmax': '1' }, hostNet)).toEqual({ 'kernel.shmmax': '1' });
    const hostIpc = { network: 'POD', ipc: 'NODE' } as const;
    expect(() => podSysctls({ 'fs.mqueue.msg_max': '1' }, hostIpc)).toThrow(/"fs\.mqueue\.msg_max" is in the IPC namespace/);
    expect(podSysctls({ 'net.core.somaxconn': '1' }, hostIpc)).toEqual({ 'net.core.somaxconn': '1' });
  });

  it('sandboxCreateOptions refuses a bad sysctl with an InvalidArgument', () => {
    const linux = { cgroup_parent: '', sysctls: { 'vm.overcommit_memory': '1' }, overhead: null, resources: null, security_context: null };
    expect(() => sandboxCreateOptions(config({ linux }), specOpts)).toThrow(expect.objectContaining({ code: 3 }));
  });
});

describe('pause container security profiles (security-profiles.ts)', () => {
  const withSc = (security_context: Record<string, unknown>) =>
    config({ linux: { cgroup_parent: '', sysctls: {}, overhead: null, resources: null, security_context } as never });

  it('unset seccomp is Docker\'s default for the pause container; Unconfined, AppArmor and SELinux are passed', () => {
    expect(sandboxCreateOptions(config(), specOpts).HostConfig?.SecurityOpt).toEqual([]);
    expect(sandboxCreateOptions(withSc({ seccomp_profile_path: 'runtime/default' }), specOpts).HostConfig?.SecurityOpt).toEqual([]);
    expect(
      sandboxCreateOptions(
        withSc({ seccomp: { profile_type: 'Unconfined', localhost_ref: '' }, apparmor: { profile_type: 'Localhost', localhost_ref: 'localhost/p1' }, selinux_options: { user: '', role: '', type: 't', level: 'l' } }),
        specOpts,
      ).HostConfig?.SecurityOpt,
    ).toEqual(['seccomp=unconfined', 'apparmor=p1', 'label=type:t', 'label=level:l']);
  });

  it('reads a Localhost seccomp profile and names the field of a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pause-seccomp-'));
    try {
      writeFileSync(join(dir, 'p.json'), '{ "defaultAction": "SCMP_ACT_ALLOW" }');
      expect(sandboxCreateOptions(withSc({ seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'p.json') } }), specOpts).HostConfig?.SecurityOpt).toEqual([
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
      ]);
      expect(() => sandboxCreateOptions(withSc({ seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'none.json') } }), specOpts)).toThrow(
        /config\.linux\.security_context\.seccomp\.localhost_ref/,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('sandbox status from a Docker record', () => {
  const record = {
    Id: 'a'.repeat(64),
    Name: '/k8s_POD_web_default_u1_2',
    Created: '2026-11-25T13:27:02.123456789Z',
    State: { Running: true, Paused: false, Restarting: false, Pid: 42, Status: 'running' },
    Config: {
      Labels: {
        'io.kubernetes.docker.type': 'podsandbox',
        'io.kubernetes.docker-cri-shim.pid-mode': 'CONTAINER',
        'annotation.x': 'y',
        app: 'web',
      },
    },
    HostConfig: { NetworkMode: 'bridge', IpcMode: 'shareable', PidMode: '' },
    NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.9' } } },
  } as unknown as ContainerRecord;

  it('maps metadata, state, labels, time, namespaces and IP', () => {
    expect(toPodSandbox(record)).toEqual({
      id: 'a'.repeat(64),
      metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 2 },
      state: 'SANDBOX_READY',
      created_at: '1795613222123456789',
      labels: { app: 'web' },
      annotations: { x: 'y' },
      runtime_handler: '',
    });
    const st = toPodSandboxStatus(record, { ip: sandboxIp(record), additional_ips: [] })!;
    expect(st.network?.ip).toBe('172.17.0.9');
    expect(st.linux?.namespaces?.options).toMatchObject({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' });
  });

  it('reports no IP for a stopped or host-network pod, and ignores names that are not ours', () => {
    expect(sandboxIp({ ...record, State: { ...record.State, Running: false } })).toBe('');
    expect(sandboxIp({ ...record, HostConfig: { NetworkMode: 'host' } })).toBe('');
    expect(toPodSandbox({ ...record, Name: '/some_other' })).toBeUndefined();
  });

  it('converts Docker times to nanoseconds', () => {
    expect(dockerTimeToNs('1970-01-01T00:00:01.5Z')).toBe('1500000000');
    expect(dockerTimeToNs('1970-01-01T01:00:01+01:00')).toBe('1000000000');
    expect(dockerTimeToNs('0001-01-01T00:00:00Z')).toBe('0');
    expect(dockerTimeToNs(undefined)).toBe('0');
  });
});

describe('host limits', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'host-limits-'));
  const files = (capBnd: string, oom: string) => {
    writeFileSync(join(tmp, 'status'), `Name:\tnode\nCapBnd:\t${capBnd}\nCapAmb:\t0\n`);
    writeFileSync(join(tmp, 'oom'), `${oom}\n`);
    writeFileSync(join(tmp, 'last'), '40\n');
    return readHostLimits(join(tmp, 'status'), join(tmp, 'oom'), join(tmp, 'last'));
  };

  it('decodes the bounding set and floors oom_score_adj without CAP_SYS_RESOURCE', () => {
    expect(capabilitiesFromMask('5')).toEqual(['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
    const limited = files('000001fffeffffff', '-500');
    expect(limited.boundingSet).not.toContain('CAP_SYS_RESOURCE');
    expect(limited.boundingSet).toContain('CAP_SYS_ADMIN');
    expect(limited.minOomScoreAdj).toBe(-500);
    expect(limited.capLastCap).toBe(40);
    expect(readHostLimits(join(tmp, 'status'), join(tmp, 'oom'), join(tmp, 'absent')).capLastCap).toBe(-1);
    expect(files('000001ffffffffff', '0').minOomScoreAdj).toBe(-1000);
  });

  it('clamps and warns once per logger', () => {
    const warn = vi.fn();
    const logger = { warn } as unknown as Logger;
    const limits = { boundingSet: [], minOomScoreAdj: 0 };
    expect(clampOomScoreAdj(-998, logger, limits)).toBe(0);
    expect(clampOomScoreAdj(-5, logger, limits)).toBe(0);
    expect(clampOomScoreAdj(500, logger, limits)).toBe(500);
    expect(clampOomScoreAdj(5000, logger, limits)).toBe(1000);
    expect(warn).toHaveBeenCalledTimes(1);
    rmSync(tmp, { recursive: true, force: true });
  });
});

describe('resolv.conf', () => {
  it('formats servers, searches and options', () => {
    const dns = { servers: ['1.1.1.1', '8.8.8.8'], searches: ['a.local', 'b'], options: ['ndots:5'] };
    expect(formatResolvConf(dns)).toBe('nameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a.local b\noptions ndots:5\n');
    expect(hasDnsConfig({ servers: [], searches: [], options: [] })).toBe(false);
    expect(hasDnsConfig(null)).toBe(false);
  });
});

describe('CheckpointStore', () => {
  it('writes, reads, lists and removes by sandbox id, and refuses ids that are not ids', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const store = new CheckpointStore(root);
    const id = 'b'.repeat(64);
    const cp = { version: 'v1' as const, name: 'p', namespace: 'n', uid: 'u', data: { host_network: true, port_mappings: [] } };
    expect(await store.read(id)).toBeUndefined();
    await store.write(id, cp);
    expect(await store.read(id)).toEqual(cp);
    expect(await store.list()).toEqual([id]);
    expect(readdirSync(join(root, 'sandbox'))).toEqual([id]);
    await expect(store.write('../escape', cp)).rejects.toThrow(/invalid sandbox id/);
    await store.remove(id);
    await store.remove(id);
    expect(await store.list()).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  });
});
